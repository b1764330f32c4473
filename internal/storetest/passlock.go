package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"slokeeper"
)

// RunPassLock checks the lifecycle-pass lock of two nodes (a and b) on one
// database: one holder at a time, the other told who holds it, a bounded
// wait that ends when the holder releases, and the holder's record
// cleared on release.
func RunPassLock(t *testing.T, a, b slokeeper.PassLock) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 4, 0, 20, 0, 0, time.UTC)
	la, err := a.LockPass(ctx, "node-a", t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := la.Check(ctx); err != nil || la.Stale() != (slokeeper.PassHolder{}) {
		t.Errorf("held lock: check %v, stale %+v", err, la.Stale())
	}
	_, err = b.LockPass(ctx, "node-b", t0.Add(time.Minute), 0)
	var busy *slokeeper.PassBusyError
	if !errors.As(err, &busy) || busy.Holder.Node != "node-a" || !busy.Holder.Started.Equal(t0) || slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Fatalf("second node while the first holds it = %v", err)
	}
	// A bounded wait ends when the holder releases.
	type got struct {
		l   slokeeper.PassLease
		err error
	}
	waited := make(chan got, 1)
	go func() {
		l, err := b.LockPass(ctx, "node-b", t0.Add(time.Minute), 30*time.Second)
		waited <- got{l, err}
	}()
	la.Release()
	g := <-waited
	lb, err := g.l, g.err
	if err != nil {
		t.Fatalf("waiting for the holder to release: %v", err)
	}
	if lb.Stale() != (slokeeper.PassHolder{}) {
		t.Errorf("a released lock left its holder recorded: %+v", lb.Stale())
	}
	lb.Release()
	// Released, either takes it at once.
	la, err = a.LockPass(ctx, "node-a", t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	la.Release()
}
