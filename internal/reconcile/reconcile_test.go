package reconcile_test

import (
	"context"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/logstore"
	"slokeeper/internal/reconcile"
	"slokeeper/internal/simulate"
	"slokeeper/internal/sqlite"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// world is a simulate.World driven by a test.
type world struct {
	*simulate.World
	t   *testing.T
	rng *rand.Rand
}

func newWorld(t *testing.T, dir string, pol *policy.Policy, start time.Time) *world {
	t.Helper()
	w, err := simulate.Open(context.Background(), dir, pol, start)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return &world{World: w, t: t, rng: rand.New(rand.NewPCG(1, 2))}
}

// day writes 20 records of each class, then moves to 03:00 the next day and seals.
func (w *world) day() {
	w.t.Helper()
	if err := w.Day(context.Background(), map[string]int{"system": 20, "exec": 20}, w.rng); err != nil {
		w.t.Fatal(err)
	}
}

// check asserts the log clauses (simulate.World.Check); with late, passes
// were skipped and only the erasures' lateness is not checked.
func (w *world) check(late bool) {
	w.t.Helper()
	if err := w.Check(context.Background(), late, false); err != nil {
		w.t.Fatal(err)
	}
}

// checkObjects asserts that every verified backup inside its ceiling is on the target.
func (w *world) checkObjects() {
	w.t.Helper()
	if err := w.Check(context.Background(), true, true); err != nil {
		w.t.Fatal(err)
	}
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
		res, err := w.Exec.Run(ctx)
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
		if w.Clock.Now().In(w.Policy.Location()).Day() == 1 {
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
	ev, _, err := sqlite.NewEvidenceService(w.DB).FindEvidence(ctx, slokeeper.EvidenceFilter{Clause: policy.ClauseExecLogs, Action: "erase_backup"})
	if err != nil || len(ev) == 0 || ev[0].Deadline.IsZero() {
		t.Errorf("erase_backup evidence: %v %v", ev, err)
	}
	// It says what happened: the key destroyed, the object and manifest deleted.
	for _, e := range ev {
		if e.Detail != "key destroyed; 2 versions deleted from the target" {
			t.Errorf("erase_backup evidence of %s says %q", e.Subject, e.Detail)
			break
		}
	}
}

// TestLifecycleCrashes cuts the target off at operations of a pass (the
// process dying there), then runs a clean pass: afterwards nothing is
// lost, nothing was erased early, and the work is complete.
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
	// Customers too: three accounts, their daily snapshots, and one
	// deletion whose window ends just as the pass runs.
	template := t.TempDir()
	w := newWorld(t, template, pol, time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	w.People.Live = 3
	var deleted string
	for i := range 64 {
		if i == 57 {
			deleted = w.People.Active()[0]
			if err := w.RequestDeletion(ctx, deleted, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		w.day()
		if i < 60 {
			if _, err := w.Exec.Run(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	start, generated, people := w.Clock.Now(), w.Generated, w.People
	w.Close()

	// pass copies the template, cuts the target off at its n-th operation
	// (0: never), runs a pass, and checks; then, with the target back, a
	// clean pass must leave nothing to do.
	pass := func(n int64) (ops int64, res []reconcile.Result) {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(template)); err != nil {
			t.Fatal(err)
		}
		w := newWorld(t, dir, pol, start)
		defer w.Close()
		w.Generated, w.People = generated, people
		w.Target.N.Store(n)
		res, err := w.Exec.Run(ctx)
		if n == 0 && err != nil {
			t.Fatal(err)
		}
		ops = w.Target.Ops.Load()
		w.check(true)
		w.checkObjects()
		// The next process: the target back, no memory of the failures.
		w.Close()
		w = newWorld(t, dir, pol, start)
		defer w.Close()
		w.Generated, w.People = generated, people
		if _, err := w.Exec.Run(ctx); err != nil {
			t.Fatalf("crash at operation %d: the next pass failed: %v", n, err)
		}
		w.check(true)
		w.checkObjects()
		if actions, err := w.Exec.Plan(ctx, w.Clock.Now()); err != nil || len(actions) != 0 {
			t.Fatalf("crash at operation %d: work left after the next pass: %v %v", n, actions, err)
		}
		if as, _ := w.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{ID: deleted}); len(as) != 1 || as[0].Status != slokeeper.AccountDeleted {
			t.Errorf("crash at operation %d: account %s after the passes: %+v", n, deleted, as)
		}
		return ops, res
	}
	total, res := pass(0)
	kinds := map[string]int{}
	for _, r := range res {
		kinds[r.Kind]++
	}
	if kinds[lifecycle.Backup] < 8 || kinds[lifecycle.EraseOriginal] < 4 || kinds[lifecycle.EraseBackup] < 4 ||
		kinds[lifecycle.EraseAccount] != 1 || kinds[lifecycle.DestroyKey] != 1 {
		t.Errorf("the pass did too little to test: %v", kinds)
	}
	// Every crash point would take minutes under the race detector: a
	// random sample of them, different each run (the seed is logged; set
	// SLOKEEPER_CRASH_SEED to repeat one), and the first and the last.
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("SLOKEEPER_CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	points := map[int64]bool{1: true, total: true}
	rng := rand.New(rand.NewPCG(seed, 0))
	for len(points) < min(40, int(total)) {
		points[1+rng.Int64N(total)] = true
	}
	t.Logf("%d operations in a pass of %v; crashing at %d of them (SLOKEEPER_CRASH_SEED=%d)", total, kinds, len(points), seed)
	for _, n := range slices.Sorted(maps.Keys(points)) {
		pass(n)
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
	w.Target.Down.Store(true)
	held := 0
	for range 40 {
		w.day()
		res, err := w.Exec.Run(ctx)
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
	inv, _ := w.Exec.Inventory(ctx)
	if len(inv.Partitions) != 80 || held == 0 {
		t.Fatalf("%d partitions (want all 80), %d holds", len(inv.Partitions), held)
	}
	ev, _, _ := sqlite.NewEvidenceService(w.DB).FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "erase_original", Outcome: slokeeper.OutcomeLate})
	if len(ev) == 0 || !strings.Contains(ev[0].Detail, "interlock") {
		t.Errorf("holds are not evidence: %v", ev)
	}
	w.Target.Down.Store(false)
	w.Clock.Add(time.Hour) // the longest backoff before a failed action is tried again
	res, err := w.Exec.Run(ctx)
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
		t.Errorf("the held erasures were not done late: %d results", len(res))
	}
	w.check(true)
	w.checkObjects()
	if actions, _ := w.Exec.Plan(ctx, w.Clock.Now()); len(actions) != 0 {
		t.Errorf("work left: %v", actions)
	}
}

// A backup whose catalog row a crash lost (its object and manifest are on
// the target) is adopted by the next process's first pass and verified,
// not made again.
func TestOrphanedManifestAdopted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	w := newWorld(t, dir, policy.Default(), start)
	w.day()
	if _, err := w.Exec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := w.Exec.Inventory(ctx)
	if _, err := w.DB.Writer().Exec(`DELETE FROM backups`); err != nil {
		t.Fatal(err)
	}
	now := w.Clock.Now()
	w.Close()

	w = newWorld(t, dir, policy.Default(), now) // the next process
	res, err := w.Exec.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range res {
		kinds[r.Kind]++
	}
	after, _ := w.Exec.Inventory(ctx)
	if kinds[lifecycle.Backup] != 0 || kinds[lifecycle.Verify] != 2 || len(after.Backups) != 2 || after.Backups[0].ID != before.Backups[0].ID || !after.Backups[0].Verified {
		t.Errorf("pass %v; backups before %+v, after %+v", kinds, before.Backups, after.Backups)
	}
}

// TestFailuresBackOff: with the target down, passes every five minutes
// try a failing backup again with backoff, not on every pass, and each try
// is evidence once; when the target returns, the work is done within the
// longest backoff, an hour.
func TestFailuresBackOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, t.TempDir(), policy.Default(), time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	w.day() // one sealed day of each class: two backups to make
	w.Target.Down.Store(true)
	passes, deferred := 0, 0
	for range 6 * 12 { // six hours
		res, _ := w.Exec.Run(ctx)
		passes++
		for _, r := range res {
			if r.Outcome == reconcile.Deferred {
				deferred++
			}
		}
		w.Clock.Add(5 * time.Minute)
	}
	ev, _, _ := sqlite.NewEvidenceService(w.DB).FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "backup", Outcome: slokeeper.OutcomeFailed})
	// Tries at 0, 5, 15, 35, 75, 135, 195, 255 and 315 minutes: 9 per backup.
	if len(ev) != 2*9 || deferred != 2*(passes-9) {
		t.Errorf("%d failures recorded, %d deferred in %d passes; want 18 and %d", len(ev), deferred, passes, 2*(passes-9))
	}
	w.Target.Down.Store(false)
	for range 12 {
		w.Exec.Run(ctx)
		w.Clock.Add(5 * time.Minute)
	}
	if actions, _ := w.Exec.Plan(ctx, w.Clock.Now()); len(actions) != 0 {
		t.Errorf("an hour after the target came back, work left: %v", actions)
	}
}

// TestRestoreAll: everything comes back into a new data directory as it
// was; a deletion under way stays under way, and a deleted account whose
// snapshots are still cataloged stays deleted.
func TestRestoreAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, t.TempDir(), policy.Default(), time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	w.People.Live = 3
	for range 3 {
		w.day()
		if _, err := w.Exec.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	active := w.People.Active()
	deleting, gone := active[0], active[1]
	for _, id := range []string{deleting, gone} {
		if err := w.RequestDeletion(ctx, id, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	// gone's window ends and its data is erased, but not yet its snapshots.
	w.Clock.Add(8 * 24 * time.Hour)
	if _, err := w.Vault.EraseAccountData(ctx, gone); err != nil {
		t.Fatal(err)
	}
	w.Accounts.UpdateAccount(ctx, deleting, slokeeper.AccountUpdate{DeletionDueAt: &[]time.Time{w.Clock.Now().Add(time.Hour)}[0]})

	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	logs, err := logstore.Open(ctx, logstore.Config{Dir: filepath.Join(dir, "logs"), Catalog: sqlite.NewLogCatalog(db), Location: w.Policy.Location(), Clock: w.Clock})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	into := sqlite.NewAccountService(db)
	res, err := w.Exec.RestoreAll(ctx, reconcile.Destination{Logs: logs, Accounts: into}, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Partitions != 6 || res.Accounts != len(active)-1 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], gone) {
		t.Errorf("restored %+v", res)
	}
	got, _ := into.FindAccounts(ctx, slokeeper.AccountFilter{})
	status := map[string]string{}
	for _, a := range got {
		status[a.ID] = a.Status
	}
	// A deleted account comes back deleted, without data: never as a live one.
	if items, _ := into.SnapshotAccountItems(ctx, gone); status[deleting] != slokeeper.AccountDeleting || status[gone] != slokeeper.AccountDeleted || len(items) != 0 || status[active[2]] != slokeeper.AccountActive {
		t.Errorf("restored accounts = %v", status)
	}
}

// TestLeftoversRemoved: a backup killed mid-way leaves a temporary object
// on the target; the next pass removes it once it is older than
// LeftoverAge (24 h), with evidence, and leaves a younger one, which may
// be a backup under way in another process, until it is that old.
func TestLeftoversRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := newWorld(t, dir, policy.Default(), time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	w.day()
	now := w.Clock.Now()
	leftover := func(name string, modified time.Time) string {
		p := filepath.Join(dir, "backups", "logs", "exec", "2026-12-01", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("half a backup"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, modified, modified); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dead := leftover("bk_deaddeaddeaddead.seg.enc.1234.tmp", now.Add(-25*time.Hour))
	young := leftover("bk_younyounyounyoun.seg.enc.5678.tmp", now.Add(-time.Hour))
	if _, err := w.Exec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("a leftover 25 h old is still there: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("a temporary object 1 h old was removed: %v", err)
	}
	ev, _, err := sqlite.NewEvidenceService(w.DB).FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "remove_leftover"})
	if err != nil || len(ev) != 1 || ev[0].Clause != policy.ClauseExecLogs || !strings.Contains(ev[0].Subject, "bk_deaddeaddeaddead") || !strings.Contains(ev[0].Detail, "13 bytes") {
		t.Errorf("leftover evidence: %+v %v", ev, err)
	}
	// A day on, the younger one is a leftover too.
	w.Clock.Add(24 * time.Hour)
	if _, err := w.Exec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(young); !os.IsNotExist(err) {
		t.Errorf("a leftover 25 h old is still there: %v", err)
	}
	// The backups themselves are untouched.
	w.checkObjects()
}

// TestEvidenceLostFailsTheAction: while the evidence store refuses
// inserts, a pass reports its actions failed instead of done; once the
// store is back a later pass does the work again and every backup has
// the evidence of its making and of its verification. Never done and
// unproven.
func TestEvidenceLostFailsTheAction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, t.TempDir(), policy.Default(), time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	w.day() // one sealed day of each class: two backups to make
	if _, err := w.DB.Writer().Exec(`CREATE TRIGGER refuse_evidence BEFORE INSERT ON evidence BEGIN SELECT RAISE(ABORT, 'evidence store unavailable'); END`); err != nil {
		t.Fatal(err)
	}
	res, err := w.Exec.Run(ctx)
	if err == nil {
		t.Error("a pass whose evidence could not be recorded reported no failure")
	}
	for _, r := range res {
		if r.Err == nil && r.Outcome != reconcile.Deferred {
			t.Errorf("%s %s reported %s though its evidence was lost", r.Kind, r.Subject(), r.Outcome)
		}
	}
	if _, err := w.DB.Writer().Exec(`DROP TRIGGER refuse_evidence`); err != nil {
		t.Fatal(err)
	}
	w.Clock.Add(time.Hour) // the longest backoff before a failed action is tried again
	if _, err := w.Exec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	inv, err := w.Exec.Inventory(ctx)
	if err != nil || len(inv.Backups) != 2 {
		t.Fatalf("backups = %+v, %v; want 2", inv.Backups, err)
	}
	es := sqlite.NewEvidenceService(w.DB)
	for _, action := range []string{"backup", "verify"} {
		ev, _, _ := es.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: action, Outcome: slokeeper.OutcomeOK})
		if len(ev) != 2 {
			t.Errorf("%d %s evidence once the store is back, want 2 (one per backup): %+v", len(ev), action, ev)
		}
	}
}
