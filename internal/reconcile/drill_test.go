package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/logstore"
	"slokeeper/internal/reconcile"
	"slokeeper/internal/sqlite"
	"slokeeper/policy"
)

// steppingClock moves a second on every reading: a drill's duration is
// what its readings span, without the wall clock.
type steppingClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

// drillWorld is a world with four sealed exec days backed up on a local
// directory target, and an executor with a scratch area that records
// the scratch directories it made.
func drillWorld(t *testing.T) (*world, *reconcile.Executor, *steppingClock, *[]string) {
	t.Helper()
	ctx := context.Background()
	start := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	w := newWorld(t, t.TempDir(), policy.Default(), start)
	for i := range 4 {
		if err := w.Day(ctx, map[string]int{"exec": 5 + i}, w.rng); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Exec.Backup(ctx, "exec", "", fmt.Sprintf("2026-12-%02d", i+1), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	scratchRoot := t.TempDir()
	var made []string
	clock := &steppingClock{now: w.Clock.Now()}
	ex := reconcile.New(reconcile.Config{Policy: w.Policy, Logs: w.Logs, Backups: w.Backups, Catalog: sqlite.NewBackupCatalog(w.DB),
		Evidence: sqlite.NewEvidenceService(w.DB), Accounts: w.Accounts, Keys: w.Keys, Vault: w.Vault, Clock: clock, Node: "drill",
		Scratch: func(ctx context.Context) (reconcile.Destination, func(), error) {
			dir, err := os.MkdirTemp(scratchRoot, "drill-")
			if err != nil {
				return reconcile.Destination{}, nil, err
			}
			made = append(made, dir)
			db, err := sqlite.Open(ctx, filepath.Join(dir, "slokeeper.db"))
			if err != nil {
				return reconcile.Destination{}, nil, err
			}
			logs, err := logstore.Open(ctx, logstore.Config{Dir: filepath.Join(dir, "logs"), Catalog: sqlite.NewLogCatalog(db), Location: w.Policy.Location()})
			if err != nil {
				db.Close()
				return reconcile.Destination{}, nil, err
			}
			return reconcile.Destination{Logs: logs, Accounts: sqlite.NewAccountService(db)}, func() { logs.Close(); db.Close(); os.RemoveAll(dir) }, nil
		}})
	return w, ex, clock, &made
}

func drillEvidence(t *testing.T, w *world) []*slokeeper.Evidence {
	t.Helper()
	ev, _, err := sqlite.NewEvidenceService(w.DB).FindEvidence(context.Background(), slokeeper.EvidenceFilter{Action: reconcile.ActionRestoreDrill})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestDrill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		w, ex, _, made := drillWorld(t)
		res, err := ex.Drill(ctx, reconcile.DrillRequest{Class: "exec", Sample: 2, Seed: 5})
		if err != nil || len(res) != 2 {
			t.Fatalf("Drill = %+v, %v; want 2 backups restored", res, err)
		}
		for _, r := range res {
			if !r.OK || r.Records < 5 || r.Duration <= 0 || r.Seed != 5 {
				t.Errorf("drill of %s: %+v, want ok with records, a duration and seed 5", r.Backup, r)
			}
		}
		ev := drillEvidence(t, w)
		if len(ev) != 2 {
			t.Fatalf("evidence = %+v, want one restore_drill per backup", ev)
		}
		for i, e := range ev {
			if e.Outcome != slokeeper.OutcomeOK || e.Clause != policy.ClauseExecLogs || !strings.Contains(e.Subject, res[i].Backup) ||
				e.Duration != res[i].Duration || !strings.Contains(e.Detail, "seed 5, 2 of 4 backups") {
				t.Errorf("evidence %+v, want ok for %s with its duration %s and the seed", e, res[i].Backup, res[i].Duration)
			}
		}
		if len(*made) != 2 {
			t.Errorf("scratch areas made: %v, want one per backup", *made)
		}
		for _, dir := range *made {
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("scratch area %s left behind (%v)", dir, err)
			}
		}
		// The same seed re-performs the same sample.
		again, err := ex.Drill(ctx, reconcile.DrillRequest{Class: "exec", Sample: 2, Seed: 5})
		if err != nil || len(again) != 2 || again[0].Backup != res[0].Backup || again[1].Backup != res[1].Backup {
			t.Errorf("seed 5 again: %+v, %v; want %s and %s again", again, err, res[0].Backup, res[1].Backup)
		}
	})
	t.Run("ErrCorrupted", func(t *testing.T) {
		t.Parallel()
		w, ex, _, _ := drillWorld(t)
		res, err := ex.Drill(ctx, reconcile.DrillRequest{Class: "exec", Sample: 4, Seed: 9})
		if err != nil || len(res) != 4 {
			t.Fatalf("Drill = %+v, %v", res, err)
		}
		bad := res[2].Backup
		man, err := ex.Manifest(ctx, bad)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := w.Target.BlobStore.Get(ctx, man.Object)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, man.ObjectSize)
		if _, err := obj.Read(body); err != nil && man.ObjectSize > 0 {
			t.Logf("read: %v", err)
		}
		obj.Close()
		body[len(body)/2] ^= 0xff // one flipped byte in the object
		if _, err := w.Target.BlobStore.Put(ctx, man.Object, strings.NewReader(string(body))); err != nil {
			t.Fatal(err)
		}
		res, err = ex.Drill(ctx, reconcile.DrillRequest{Class: "exec", Sample: 4, Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.OK == (r.Backup == bad) {
				t.Errorf("drill of %s: ok=%v (%s); want only %s failed", r.Backup, r.OK, r.Cause, bad)
			}
		}
		ev := drillEvidence(t, w)
		i := slices.IndexFunc(ev, func(e *slokeeper.Evidence) bool { return e.Outcome == slokeeper.OutcomeFailed })
		if i < 0 || !strings.Contains(ev[i].Subject, bad) || ev[i].Detail == "" {
			t.Errorf("evidence = %+v, want a failed restore_drill naming %s with the cause", ev, bad)
		}
	})
	t.Run("ErrNoBackups", func(t *testing.T) {
		t.Parallel()
		w, ex, _, _ := drillWorld(t)
		res, err := ex.Drill(ctx, reconcile.DrillRequest{Class: "system"})
		if err != nil || len(res) != 1 || res[0].OK || !strings.Contains(res[0].Cause, "no backup") {
			t.Fatalf("Drill of a class without backups = %+v, %v; want one failed result saying why", res, err)
		}
		ev := drillEvidence(t, w)
		if len(ev) != 1 || ev[0].Outcome != slokeeper.OutcomeFailed || ev[0].Clause != policy.ClauseSystemLogs || !strings.Contains(ev[0].Detail, "could not run") {
			t.Errorf("evidence = %+v, want one failed restore_drill for system logs", ev)
		}
		if _, err := ex.Drill(ctx, reconcile.DrillRequest{Class: "audio"}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
			t.Errorf("Drill of class audio = %v, want EINVALID", err)
		}
		if _, err := ex.Drill(ctx, reconcile.DrillRequest{Sample: 101}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
			t.Errorf("Drill of 101 = %v, want EINVALID", err)
		}
	})
	// A pass drills what is due, on the injected clock: every class on the
	// first pass, none on the next, again a month later.
	t.Run("Cadence", func(t *testing.T) {
		t.Parallel()
		w, ex, clock, _ := drillWorld(t)
		drills := func(res []reconcile.Result) int {
			n := 0
			for _, r := range res {
				if r.Kind == reconcile.ActionRestoreDrill {
					n++
				}
			}
			return n
		}
		res, _ := ex.Run(ctx)
		// exec: 3 of 4 backups; system and user: none, a failed drill each.
		if n := drills(res); n != 5 {
			t.Fatalf("first pass drilled %d: %+v; want 3 exec backups and 2 classes without backups", n, res)
		}
		if res, _ = ex.Run(ctx); drills(res) != 0 {
			t.Errorf("second pass drilled again: %+v", res)
		}
		clock.mu.Lock()
		clock.now = clock.now.AddDate(0, 1, 1)
		clock.mu.Unlock()
		if res, _ = ex.Run(ctx); drills(res) != 5 {
			t.Errorf("a month later: %d drills, want 5", drills(res))
		}
		if n := len(drillEvidence(t, w)); n != 10 {
			t.Errorf("%d restore_drill evidence, want 10", n)
		}
	})
}
