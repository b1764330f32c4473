package reconcile_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/postgres"
	"slokeeper/internal/reconcile"
	"slokeeper/internal/storetest"
	"slokeeper/lifecycle"
	"slokeeper/policy"

	"github.com/jackc/pgx/v5"
)

// clusterNode is an executor of one node of a cluster on one PostgreSQL
// schema: the catalog, the evidence and the pass lock there, the log
// store and the backup target shared (w's).
func clusterNode(w *world, db *postgres.DB, node string, wait time.Duration) *reconcile.Executor {
	return reconcile.New(reconcile.Config{Policy: w.Policy, Logs: w.Logs, Backups: w.Backups, Catalog: postgres.NewBackupCatalog(db),
		Evidence: postgres.NewEvidenceService(db), Clock: w.Clock, Node: node, Lock: postgres.NewPassLock(db), LockWait: wait})
}

// twoSealedDays: two days of both classes sealed, four backups due.
func twoSealedDays(t *testing.T) (*world, *postgres.DB, string) {
	t.Helper()
	w := newWorld(t, t.TempDir(), policy.Default(), time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	w.day()
	w.day()
	dsn := storetest.PostgresDSN(t)
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return w, db, dsn
}

func count(res []reconcile.Result, kind string) int {
	n := 0
	for _, r := range res {
		if r.Kind == kind && r.Err == nil {
			n++
		}
	}
	return n
}

func liveBackups(t *testing.T, db *postgres.DB) int {
	t.Helper()
	recs, err := postgres.NewBackupCatalog(db).FindBackups(context.Background(), slokeeper.BackupFilter{SkipManifest: true})
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// TestPassLockOnePassForTheCluster: while node A's pass runs, node B's
// reports A as the holder and does nothing; two passes started together
// with time to wait make the backups once, not twice.
func TestPassLockOnePassForTheCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, db, _ := twoSealedDays(t)
	a, b := clusterNode(w, db, "node-a", 0), clusterNode(w, db, "node-b", 0)
	inside, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a.Progress = func(r reconcile.Result) {
		if r.Kind == lifecycle.Backup {
			once.Do(func() { close(inside); <-release })
		}
	}
	type ran struct {
		res []reconcile.Result
		err error
	}
	doneA := make(chan ran, 1)
	go func() { res, err := a.Run(ctx); doneA <- ran{res, err} }()
	<-inside
	res, err := b.Run(ctx)
	var busy *slokeeper.PassBusyError
	if !errors.As(err, &busy) || busy.Holder.Node != "node-a" || slokeeper.ErrorCode(err) != slokeeper.ECONFLICT || len(res) != 0 {
		t.Errorf("node B beside A's pass: %d results, %v; want none and A named as the holder", len(res), err)
	}
	if err != nil && (!strings.Contains(err.Error(), "running on node node-a") || !strings.Contains(busy.Text("ja"), "ノード node-a で実行中")) {
		t.Errorf("busy message: %q / %q", err.Error(), busy.Text("ja"))
	}
	close(release)
	ra := <-doneA
	if ra.err != nil || count(ra.res, lifecycle.Backup) != 4 {
		t.Fatalf("node A's pass: %d backups, %v; want 4", count(ra.res, lifecycle.Backup), ra.err)
	}
	// A released the lock and cleared its record: B runs, with nothing left.
	res, err = b.Run(ctx)
	if err != nil || count(res, lifecycle.Backup) != 0 || count(res, reconcile.PassLock) != 0 {
		t.Errorf("node B after A: %+v, %v", res, err)
	}

	// Two more days; both nodes start at once, each willing to wait.
	w.day()
	a, b = clusterNode(w, db, "node-a", time.Minute), clusterNode(w, db, "node-b", time.Minute)
	var wg sync.WaitGroup
	results := make([][]reconcile.Result, 2)
	errs := make([]error, 2)
	for i, e := range []*reconcile.Executor{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); results[i], errs[i] = e.Run(ctx) }()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if n := count(results[0], lifecycle.Backup) + count(results[1], lifecycle.Backup); n != 2 {
		t.Errorf("two passes started together made %d backups of the 2 due", n)
	}
	if n := liveBackups(t, db); n != 6 {
		t.Errorf("catalog holds %d backups, want 6 (one per sealed day and class)", n)
	}
}

