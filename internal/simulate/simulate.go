// Package simulate runs the lifecycle engine over simulated years: a
// temporary data directory, a simulated clock, generated log traffic, and
// the real log store, backup target, catalog, keys, planner and executor,
// day by day, with customers who sign up, change their data and delete
// their accounts. After every day's pass it checks every data clause and
// stops at the first violation. Failures can be injected: the backup target
// down for a month.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/blob"
	"slokeeper/internal/keys"
	"slokeeper/internal/ledger"
	"slokeeper/internal/logstore"
	"slokeeper/internal/reconcile"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/vault"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// Clock is a settable clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now implements slokeeper.Clock.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Add moves the clock on.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// ErrInjected is the failure an injected fault returns.
var ErrInjected = errors.New("injected failure: the backup target is unreachable")

// Target is a backup target that can be taken down, or cut off after its
// n-th operation from now (a process dying there).
type Target struct {
	slokeeper.BlobStore
	Down atomic.Bool
	N    atomic.Int64
	Ops  atomic.Int64 // operations tried so far
}

func (f *Target) fail() bool {
	f.Ops.Add(1)
	if f.Down.Load() {
		return true
	}
	if f.N.Load() > 0 && f.N.Add(-1) == 0 {
		f.Down.Store(true)
		return true
	}
	return false
}

// Put implements slokeeper.BlobStore.
func (f *Target) Put(ctx context.Context, key string, r io.Reader) (slokeeper.BlobInfo, error) {
	if f.fail() {
		io.Copy(io.Discard, r)
		return slokeeper.BlobInfo{}, ErrInjected
	}
	return f.BlobStore.Put(ctx, key, r)
}

// Get implements slokeeper.BlobStore.
func (f *Target) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if f.fail() {
		return nil, ErrInjected
	}
	return f.BlobStore.Get(ctx, key)
}

// Delete implements slokeeper.BlobStore.
func (f *Target) Delete(ctx context.Context, key string) error {
	if f.fail() {
		return ErrInjected
	}
	return f.BlobStore.Delete(ctx, key)
}

// Purge implements slokeeper.BlobStore.
func (f *Target) Purge(ctx context.Context, key string) (slokeeper.BlobPurge, error) {
	if f.fail() {
		return slokeeper.BlobPurge{}, ErrInjected
	}
	return f.BlobStore.Purge(ctx, key)
}

// World is a data directory run by the lifecycle engine on a simulated clock.
type World struct {
	Policy   *policy.Policy
	Clock    *Clock
	Logs     *logstore.Store
	DB       *sqlite.DB
	Target   *Target
	Exec     *reconcile.Executor
	Backups  *backup.Backups
	Accounts *sqlite.AccountService
	Keys     *keys.Manager
	Vault    *vault.Vault
	// Generated is every day partition ever written, with its record count.
	Generated map[[2]string]int64
	// People is the accounts' side of the world (AccountsDay).
	People  *People
	inspect *backup.Backups // what the checks read backups with
	closers []func() error
}

// Open opens a world in dir: empty, or one a closed world left.
func Open(ctx context.Context, dir string, pol *policy.Policy, start time.Time) (w *World, err error) {
	w = &World{Policy: pol, Clock: &Clock{now: start}, Generated: map[[2]string]int64{}}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if w.DB, err = sqlite.Open(ctx, filepath.Join(dir, "slokeeper.db")); err != nil {
		return nil, err
	}
	w.closers = append(w.closers, w.DB.Close)
	w.Logs, err = logstore.Open(ctx, logstore.Config{Dir: filepath.Join(dir, "logs"), Catalog: sqlite.NewLogCatalog(w.DB), Location: pol.Location(), Clock: w.Clock})
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, w.Logs.Close)
	ks, err := sqlite.OpenKeyStore(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, ks.Close)
	if w.Keys, err = keys.Open(filepath.Join(dir, "master.key"), ks); err != nil {
		return nil, err
	}
	d, err := blob.OpenDir(filepath.Join(dir, "backups"))
	if err != nil {
		return nil, err
	}
	led, err := ledger.Open(ledger.Config{Store: sqlite.NewAuditStore(w.DB), Dir: filepath.Join(dir, "audit"), Clock: w.Clock})
	if err != nil {
		return nil, err
	}
	w.Accounts = sqlite.NewAccountService(w.DB)
	evidence := sqlite.NewEvidenceService(w.DB)
	w.Vault = vault.New(vault.Config{Accounts: w.Accounts, Grants: w.Accounts, Operators: sqlite.NewOperatorService(w.DB), Evidence: evidence,
		Crypto: w.Keys, Policy: pol, Clock: w.Clock, Node: "simulate",
		Audit: func(ctx context.Context, actor, action, target, detail string) error {
			_, err := led.Record(ctx, actor, action, target, detail)
			return err
		}})
	w.Target = &Target{BlobStore: d}
	w.Backups = backup.New(backup.Config{Target: w.Target, Logs: w.Logs, Sealer: w.Keys, Accounts: w.Accounts, Crypto: w.Keys,
		Expiry: reconcile.Expiry(pol), Clock: w.Clock})
	w.inspect = backup.New(backup.Config{Target: d, Sealer: w.Keys, Accounts: w.Accounts, Crypto: w.Keys}) // past the injected faults
	w.Exec = reconcile.New(reconcile.Config{Policy: pol, Logs: w.Logs, Backups: w.Backups, Catalog: sqlite.NewBackupCatalog(w.DB),
		Evidence: evidence, Accounts: w.Accounts, Keys: w.Keys, Vault: w.Vault, Clock: w.Clock, Node: "simulate"})
	w.People = newPeople()
	return w, nil
}

