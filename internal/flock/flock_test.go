package flock_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"slokeeper/internal/flock"
)

// TestWait: a second holder waits until the first lets go, and gives up
// with the context's error if it never does.
func TestWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := flock.Wait(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := flock.Wait(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second lock while the first is held = %v, want the deadline", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := flock.Wait(context.Background(), path)
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("the lock once released: %v", err)
	}
}