// TestPassLockLostStopsThePass: the lock's database session is killed
// during a pass's first backup: the pass does no further action and says
// why; the next pass, on another node, takes over (naming the stale
// holder) and does the rest.
func TestPassLockLostStopsThePass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, db, dsn := twoSealedDays(t)
	a := clusterNode(w, db, "node-a", 0)
	killed := 0
	a.Progress = func(r reconcile.Result) {
		if r.Kind != lifecycle.Backup || killed > 0 {
			return
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(backend_pid) FROM lifecycle_pass) t`).Scan(&killed); err != nil || killed != 1 {
			t.Errorf("terminate the lock's backend: %d, %v", killed, err)
		}
	}
	res, err := a.Run(ctx)
	if slokeeper.ErrorCode(err) != slokeeper.EUNAVAILABLE || !strings.Contains(slokeeper.ErrorMessage(err), "stopped before its next action") {
		t.Errorf("pass whose lock was lost: %v", err)
	}
	if n := count(res, lifecycle.Backup); n != 1 || liveBackups(t, db) != 1 {
		t.Errorf("after the lock was lost: %d backups reported, %d cataloged; want 1 (none after the loss)", n, liveBackups(t, db))
	}
	b := clusterNode(w, db, "node-b", 0)
	res, err = b.Run(ctx)
	if err != nil || count(res, lifecycle.Backup) != 3 || count(res, reconcile.PassLock) != 1 {
		t.Fatalf("node B's pass after A lost its lock: %+v, %v", res, err)
	}
	for _, r := range res {
		if r.Kind == reconcile.PassLock && (!strings.Contains(r.Reason.EN, "node-a") || !strings.Contains(r.Reason.JA, "node-a")) {
			t.Errorf("take-over says %+v", r.Reason)
		}
	}
}

// hangingTarget kills the pass lock's session at the first write, then
// hangs the write until its context ends: an action in flight when the
// lock is lost.
type hangingTarget struct {
	slokeeper.BlobStore
	kill func()
	once sync.Once
}

func (h *hangingTarget) Put(ctx context.Context, key string, r io.Reader) (slokeeper.BlobInfo, error) {
	h.once.Do(h.kill)
	<-ctx.Done()
	return slokeeper.BlobInfo{}, context.Cause(ctx)
}

// TestPassLockLostCancelsTheAction: the lock's session is killed while a
// backup hangs on the target; the watcher cancels that backup (well before
// the action's own 5-minute timeout) and the pass stops.
func TestPassLockLostCancelsTheAction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, db, dsn := twoSealedDays(t)
	target := &hangingTarget{BlobStore: w.Target, kill: func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(backend_pid) FROM lifecycle_pass`); err != nil {
			t.Error(err)
		}
	}}
	a := reconcile.New(reconcile.Config{Policy: w.Policy, Logs: w.Logs, Catalog: postgres.NewBackupCatalog(db),
		Backups: backup.New(backup.Config{Target: target, Logs: w.Logs, Sealer: w.Keys, Accounts: w.Accounts, Crypto: w.Keys,
			Expiry: reconcile.Expiry(w.Policy), Clock: w.Clock}),
		Evidence: postgres.NewEvidenceService(db), Clock: w.Clock, Node: "node-a", Lock: postgres.NewPassLock(db), LockCheck: 20 * time.Millisecond})
	res, err := runBounded(t, a, time.Minute)
	if slokeeper.ErrorCode(err) != slokeeper.EUNAVAILABLE || !strings.Contains(slokeeper.ErrorMessage(err), "stopped before its next action") {
		t.Errorf("pass whose lock was lost mid-action: %v", err)
	}
	tried := 0
	for _, r := range res {
		if r.Kind == lifecycle.Backup {
			tried++
			if r.Err == nil || !strings.Contains(r.Detail, "lock is lost") {
				t.Errorf("the backup in flight: %+v", r)
			}
		}
	}
	if tried != 1 || liveBackups(t, db) != 0 {
		t.Errorf("%d backups tried, %d cataloged; want the one in flight cancelled and no other", tried, liveBackups(t, db))
	}
}