// Close closes the world's stores, the log store first.
func (w *World) Close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
	w.closers = nil
}

// Day writes a day's traffic (records per class, and with People.Live the
// customers' doings), moves the clock on a day and seals what closed.
func (w *World) Day(ctx context.Context, records map[string]int, rng *rand.Rand) error {
	day := w.Clock.Now().In(w.Policy.Location()).Format(time.DateOnly)
	for _, class := range []string{slokeeper.LogClassSystem, slokeeper.LogClassExec} {
		n := records[class]
		if n == 0 {
			continue
		}
		recs := make([]slokeeper.LogRecord, n)
		for i := range recs {
			recs[i] = slokeeper.LogRecord{SourceKind: "device", SourceID: fmt.Sprintf("dev-%d", rng.IntN(20)), Level: "info",
				Message: fmt.Sprintf("%s reading %d: %d", class, i, rng.IntN(1000))}
		}
		if _, err := w.Logs.AppendLogs(ctx, class, recs, ""); err != nil {
			return err
		}
		w.Generated[[2]string{class, day}] += int64(n)
	}
	if w.People.Live > 0 {
		if err := w.accountsDay(ctx, rng); err != nil {
			return err
		}
	}
	w.Clock.Add(24 * time.Hour)
	_, err := w.Logs.SealDue(ctx)
	return err
}

// Violation is a clause that did not hold.
type Violation struct {
	Clause string
	Text   policy.Text
}

func (v *Violation) Error() string { return v.Clause + ": " + v.Text.EN }

func violation(clause string, ja, en string, args ...any) *Violation {
	return &Violation{Clause: clause, Text: policy.Text{JA: fmt.Sprintf(ja, args...), EN: fmt.Sprintf(en, args...)}}
}

