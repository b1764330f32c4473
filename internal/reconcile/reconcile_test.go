package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/blob"
	"slokeeper/internal/keys"
	"slokeeper/internal/logstore"
	"slokeeper/internal/reconcile"
	"slokeeper/internal/sqlite"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// flaky is a backup target that fails every operation while down, and,
// armed with n > 0, fails the n-th operation from then on: a crash of the
// process at that point, as far as the target is concerned.
type flaky struct {
	slokeeper.BlobStore
	down atomic.Bool
	n    atomic.Int64
}

var errInjected = errors.New("injected failure")

func (f *flaky) fail() bool {
	if f.down.Load() {
		return true
	}
	if f.n.Load() > 0 && f.n.Add(-1) == 0 {
		f.down.Store(true) // the "process" is gone: nothing after this reaches the target
		return true
	}
	return false
}
func (f *flaky) Put(ctx context.Context, key string, r io.Reader) (slokeeper.BlobInfo, error) {
	if f.fail() {
		io.Copy(io.Discard, r)
		return slokeeper.BlobInfo{}, errInjected
	}
	return f.BlobStore.Put(ctx, key, r)
}
func (f *flaky) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if f.fail() {
		return nil, errInjected
	}
	return f.BlobStore.Get(ctx, key)
}
func (f *flaky) Delete(ctx context.Context, key string) error {
	if f.fail() {
		return errInjected
	}
	return f.BlobStore.Delete(ctx, key)
}

type world struct {
	t       *testing.T
	pol     *policy.Policy
	clock   *clock
	logs    *logstore.Store
	catalog slokeeper.BackupCatalog
	target  *flaky
	exec    *reconcile.Executor
	db      *sqlite.DB
	// generated: every day partition ever written, with its record count.
	generated map[[2]string]int64
	closers   []func() error
}

