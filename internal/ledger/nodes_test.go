package ledger_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/ledger"
	"slokeeper/internal/postgres"
	"slokeeper/internal/storetest"
)

// TestLedgerAcrossNodes: nodes on one PostgreSQL schema, each with its
// data directory and so its own signing key, append and checkpoint in
// turns. Every node's verify trusts every registered node's checkpoints,
// those a node signed before it registered (an existing deployment)
// included; a checkpoint signed by a key nobody registered is forged.
func TestLedgerAcrossNodes(t *testing.T) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := postgres.NewAuditStore(db)
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := slokeeper.ClockFunc(func() time.Time { mu.Lock(); defer mu.Unlock(); at = at.Add(time.Second); return at })
	dirs := map[string]string{"a": t.TempDir(), "b": t.TempDir()}
	open := func(node string) *ledger.Ledger {
		t.Helper()
		name := node
		if node == "b-before-upgrade" {
			name, node = "b", ""
		}
		l, err := ledger.Open(ledger.Config{Store: store, Dir: filepath.Join(dirs[name], "audit"), Clock: clock, Node: node})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	record := func(l *ledger.Ledger, n int) {
		t.Helper()
		for i := range n {
			if _, err := l.Record(ctx, "operator:alice", "data.read", fmt.Sprintf("account:acct-%d", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// b ran before nodes registered their keys: its first checkpoint is
	// signed by a key the ledger does not know yet.
	oldB := open("b-before-upgrade")
	record(oldB, 3)
	a := open("a")
	record(a, 4)
	if rep, err := a.Verify(ctx); err != nil || rep.OK() || !strings.Contains(rep.Problems[0].Message, "does not verify") {
		t.Fatalf("a's verify before b registered = %+v, %v; want b's checkpoint reported forged", rep, err)
	}
	b := open("b") // the upgrade: b registers its existing key on start
	record(b, 2)
	record(a, 5)
	record(b, 1)
	for name, l := range map[string]*ledger.Ledger{"a": a, "b": b} {
		rep, err := l.Verify(ctx)
		if err != nil || !rep.OK() || rep.Checkpoints != 5 || len(rep.Keys) != 2 {
			t.Fatalf("verify on %s = %+v, %v; want clean, 5 checkpoints, 2 keys", name, rep, err)
		}
	}

	// A third directory's key signs a checkpoint without registering.
	dirs["x"] = t.TempDir()
	x, err := ledger.Open(ledger.Config{Store: store, Dir: filepath.Join(dirs["x"], "audit"), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	record(x, 2)
	for name, l := range map[string]*ledger.Ledger{"a": a, "b": b} {
		rep, err := l.Verify(ctx)
		if err != nil || rep.OK() || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Message, "does not verify") || !strings.Contains(rep.Problems[0].Message, "forged") {
			t.Errorf("verify on %s with an unregistered key's checkpoint = %+v, %v; want it reported forged", name, rep, err)
		}
	}
}