// Check checks the data clauses at the clock's now. For logs:
//   - no original erased before the day's last record reached its ceiling;
//   - unless late is allowed, no original or backup kept past its ceiling
//     and tolerance;
//   - every generated day still restorable, from its original or a
//     verified backup, while its backup floor runs.
//
// With objects, it also checks that every verified backup inside its
// ceiling is on the target. For user data, see checkAccounts.
func (w *World) Check(ctx context.Context, allowLate, objects bool) error {
	now, loc := w.Clock.Now(), w.Policy.Location()
	inv, err := w.Exec.Inventory(ctx)
	if err != nil {
		return err
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
		nc := classOf(w.Policy, b.Class)
		ceiling := w.BackupCeiling(b)
		if !allowLate && now.After(nc.Tolerance.AddTo(ceiling)) {
			return violation(nc.Clause, "%s: %s のバックアップ %s が消去期限 %s を過ぎても残っています。",
				"%s: backup %s of %s is kept past its ceiling %s.", stamp(now, loc), b.ID, subjectOf(b), stamp(ceiling, loc))
		}
		if objects && b.Verified && now.Before(ceiling) && (b.Account == "" || w.People.kept(b.Account, now)) {
			man, err := w.Exec.Manifest(ctx, b.ID)
			if err != nil {
				return err
			}
			if _, err := w.Target.BlobStore.Stat(ctx, man.Object); err != nil {
				return violation(nc.Clause, "%s: 検証済みのバックアップ %s (%s) が保存先にありません: %v",
					"%s: verified backup %s of %s is not on the target: %v", stamp(now, loc), b.ID, subjectOf(b), err)
			}
		}
	}
	if err := w.checkAccounts(ctx, inv, allowLate, objects); err != nil {
		return err
	}
	if objects && !allowLate {
		if err := w.checkLeftovers(ctx, inv); err != nil {
			return err
		}
	}
	for k := range w.Generated {
		nc := classOf(w.Policy, k[0])
		first, _ := time.ParseInLocation(time.DateOnly, k[1], loc)
		last := first.AddDate(0, 0, 1).Add(-time.Nanosecond)
		ceiling := nc.Original.Erase.After.AddTo(last)
		switch {
		case !allowLate && present[k] && now.After(nc.Tolerance.AddTo(ceiling)):
			return violation(nc.Clause, "%s: %s/%s の元データが消去期限 %s を過ぎても残っています。",
				"%s: the original %s/%s is kept past its ceiling %s.", stamp(now, loc), k[0], k[1], stamp(ceiling, loc))
		case !present[k] && !now.After(ceiling):
			return violation(nc.Clause, "%s: %s/%s の元データが期限 %s より前に消去されました。",
				"%s: the original %s/%s was erased before its time, %s.", stamp(now, loc), k[0], k[1], stamp(ceiling, loc))
		case !present[k] && !verified[k]:
			keep := nc.Backups.Keep
			if keep == nil {
				break
			}
			floor := keep.After.AddTo(last)
			if keep.From != policy.FromGeneration {
				floor = keep.After.AddTo(policy.BackupCreated(nc.Backup, last, loc))
			}
			// The reference policy's conflict: where the backup ceiling
			// comes first, precedence "erase" lets it cut the floor short.
			if w.Policy.Data.Precedence == "erase" && nc.Backups.Erase != nil {
				if c := w.BackupCeiling(lifecycle.BackupCopy{Class: k[0], Day: k[1]}); c.Before(floor) {
					floor = c
				}
			}
			if now.Before(floor) {
				return violation(nc.Clause, "%s: %s/%s が失われました。元データも検証済みのバックアップもありませんが、最低保存期間は %s までです。",
					"%s: %s/%s is lost: no original and no verified backup, while its floor runs to %s.", stamp(now, loc), k[0], k[1], stamp(floor, loc))
			}
		}
	}
	return nil
}

// checkLeftovers checks the target for backups the catalog does not list
// (or lists as erased): none may outlive its ceiling, or its account's
// erasure, unseen.
func (w *World) checkLeftovers(ctx context.Context, inv lifecycle.Inventory) error {
	now, loc := w.Clock.Now(), w.Policy.Location()
	live := map[string]bool{}
	for _, b := range inv.Backups {
		live[b.ID] = true
	}
	windowEnd := map[string]time.Time{}
	for _, a := range inv.Accounts {
		windowEnd[a.ID] = a.DeletionDue
	}
	keys, err := w.inspect.ManifestKeys(ctx)
	if err != nil {
		return err
	}
	for id, key := range keys {
		if live[id] {
			continue
		}
		man, err := w.inspect.ReadManifest(ctx, key)
		if err != nil {
			return err
		}
		b := lifecycle.BackupCopy{ID: man.ID, Class: man.Class, Account: man.Account, Day: man.Day, Created: man.Created}
		nc := classOf(w.Policy, b.Class)
		due := nc.Tolerance.AddTo(w.BackupCeiling(b))
		if b.Account != "" && !w.People.kept(b.Account, now) {
			due = nc.Tolerance.AddTo(windowEnd[b.Account]) // the account is erased
		}
		if now.After(due) {
			return violation(nc.Clause, "%s: 保存先にカタログにないバックアップ %s (%s) が残っています。",
				"%s: backup %s of %s is on the target but not in the catalog, past its time.", stamp(now, loc), b.ID, subjectOf(b))
		}
	}
	return nil
}

// BackupCeiling returns when a backup must be gone: for its day's last record.
func (w *World) BackupCeiling(b lifecycle.BackupCopy) time.Time {
	nc, loc := classOf(w.Policy, b.Class), w.Policy.Location()
	first, _ := time.ParseInLocation(time.DateOnly, b.Day, loc)
	last := first.AddDate(0, 0, 1).Add(-time.Nanosecond)
	if nc.Backups.Erase.From == policy.FromGeneration {
		return nc.Backups.Erase.After.AddTo(last)
	}
	set := policy.BackupCreated(nc.Backup, last, loc)
	if b.Created.After(set) {
		set = b.Created
	}
	return nc.Backups.Erase.After.AddTo(set)
}

func classOf(p *policy.Policy, class string) policy.NamedClass {
	if class == "user" {
		return p.Data.User()
	}
	nc, ok := p.Data.LogClass(class)
	if !ok {
		panic("simulate: no policy class for " + class)
	}
	return nc
}

func subjectOf(b lifecycle.BackupCopy) string {
	return lifecycle.Action{Class: b.Class, Account: b.Account, Day: b.Day}.Subject()
}

func stamp(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02 15:04") }