// newWorld opens a world in dir (empty, or one a closed world left).
func newWorld(t *testing.T, dir string, pol *policy.Policy, start time.Time) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, pol: pol, clock: &clock{now: start}, generated: map[[2]string]int64{}}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	w.closers = append(w.closers, db.Close)
	w.db = db
	w.logs, err = logstore.Open(ctx, logstore.Config{Dir: filepath.Join(dir, "logs"), Catalog: sqlite.NewLogCatalog(db), Location: w.pol.Location(), Clock: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	w.closers = append(w.closers, w.logs.Close)
	ks, err := sqlite.OpenKeyStore(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	w.closers = append(w.closers, ks.Close)
	km, err := keys.Open(filepath.Join(dir, "master.key"), ks)
	if err != nil {
		t.Fatal(err)
	}
	d, err := blob.OpenDir(filepath.Join(dir, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	w.target = &flaky{BlobStore: d}
	w.catalog = sqlite.NewBackupCatalog(db)
	bk := backup.New(backup.Config{Target: w.target, Logs: w.logs, Sealer: km, Clock: w.clock})
	w.exec = reconcile.New(reconcile.Config{Policy: w.pol, Logs: w.logs, Backups: bk, Catalog: w.catalog,
		Evidence: sqlite.NewEvidenceService(db), Clock: w.clock, Node: "test"})
	t.Cleanup(w.close)
	return w
}

// close closes the world's stores, the log store first.
func (w *world) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
	w.closers = nil
}

// day writes a day's traffic, then moves to 03:00 the next day and seals.
func (w *world) day() {
	w.t.Helper()
	ctx := context.Background()
	loc := w.pol.Location()
	for _, class := range []string{"system", "exec"} {
		recs := make([]slokeeper.LogRecord, 20)
		for i := range recs {
			recs[i] = slokeeper.LogRecord{SourceKind: "device", SourceID: "d", Level: "info", Message: fmt.Sprintf("%s %d", class, i)}
		}
		if _, err := w.logs.AppendLogs(ctx, class, recs, ""); err != nil {
			w.t.Fatal(err)
		}
		w.generated[[2]string{class, w.clock.Now().In(loc).Format(time.DateOnly)}] += 20
	}
	w.clock.Add(24 * time.Hour)
	if _, err := w.logs.SealDue(ctx); err != nil {
		w.t.Fatal(err)
	}
}

// check asserts the data clauses at now: no original erased before its
// time or kept past its ceiling and tolerance, no backup kept past its
// ceiling, and every generated day still restorable while its floor runs.
// With late, passes were skipped, and only the erasures' lateness is not
// checked.
func (w *world) check(late bool) {
	w.t.Helper()
	ctx := context.Background()
	now, loc := w.clock.Now(), w.pol.Location()
	inv, err := w.exec.Inventory(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	present := map[[2]string]bool{}
	for _, p := range inv.Partitions {
		present[[2]string{p.Class, p.Day}] = true
	}
	verified := map[[2]string]bool{}
	for _, b := range inv.Backups {
		if b.Verified {
			verified[[2]string{b.Class, b.Day}] = true
		}
		c, ceiling := w.backupCeiling(b)
		if !late && now.After(c.Tolerance.AddTo(ceiling)) {
			w.t.Fatalf("%s: backup %s of %s/%s kept past its ceiling %s", now.In(loc), b.ID, b.Class, b.Day, ceiling.In(loc))
		}
	}
	for k := range w.generated {
		c := class(w.pol, k[0])
		first, _ := time.ParseInLocation(time.DateOnly, k[1], loc)
		next := first.AddDate(0, 0, 1)
		ceiling := c.Original.Erase.After.AddTo(next.Add(-time.Nanosecond)) // the day's last record's
		switch {
		case !late && present[k] && now.After(c.Tolerance.AddTo(ceiling)):
			w.t.Fatalf("%s: original %s/%s kept past its ceiling", now.In(loc), k[0], k[1])
		case !present[k] && now.Before(ceiling):
			w.t.Fatalf("%s: original %s/%s erased early (due %s)", now.In(loc), k[0], k[1], ceiling.In(loc))
		case !present[k] && !verified[k]:
			// Gone everywhere: only allowed once the backup floor ran out too.
			floor := c.Backups.Keep.After.AddTo(maxTime(next, policy.BackupCreated(c.Backup, first, loc)))
			if now.Before(floor) {
				w.t.Fatalf("%s: %s/%s lost: no original and no verified backup, floor runs to %s", now.In(loc), k[0], k[1], floor.In(loc))
			}
		}
	}
}

// backupCeiling returns when a backup must be gone: per record, for the
// day's last record.
func (w *world) backupCeiling(b lifecycle.BackupCopy) (*policy.Class, time.Time) {
	c, loc := class(w.pol, b.Class), w.pol.Location()
	first, _ := time.ParseInLocation(time.DateOnly, b.Day, loc)
	if c.Backups.Erase.From == policy.FromGeneration {
		return c, c.Backups.Erase.After.AddTo(first.AddDate(0, 0, 1).Add(-time.Nanosecond))
	}
	return c, c.Backups.Erase.After.AddTo(maxTime(b.Created, policy.BackupCreated(c.Backup, first, loc)))
}

func (w *world) stillDue(b lifecycle.BackupCopy) bool {
	_, ceiling := w.backupCeiling(b)
	return w.clock.Now().Before(ceiling)
}

// checkObjects asserts that every verified backup inside its ceiling is
// really on the target.
func (w *world) checkObjects() {
	w.t.Helper()
	ctx := context.Background()
	inv, err := w.exec.Inventory(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, b := range inv.Backups {
		if !b.Verified {
			continue
		}
		man, err := w.exec.Manifest(ctx, b.ID)
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := w.target.BlobStore.Stat(ctx, man.Object); err != nil && w.stillDue(b) {
			w.t.Fatalf("%s: verified backup %s of %s/%s: %v", w.clock.Now(), b.ID, b.Class, b.Day, err)
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func class(p *policy.Policy, name string) *policy.Class {
	for _, nc := range p.Data.Classes() {
		if strings.HasPrefix(nc.Clause, "data."+name) {
			return nc.Class
		}
	}
	panic("no class " + name)
}

// TestLifecycleOverMonths runs the executor daily for 13 months on the
// default policy and checks every log clause after every pass.
func TestLifecycleOverMonths(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("long")
	}
	ctx := context.Background()
	w := newWorld(t, t.TempDir(), policy.Default(), time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)) // 2026-12-01 03:00 JST
	counts := map[string]int{}
	for range 400 {
		w.day()
		res, err := w.exec.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			counts[r.Kind]++
			if r.Outcome == slokeeper.OutcomeLate {
				t.Errorf("%s late: %+v", r.Kind, r.Action)
			}
		}
		w.check(false)
		if w.clock.Now().In(w.pol.Location()).Day() == 1 {
			w.checkObjects()
		}
	}
	// 400 days: every day of both classes backed up; exec originals erased
	// from the first month on, system ones after a year; the first exec
	// month's backups erased a year after the set was made.
	if counts[lifecycle.Backup] != 800 || counts[lifecycle.Verify] != 0 {
		t.Errorf("backups %d (want 800), separate verifications %d", counts[lifecycle.Backup], counts[lifecycle.Verify])
	}
	if counts[lifecycle.EraseOriginal] < 400-32+400-366-2 || counts[lifecycle.EraseBackup] == 0 || counts[lifecycle.Held] != 0 {
		t.Errorf("actions: %v", counts)
	}
	ev, _, err := sqlite.NewEvidenceService(w.db).FindEvidence(ctx, slokeeper.EvidenceFilter{Clause: policy.ClauseExecLogs, Action: "erase_backup"})
	if err != nil || len(ev) == 0 || ev[0].Deadline.IsZero() {
		t.Errorf("erase_backup evidence: %v %v", ev, err)
	}
}

// TestLifecycleCrashes cuts the target off at every operation of a pass in
// turn (the process dying there), then runs a clean pass: afterwards
// nothing is lost, nothing was erased early, and the work is complete.
func TestLifecycleCrashes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Execution-environment backups kept a month, not a year, so that
	// their erasure comes due within the test.
	src := strings.Replace(string(policy.DefaultYAML()), "keep: 1y from backup\n      erase: 1y from backup", "keep: 1mo from backup\n      erase: 1mo from backup", 1)
	pol, _, err := policy.Load("short.yaml", []byte(src))
	if err != nil || !strings.Contains(src, "erase: 1mo from backup") {
		t.Fatal("policy edit", err)
	}
	// The template: two months of daily passes, then four days without,
	// so that backups, verifications and erasures of originals and of
	// backups are all due at once.
	template := t.TempDir()
	w := newWorld(t, template, pol, time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	for i := range 64 {
		w.day()
		if i < 60 {
			if _, err := w.exec.Run(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	start, generated := w.clock.Now(), w.generated
	w.close()
	for n := int64(1); ; n++ {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(template)); err != nil {
			t.Fatal(err)
		}
		w := newWorld(t, dir, pol, start)
		w.generated = generated
		w.target.n.Store(n)
		res, err := w.exec.Run(ctx)
		crashed := w.target.down.Load()
		w.check(true)
		w.checkObjects()
		w.target.down.Store(false)
		w.target.n.Store(0)
		if _, err := w.exec.Run(ctx); err != nil {
			t.Fatalf("crash at operation %d: the next pass failed: %v", n, err)
		}
		w.check(true)
		w.checkObjects()
		actions, err2 := w.exec.Plan(ctx, w.clock.Now())
		if err2 != nil || len(actions) != 0 {
			t.Fatalf("crash at operation %d: work left after the next pass: %v %v", n, actions, err2)
		}
		w.close()
		if !crashed {
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for _, r := range res {
				kinds[r.Kind]++
			}
			t.Logf("%d crash points in a pass of %v", n-1, kinds)
			if kinds[lifecycle.Backup] < 8 || kinds[lifecycle.EraseOriginal] < 4 || kinds[lifecycle.EraseBackup] < 4 {
				t.Errorf("the pass did too little to test: %v", kinds)
			}
			return
		}
	}
}

// TestInterlockHoldsWhileBackupsFail takes the backup target away for 40
// days: every backup fails, originals past their ceiling are held, not
// erased, and each hold is evidence. When the target returns, one pass
// backs the days up and erases them, reported late.
func TestInterlockHoldsWhileBackupsFail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, t.TempDir(), policy.Default(), time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	w.target.down.Store(true)
	held := 0
	for range 40 {
		w.day()
		res, err := w.exec.Run(ctx)
		if err == nil {
			t.Fatal("a pass with the target down reported no failure")
		}
		for _, r := range res {
			if r.Kind == lifecycle.Held {
				held++
			}
		}
		w.check(true)
	}
	inv, _ := w.exec.Inventory(ctx)
	if len(inv.Partitions) != 80 || held == 0 {
		t.Fatalf("%d partitions (want all 80), %d holds", len(inv.Partitions), held)
	}
	ev, _, _ := sqlite.NewEvidenceService(w.db).FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "erase_original", Outcome: slokeeper.OutcomeLate})
	if len(ev) == 0 || !strings.Contains(ev[0].Detail, "interlock") {
		t.Errorf("holds are not evidence: %v", ev)
	}
	w.target.down.Store(false)
	res, err := w.exec.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	late := 0
	for _, r := range res {
		if r.Kind == lifecycle.EraseOriginal && r.Outcome == slokeeper.OutcomeLate {
			late++
		}
	}
	if late == 0 {
		t.Errorf("the held erasures were not done late: %+v", res)
	}
	w.check(true)
	w.checkObjects()
	if actions, _ := w.exec.Plan(ctx, w.clock.Now()); len(actions) != 0 {
		t.Errorf("work left: %v", actions)
	}
}
