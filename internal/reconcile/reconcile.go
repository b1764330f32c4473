// Package reconcile carries out the lifecycle plan: it takes the inventory
// from the log store and the backup catalog, asks the pure planner what is
// due, and does it, recording evidence for every action.
//
// There is no separate journal: the durable state (the log store, the
// backup target and the catalog) is the journal. Every action is ordered
// so that a crash at any point leaves a state from which the next pass's
// plan finishes the work, and doing an action twice is harmless:
//   - backup: object, then manifest, then catalog row, then verification. A
//     manifest the catalog lacks (a crash before the row) is adopted at the
//     start of the next pass, unverified, and verified by it.
//   - erase backup: its key (destroyed in the key store), then every
//     version of the object, then of the manifest, then the catalog mark.
//     A crash before the mark leaves the row, and the next pass erases
//     again; the evidence says what the target kept.
//   - erase original: only after the catalog shows a verified backup of
//     the partition's current content, its checksum and record count,
//     checked again just before the drop (unless the interlock is off);
//     the log store's drop is itself crash-safe.
//   - account snapshot: as a backup; the snapshot is one consistent read.
//   - erase account / destroy key: the vault checks again that the
//     deletion can no longer be cancelled; the account is marked deleted
//     after its data is gone, and the key store lists the keys that are
//     left, so either step is planned again until it is done.
package reconcile

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/logstore"
	"slokeeper/internal/redact"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// Config configures an Executor.
type Config struct {
	Policy   *policy.Policy
	Logs     *logstore.Store
	Backups  *backup.Backups
	Catalog  slokeeper.BackupCatalog
	Evidence slokeeper.EvidenceService
	// User data: the accounts, which of them have a key, and the vault
	// that erases them. Without Accounts user data is not planned.
	Accounts slokeeper.AccountService
	Keys     KeyLister
	Vault    AccountEraser
	Clock    slokeeper.Clock
	Node     string
	// LeftoverAge is how long ago a temporary object on the target (a
	// backup's file being written, an upload begun) must have been last
	// written for a pass to remove it as a killed backup's leftover: a
	// backup under way in another process is younger. Default 24 h.
	LeftoverAge time.Duration
	// ActionTimeout bounds each action of a pass, and each step that
	// touches the target (listing the manifests, removing leftovers): a
	// target that hangs fails the action, and the pass goes on with the
	// next. An action that moves a backup's bytes gets more time, at
	// MinRate. Default 5 min.
	ActionTimeout time.Duration
	// MinRate is the slowest transfer, in bytes a second, an action that
	// moves a backup's bytes is given time for beyond ActionTimeout.
	// Default 1 MiB/s.
	MinRate int64
	// Lock, if set, keeps passes to one at a time for the cluster: Run
	// takes it first, waiting up to LockWait for a pass under way on
	// another node, and checks it still holds it before every step and
	// action (fencing: nothing is done once it is lost).
	Lock     slokeeper.PassLock
	LockWait time.Duration
	// LockCheck is how often, during an action, the lock is checked; a
	// lock lost cancels the action. Default 5 s.
	LockCheck time.Duration
	// Scratch, if set, makes an empty scratch area a restore drill
	// restores one backup into, and the function that removes it. Without
	// it drills fail with that reason, and passes do not drill.
	Scratch func(ctx context.Context) (Destination, func(), error)
}

// DefaultLockCheck is Config.LockCheck's default.
const DefaultLockCheck = 5 * time.Second

// DefaultLeftoverAge is Config.LeftoverAge's default.
const DefaultLeftoverAge = 24 * time.Hour

// Config.ActionTimeout's and Config.MinRate's defaults.
const (
	DefaultActionTimeout = 5 * time.Minute
	DefaultMinRate       = 1 << 20
)

// evidenceTimeout bounds the recording of an action's evidence, which is
// not bound by the action's own timeout: the failure of an action that
// timed out is recorded still.
const evidenceTimeout = 30 * time.Second

// Expiry returns the expiry clocks the policy gives a new backup, for
// its manifest (backup.Config.Expiry).
func Expiry(p *policy.Policy) func(*backup.Manifest) (keep, erase time.Time) {
	return func(m *backup.Manifest) (time.Time, time.Time) {
		keep, erase, _ := lifecycle.Clocks(p, lifecycle.BackupCopy{ID: m.ID, Class: m.Class, Account: m.Account, Day: m.Day, Created: m.Created})
		return keep, erase
	}
}

// KeyLister lists the accounts that have a key (slokeeper.KeyStore).
type KeyLister interface {
	AccountKeys(ctx context.Context) ([]string, error)
}

// AccountEraser erases deleted accounts (vault.Vault).
type AccountEraser interface {
	EraseAccountData(ctx context.Context, id string) (int, error)
	DestroyAccountKey(ctx context.Context, id string) error
}

// Executor runs lifecycle passes.
type Executor struct {
	// Progress, if set, is told each action's result as it ends.
	Progress func(Result)

	cfg Config
	// adopted: the target's manifests were adopted since the last failed
	// backup. Orphaned manifests come only from a crash (a new process)
	// or a failed backup, so a pass lists the target only then.
	adopted atomic.Bool

	mu      sync.Mutex
	retries map[string]retry // failed or held actions, by kind and subject; and the target's steps
	sizes   map[string]int64 // bytes of each log partition, "class/day", as the last inventory found
	strays  map[string]bool  // objects under manifests/ that are not manifests, reported
}

// retry is an action that failed (or an erasure held) on consecutive
// passes. It is tried (or reported) again after a backoff that doubles
// from one pass interval up to an hour: a target that stays down is not
// hammered, and each failure is evidence once per try, not once per pass.
type retry struct {
	failures int
	next     time.Time
}

const (
	retryFirst = 5 * time.Minute
	retryMax   = time.Hour
)

// deferred reports whether a is waiting for its next try at now.
func (e *Executor) deferred(a lifecycle.Action, now time.Time) (retry, bool) {
	return e.waiting(a.Kind+" "+a.Subject(), now)
}

// waiting reports whether the action or step key is waiting for its next
// try at now.
func (e *Executor) waiting(key string, now time.Time) (retry, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.retries[key]
	return r, ok && now.Before(r.next)
}

// tried records how a try of a went.
func (e *Executor) tried(a lifecycle.Action, failed bool, now time.Time) {
	if !failed {
		e.mu.Lock()
		delete(e.retries, lifecycle.Held+" "+a.Subject()) // an erasure done is no longer held
		e.mu.Unlock()
	}
	e.triedKey(a.Kind+" "+a.Subject(), failed, now)
}

// triedKey records how a try of the action or step key went.
func (e *Executor) triedKey(key string, failed bool, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !failed {
		delete(e.retries, key)
		return
	}
	if e.retries == nil {
		e.retries = map[string]retry{}
	}
	r := e.retries[key]
	r.failures++
	r.next = now.Add(min(retryFirst<<min(r.failures-1, 10), retryMax))
	e.retries[key] = r
}

// New returns an Executor.
func New(cfg Config) *Executor {
	if cfg.Clock == nil {
		cfg.Clock = slokeeper.SystemClock{}
	}
	if cfg.LeftoverAge <= 0 {
		cfg.LeftoverAge = DefaultLeftoverAge
	}
	if cfg.ActionTimeout <= 0 {
		cfg.ActionTimeout = DefaultActionTimeout
	}
	if cfg.MinRate <= 0 {
		cfg.MinRate = DefaultMinRate
	}
	if cfg.LockCheck <= 0 {
		cfg.LockCheck = DefaultLockCheck
	}
	return &Executor{cfg: cfg}
}

// lockLost is why a pass stopped: its lock is no longer held.
type lockLost struct{ err error }

func (l *lockLost) Error() string { return "the lifecycle pass lock is lost: " + l.err.Error() }

// stopped is the pass's error, for people.
func (l *lockLost) stopped() error {
	return slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The lifecycle pass stopped before its next action: %s. Another node may take the lock; the next pass finishes the work.", redact.Error(l.err))
}

// Seal is the kind of a pass's result for a day partition it sealed: a
// pass seals the closed days before it plans, so a deployment that runs
// passes from cron, with no server, backs every closed day up.
const Seal = "seal"

// PassLock is the kind of a pass's result that says it took the cluster's
// pass lock over from a pass that died holding it.
const PassLock = "pass_lock"

// bounded returns ctx bounded by the action timeout, and more for an
// action that moves size bytes: a target that hangs ends the action with
// a cause saying so (see failure).
func (e *Executor) bounded(ctx context.Context, size int64) (context.Context, context.CancelFunc) {
	d := e.cfg.ActionTimeout + time.Duration(size/e.cfg.MinRate)*time.Second
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("timed out after %s", d))
}

// failure is the real cause of an action's failure, for evidence and
// people: the error's own text (internal errors included: evidence is
// for staff), redacted, and whether the action's time ran out.
func failure(ctx context.Context, err error) string {
	s := redact.Error(err)
	if c := context.Cause(ctx); c != nil && c != ctx.Err() && !errors.Is(err, c) {
		s = c.Error() + ": " + s
	}
	return s
}

// Deferred is the outcome of an action that failed on earlier passes and
// waits for its next try.
const Deferred = "deferred"

// Result is one action of a pass and how it went.
type Result struct {
	lifecycle.Action
	Outcome string // a slokeeper.Outcome constant, "held" or Deferred
	Detail  string
	Err     error
}

// Inventory reads what exists now: every partition of the log store,
// every account and whether it has a key, and every backup in the catalog
// that is not erased.
func (e *Executor) Inventory(ctx context.Context) (lifecycle.Inventory, error) {
	var inv lifecycle.Inventory
	parts, err := e.cfg.Logs.LogPartitions(ctx)
	if err != nil {
		return inv, err
	}
	sizes := make(map[string]int64, len(parts))
	for _, p := range parts {
		inv.Partitions = append(inv.Partitions, lifecycle.Partition{Class: p.Class, Day: p.Day, Sealed: p.Sealed, Checksum: p.Checksum, Records: p.Records})
		sizes[p.Class+"/"+p.Day] = p.Bytes
	}
	e.mu.Lock()
	e.sizes = sizes
	e.mu.Unlock()
	if e.cfg.Accounts != nil {
		accounts, err := e.cfg.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{})
		if err != nil {
			return inv, err
		}
		keyed, err := e.cfg.Keys.AccountKeys(ctx)
		if err != nil {
			return inv, err
		}
		hasKey := make(map[string]bool, len(keyed))
		for _, id := range keyed {
			hasKey[id] = true
		}
		for _, a := range accounts {
			inv.Accounts = append(inv.Accounts, lifecycle.Account{ID: a.ID, Status: a.Status, Created: a.CreatedAt, DeletionDue: a.DeletionDueAt, HasKey: hasKey[a.ID]})
		}
	}
	recs, err := e.cfg.Catalog.FindBackups(ctx, slokeeper.BackupFilter{SkipManifest: true})
	if err != nil {
		return inv, err
	}
	for _, r := range recs {
		inv.Backups = append(inv.Backups, lifecycle.BackupCopy{ID: r.ID, Class: r.Class, Account: r.Account, Day: r.Day, Created: r.Created, Verified: !r.VerifiedAt.IsZero(),
			Checksum: r.Checksum, Records: r.Records})
	}
	return inv, nil
}

// Plan returns what a pass would do now, without doing it.
func (e *Executor) Plan(ctx context.Context, at time.Time) ([]lifecycle.Action, error) {
	inv, err := e.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	return lifecycle.Plan(e.cfg.Policy, inv, at)
}

// Sets returns the log backup sets the policy names, and how complete
// each is, at at.
func (e *Executor) Sets(ctx context.Context, at time.Time) ([]lifecycle.Set, error) {
	inv, err := e.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	return lifecycle.Sets(e.cfg.Policy, inv, at)
}

// Adopt adds to the catalog every manifest on the target that it lacks
// (a backup whose catalog row a crash prevented), unverified. It lists the
// manifests and reads only those the catalog does not know.
func (e *Executor) Adopt(ctx context.Context) (int, error) {
	keys, err := e.cfg.Backups.ManifestKeys(ctx)
	if err != nil {
		return 0, err
	}
	recs, err := e.cfg.Catalog.FindBackups(ctx, slokeeper.BackupFilter{IncludeErased: true, SkipManifest: true})
	if err != nil {
		return 0, err
	}
	known := make(map[string]bool, len(recs))
	for _, r := range recs {
		known[r.ID] = true
	}
	added := 0
	for id, key := range keys {
		if known[id] {
			continue
		}
		man, err := e.cfg.Backups.ReadManifest(ctx, key)
		if errors.Is(err, backup.ErrNotManifest) {
			e.stray(ctx, key, err)
			continue
		}
		if err != nil {
			return added, err
		}
		if err := e.cfg.Catalog.AddBackup(ctx, record(man)); err == nil {
			added++
		} else if slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
			return added, err
		}
	}
	return added, nil
}

// stray reports, once, an object under manifests/ that is not a manifest
// (one an operator left there, or a damaged one): it is skipped, and the
// rest of the work goes on.
func (e *Executor) stray(ctx context.Context, key string, err error) {
	e.mu.Lock()
	seen := e.strays[key]
	if e.strays == nil {
		e.strays = map[string]bool{}
	}
	e.strays[key] = true
	e.mu.Unlock()
	if seen {
		return
	}
	e.evidence(ctx, "adopt", e.clauseOfKey(key), key, time.Time{}, slokeeper.OutcomeFailed,
		"not a backup manifest, skipped (remove it or put it elsewhere): "+redact.Error(err))
}

func record(man *backup.Manifest) *slokeeper.BackupRecord {
	body, _ := json.Marshal(man)
	return &slokeeper.BackupRecord{ID: man.ID, Class: man.Class, Account: man.Account, Day: man.Day, Checksum: man.Checksum, Records: man.Records,
		Created: man.Created, Manifest: body}
}

// Run does one pass: seal the closed days (when this process writes the
// log store), adopt orphaned manifests, plan, and carry out every action
// due. The plan needs no target: the catalog is the inventory of backups,
// and the target is listed only to adopt what a crash left uncataloged,
// a step of its own whose failure is the pass's error, not its end. Each
// action stands alone, bounded by its timeout. An erase the interlock
// held is planned again once the pass's backups are verified, so one pass
// finishes what it can. An action that fails is evidence with its cause
// and tried again with backoff (see retry); the pass goes on with the
// others. The error is the first failure.
//
// With a Lock, the pass runs only while it holds the cluster's pass lock:
// another node's pass under way is waited for up to LockWait, then the
// error is a *slokeeper.PassBusyError naming its node; a lock lost mid-pass
// (its database connection cut) stops the pass before its next step.
func (e *Executor) Run(ctx context.Context) ([]Result, error) {
	var out []Result
	done := func(r Result) {
		out = append(out, r)
		if e.Progress != nil {
			e.Progress(r)
		}
	}
	fence := func() error { return ctx.Err() }
	if e.cfg.Lock != nil {
		lease, err := e.cfg.Lock.LockPass(ctx, e.cfg.Node, e.cfg.Clock.Now(), e.cfg.LockWait)
		if err != nil {
			return nil, err
		}
		// Between the checks before each step, a watcher: a lock lost
		// during an action (a long backup) cancels it rather than let it
		// run to its end unfenced. Every action is crash-safe, so one cut
		// short is finished by the next pass.
		lctx, cancel := context.WithCancelCause(ctx)
		stop, watched := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(watched)
			t := time.NewTicker(e.cfg.LockCheck)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					if err := lease.Check(lctx); err != nil && lctx.Err() == nil {
						cancel(&lockLost{err})
						return
					}
				}
			}
		}()
		defer func() { close(stop); <-watched; cancel(nil); lease.Release() }()
		ctx = lctx
		if st := lease.Stale(); st.Node != "" {
			started := st.Started.UTC().Format(time.RFC3339)
			done(Result{Action: lifecycle.Action{Kind: PassLock, Class: "node", Day: st.Node, Reason: policy.Text{
				JA: fmt.Sprintf("ノード %s のパス(%s 開始)はロックを解放せずに終了していました。データベースが接続とともにロックを解放したため、このパスが引き継ぎます。", st.Node, started),
				EN: fmt.Sprintf("The pass of node %s (started %s) ended without releasing the lock; the database dropped it with its connection, and this pass takes over.", st.Node, started)}},
				Outcome: slokeeper.OutcomeOK, Detail: "took over a stale pass lock from node " + st.Node})
		}
		fence = func() error {
			if lost := (*lockLost)(nil); errors.As(context.Cause(ctx), &lost) {
				return lost.stopped()
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := lease.Check(ctx); err != nil {
				return (&lockLost{err}).stopped()
			}
			return nil
		}
	}
	if err := fence(); err != nil {
		return out, err
	}
	first := e.seal(ctx, done)
	now := e.cfg.Clock.Now()
	if err := fence(); err != nil {
		return out, err
	}
	if err := e.adopt(ctx, now); err != nil && first == nil {
		first = err
	}
	actions, err := e.Plan(ctx, now)
	if ferr := fence(); ferr != nil {
		return out, ferr // a plan cut short by the lock's loss says that
	}
	if err != nil {
		return out, fmt.Errorf("lifecycle: plan: %w", err)
	}
	if err := cmp.Or(e.removeLeftovers(ctx, now), e.mirrorAccounts(ctx, now)); err != nil && first == nil {
		first = err
	}
	for round := 0; ; round++ {
		var held []lifecycle.Action
		covered := false // a backup was made or verified
		for _, a := range actions {
			if a.Kind == lifecycle.Held {
				held = append(held, a)
				continue
			}
			if err := fence(); err != nil {
				return out, err
			}
			if rt, wait := e.deferred(a, now); wait {
				done(Result{Action: a, Outcome: Deferred, Detail: fmt.Sprintf("failed %d times; next try at %s", rt.failures, rt.next.Format(time.RFC3339))})
				continue
			}
			r := e.do(ctx, a)
			e.tried(a, r.Err != nil, now)
			done(r)
			if r.Err != nil && first == nil {
				first = r.Err
			}
			covered = covered || r.Err == nil && (a.Kind == lifecycle.Backup || a.Kind == lifecycle.Verify)
		}
		if len(held) == 0 || !covered || round == 1 {
			for _, a := range held {
				if err := fence(); err != nil {
					return out, err
				}
				if _, wait := e.deferred(a, now); wait {
					done(Result{Action: a, Outcome: "held", Detail: a.Reason.EN}) // reported, as evidence already
					continue
				}
				e.tried(a, true, now)
				done(e.do(ctx, a))
			}
			return out, e.drillsInPass(ctx, fence, done, first)
		}
		// Plan again, for the held erasures only.
		again, err := e.Plan(ctx, e.cfg.Clock.Now())
		if err != nil {
			return out, fmt.Errorf("lifecycle: plan: %w", err)
		}
		wasHeld := map[[2]string]bool{}
		for _, a := range held {
			wasHeld[[2]string{a.Class, a.Day}] = true
		}
		actions = actions[:0]
		for _, a := range again {
			if (a.Kind == lifecycle.EraseOriginal || a.Kind == lifecycle.Held) && wasHeld[[2]string{a.Class, a.Day}] {
				actions = append(actions, a)
			}
		}
	}
}

// seal seals every day partition whose day has closed, if this process
// holds the log store's writer lock (a server, or a command run with no
// server); beside a server, the server's store seals.
func (e *Executor) seal(ctx context.Context, done func(Result)) error {
	if e.cfg.Logs.ReadOnly() {
		return nil
	}
	sealed, err := e.cfg.Logs.SealDue(ctx)
	for _, p := range sealed {
		done(Result{Action: lifecycle.Action{Kind: Seal, Class: p.Class, Day: p.Day, Clause: e.clauseOf(p.Class)},
			Outcome: slokeeper.OutcomeOK, Detail: fmt.Sprintf("%d records, %d bytes", p.Records, p.Bytes)})
	}
	if err != nil {
		return fmt.Errorf("lifecycle: seal: %w", err)
	}
	return nil
}

// adopt adopts orphaned manifests (Adopt) when the target may hold some:
// in a new process, and after a failed backup. It is bounded by the action
// timeout and, failing, tried again with backoff.
func (e *Executor) adopt(ctx context.Context, now time.Time) error {
	const step = "adopt manifests"
	if e.adopted.Load() {
		return nil
	}
	if _, wait := e.waiting(step, now); wait {
		return nil
	}
	actx, cancel := e.bounded(ctx, 0)
	defer cancel()
	_, err := e.Adopt(actx)
	e.triedKey(step, err != nil, now)
	if err != nil {
		return fmt.Errorf("lifecycle: list the target's manifests (the pass goes on without): %s", failure(actx, err))
	}
	e.adopted.Store(true)
	return nil
}

// Backup backs up one sealed day now (or, with account set, takes a
// snapshot of the account's data as its backup of day), verifies it and
// catalogs it.
func (e *Executor) Backup(ctx context.Context, class, account, day string, deadline time.Time) (*backup.Manifest, error) {
	var man *backup.Manifest
	var err error
	if account != "" {
		man, err = e.cfg.Backups.BackupAccount(ctx, account, day)
	} else {
		man, err = e.cfg.Backups.BackupPartition(ctx, class, day)
	}
	if err != nil {
		return nil, err
	}
	if err := e.cfg.Catalog.AddBackup(ctx, record(man)); err != nil {
		return nil, err
	}
	if err := e.evidence(ctx, "backup", e.clauseOf(class), subjectOf(man), deadline, slokeeper.OutcomeOK, backupDetail(man)); err != nil {
		return man, err
	}
	return man, e.Verify(ctx, man, deadline)
}

func backupDetail(man *backup.Manifest) string {
	if man.Account != "" {
		return fmt.Sprintf("a point-in-time snapshot of %d items, %d bytes", man.Records, man.ObjectSize)
	}
	return fmt.Sprintf("%s, %d bytes", lifecycle.Content(man.Checksum, man.Records).EN, man.ObjectSize)
}

// backupOwed records the evidence of man's making if it has none: a
// backup cataloged as its evidence failed is not made again, but it stays
// unverified, so the verification the next pass plans for it records the
// evidence owed (at the time the backup was made) before anything else.
func (e *Executor) backupOwed(ctx context.Context, man *backup.Manifest, deadline time.Time) error {
	clause := e.clauseOf(man.Class)
	if clause == "" {
		return nil
	}
	_, n, err := e.cfg.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Clause: clause, Action: "backup", Subject: subjectOf(man), Outcome: slokeeper.OutcomeOK, Limit: 1})
	if err != nil || n > 0 {
		return err
	}
	return slokeeper.RecordEvidenceRetrying(ctx, e.cfg.Evidence, &slokeeper.Evidence{At: man.Created, Clause: clause, Action: "backup", Subject: subjectOf(man),
		Deadline: deadline, Outcome: slokeeper.OutcomeOK, Detail: backupDetail(man) + " (recorded late: the evidence store failed)", Node: e.cfg.Node})
}

// subjectOf names a backup in evidence: system/2026-12-03 bk_…, or
// account:acme/2026-12-03 bk_….
func subjectOf(man *backup.Manifest) string {
	return lifecycle.Action{Class: man.Class, Account: man.Account, Day: man.Day, BackupID: man.ID}.Subject()
}

// Verify reads a backup back and marks it verified in the catalog.
func (e *Executor) Verify(ctx context.Context, man *backup.Manifest, deadline time.Time) error {
	subject := subjectOf(man)
	if err := e.backupOwed(ctx, man, deadline); err != nil {
		return err
	}
	err := e.cfg.Backups.Verify(ctx, man)
	if err == nil {
		err = e.sameContent(ctx, man)
	}
	if err != nil {
		return errors.Join(err, e.evidence(ctx, "verify", e.clauseOf(man.Class), subject, deadline, slokeeper.OutcomeFailed, failure(ctx, err)))
	}
	if err := e.cfg.Catalog.MarkBackupVerified(ctx, man.ID, e.cfg.Clock.Now()); err != nil {
		return err
	}
	detail := "read back, decrypted, every block, the checksum and the count checked: holds " + lifecycle.Content(man.Checksum, man.Records).EN
	if man.Account != "" {
		detail = "read back, decrypted, every item decrypted under the account's key, the count checked"
	}
	return e.evidence(ctx, "verify", e.clauseOf(man.Class), subject, deadline, slokeeper.OutcomeOK, detail)
}

// sameContent checks that the catalog says the backup holds what its
// manifest (and so, verified, its object) holds: the planner counts
// coverage by the catalog's checksum and record count.
func (e *Executor) sameContent(ctx context.Context, man *backup.Manifest) error {
	recs, err := e.cfg.Catalog.FindBackups(ctx, slokeeper.BackupFilter{ID: man.ID, IncludeErased: true, SkipManifest: true})
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No backup %q in the catalog (try: slokeeper backup catalog rebuild).", man.ID)
	}
	if r := recs[0]; r.Checksum != man.Checksum || r.Records != man.Records {
		return slokeeper.Errorf(slokeeper.EINVALID, "Backup %s holds %s; the catalog says %s.", man.ID,
			lifecycle.Content(man.Checksum, man.Records).EN, lifecycle.Content(r.Checksum, r.Records).EN)
	}
	return nil
}

// stillCovered checks, just before an original is erased, that the
// partition as it is now has a verified backup of its content: the plan
// was made from an inventory that a re-seal (records migrated in) may
// have changed since. With the interlock off there is nothing to check.
func (e *Executor) stillCovered(ctx context.Context, a lifecycle.Action) error {
	nc, ok := e.cfg.Policy.Data.LogClass(a.Class)
	if !ok || !nc.Interlock {
		return nil
	}
	parts, err := e.cfg.Logs.LogPartitions(ctx)
	if err != nil {
		return err
	}
	var part *lifecycle.Partition
	for _, p := range parts {
		if p.Class == a.Class && p.Day == a.Day {
			part = &lifecycle.Partition{Class: p.Class, Day: p.Day, Sealed: p.Sealed, Checksum: p.Checksum, Records: p.Records}
		}
	}
	if part == nil {
		return nil // gone already: the drop is a no-op
	}
	recs, err := e.cfg.Catalog.FindBackups(ctx, slokeeper.BackupFilter{Class: a.Class, Day: a.Day, SkipManifest: true})
	if err != nil {
		return err
	}
	for _, r := range recs {
		b := lifecycle.BackupCopy{ID: r.ID, Class: r.Class, Account: r.Account, Day: r.Day, Checksum: r.Checksum, Records: r.Records}
		if !r.VerifiedAt.IsZero() && b.Holds(*part) {
			return nil
		}
	}
	return slokeeper.Errorf(slokeeper.ECONFLICT, "Not erased: %s/%s now holds %s, and no verified backup holds that content (the interlock holds it until one does).",
		a.Class, a.Day, part.Content().EN)
}

// Restore restores a backup into a log store and records it as evidence.
func (e *Executor) Restore(ctx context.Context, man *backup.Manifest, into *logstore.Store, progress func(done, total int64)) (*slokeeper.LogPartition, error) {
	info, err := e.cfg.Backups.Restore(ctx, man, into, progress)
	if err != nil {
		return nil, err
	}
	return info, e.evidence(ctx, "restore", e.clauseOf(man.Class), subjectOf(man), time.Time{}, slokeeper.OutcomeOK,
		fmt.Sprintf("%d records restored", info.Records))
}

// RestoreAccount makes an account's backup its whole data again (the
// account must be active) and records it as evidence.
func (e *Executor) RestoreAccount(ctx context.Context, man *backup.Manifest, progress func(done, total int64)) (int, error) {
	as, err := e.cfg.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{ID: man.Account})
	if err != nil {
		return 0, err
	}
	if len(as) == 0 || as[0].Status != slokeeper.AccountActive {
		return 0, slokeeper.Errorf(slokeeper.ECONFLICT, "Account %s is not active: its backups are not restored.", man.Account)
	}
	n, err := e.cfg.Backups.RestoreAccount(ctx, man, progress)
	if err != nil {
		return 0, err
	}
	return n, e.evidence(ctx, "restore", e.clauseOf(man.Class), subjectOf(man), time.Time{}, slokeeper.OutcomeOK,
		fmt.Sprintf("the account's data replaced by the snapshot's %d items", n))
}

// Destination is another data directory a full restore fills.
type Destination struct {
	Logs     *logstore.Store
	Accounts slokeeper.AccountService
}

// Restored says what RestoreAll restored.
type Restored struct {
	Partitions, Records int64
	Accounts, Items     int
	Empty               int      // accounts recreated without data: deleted, or with no backup
	Skipped             []string // what could not be restored, and why
	Failed              int      // log days and accounts no backup of which could be restored
}

// RestoreAll restores, into another data directory, the newest backup
// made by at (zero: any) of every log day and of every account whose data
// is still kept, that verifies as it is restored (every restore checks the
// whole object, its decryption and its count): one that is missing or
// does not verify is reported in Skipped and the next older one is tried.
// A catalog rebuilt from the target has no verification yet; the restore
// is it. Every account of the catalog's database is recreated as it was:
// a deletion under way stays under way, and a deleted account comes back
// deleted and without data (its key is destroyed; its backups cannot be
// read anyway). progress, if set, is told each backup as it is restored.
func (e *Executor) RestoreAll(ctx context.Context, to Destination, at time.Time, progress func(subject string)) (*Restored, error) {
	recs, err := e.cfg.Catalog.FindBackups(ctx, slokeeper.BackupFilter{SkipManifest: true})
	if err != nil {
		return nil, err
	}
	cands := map[[3]string][]*slokeeper.BackupRecord{} // (class, account or day) → backups, newest first
	for _, r := range recs {
		if !at.IsZero() && r.Created.After(at) {
			continue
		}
		k := [3]string{r.Class, r.Account, r.Day}
		if r.Account != "" {
			k[2] = "" // an account's newest snapshot, whatever its day
		}
		cands[k] = append(cands[k], r)
	}
	accounts := map[string]*slokeeper.Account{}
	if e.cfg.Accounts != nil {
		as, err := e.cfg.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{})
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			accounts[a.ID] = a
		}
	}
	out := &Restored{}
	restored := map[string]bool{} // accounts
	for _, k := range slices.SortedFunc(maps.Keys(cands), func(a, b [3]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]), cmp.Compare(a[2], b[2]))
	}) {
		if k[1] != "" {
			if src := accounts[k[1]]; src == nil || src.Status == slokeeper.AccountDeleted {
				why := "was deleted"
				if src == nil {
					why = "is not in the catalog's database (after losing it: slokeeper backup catalog rebuild)"
				}
				out.Skipped = append(out.Skipped, "account:"+k[1]+" "+why+": its data is not brought back")
				continue
			}
		}
		backups := cands[k]
		slices.SortFunc(backups, func(x, y *slokeeper.BackupRecord) int {
			return cmp.Or(y.Created.Compare(x.Created), cmp.Compare(y.ID, x.ID))
		})
		var newer []string // tried and unusable
		for _, r := range backups {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			man, err := e.Manifest(ctx, r.ID)
			if err == nil {
				err = e.restoreInto(ctx, man, to, accounts, out)
			}
			if err != nil {
				out.Skipped = append(out.Skipped, fmt.Sprintf("%s: backup %s of %s cannot be restored (%s); trying an older one",
					subjectKey(k), r.ID, r.Created.UTC().Format(time.RFC3339), slokeeper.ErrorMessage(err)))
				newer = append(newer, r.ID)
				continue
			}
			detail := "restored into another data directory"
			if len(newer) > 0 {
				detail += fmt.Sprintf(" (the newer %s could not be)", strings.Join(newer, ", "))
				out.Skipped = append(out.Skipped, fmt.Sprintf("%s: restored from the older backup %s of %s instead", subjectKey(k), r.ID, r.Created.UTC().Format(time.RFC3339)))
			}
			if err := e.evidence(ctx, "restore", e.clauseOf(man.Class), subjectOf(man), time.Time{}, slokeeper.OutcomeOK, detail); err != nil {
				return out, err
			}
			if progress != nil {
				progress(subjectOf(man))
			}
			newer = nil
			restored[k[1]] = true
			break
		}
		if len(newer) > 0 {
			out.Failed++
			out.Skipped = append(out.Skipped, fmt.Sprintf("%s: none of its %d backups could be restored", subjectKey(k), len(newer)))
		}
	}
	// The accounts no backup brought back, as they are.
	for _, id := range slices.Sorted(maps.Keys(accounts)) {
		if !restored[id] {
			if err := createAccount(ctx, to.Accounts, accounts[id]); err != nil {
				return out, err
			}
			out.Empty++
		}
	}
	if out.Failed > 0 {
		return out, slokeeper.Errorf(slokeeper.EINVALID, "%d log days or accounts could not be restored from any of their backups.", out.Failed)
	}
	return out, nil
}

// restoreInto restores one backup into the destination.
func (e *Executor) restoreInto(ctx context.Context, man *backup.Manifest, to Destination, accounts map[string]*slokeeper.Account, out *Restored) error {
	if man.Account == "" {
		info, err := e.cfg.Backups.Restore(ctx, man, to.Logs, nil)
		if err != nil {
			return err
		}
		out.Partitions, out.Records = out.Partitions+1, out.Records+info.Records
		return nil
	}
	n, err := e.cfg.Backups.RestoreAccountTo(ctx, man, to.Accounts)
	if err != nil {
		return err
	}
	if err := setAccountState(ctx, to.Accounts, accounts[man.Account]); err != nil {
		return err
	}
	out.Accounts, out.Items = out.Accounts+1, out.Items+n
	return nil
}

// subjectKey names a log day or an account in a restore's report.
func subjectKey(k [3]string) string {
	if k[1] != "" {
		return "account:" + k[1]
	}
	return k[0] + "/" + k[2]
}

// Manifest returns a cataloged backup's manifest.
func (e *Executor) Manifest(ctx context.Context, id string) (*backup.Manifest, error) {
	recs, err := e.cfg.Catalog.FindBackups(ctx, slokeeper.BackupFilter{ID: id, IncludeErased: true})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No backup %q in the catalog (try: slokeeper backup catalog rebuild).", id)
	}
	var man backup.Manifest
	if err := json.Unmarshal(recs[0].Manifest, &man); err != nil {
		return nil, fmt.Errorf("backup %s: manifest in the catalog: %w", id, err)
	}
	return &man, nil
}

func (e *Executor) do(ctx context.Context, a lifecycle.Action) (r Result) {
	r = Result{Action: a}
	subject := a.Subject()
	// Evidence that cannot be recorded fails the action: the next pass
	// does it again rather than leave it done and unproven.
	var lost error
	rec := func(ctx context.Context, action, clause, subject string, deadline time.Time, outcome, detail string) {
		if err := e.evidence(ctx, action, clause, subject, deadline, outcome, detail); err != nil && lost == nil {
			lost = err
		}
	}
	defer func() {
		if lost != nil && r.Err == nil {
			r.Err, r.Outcome, r.Detail = lost, slokeeper.OutcomeFailed, redact.Error(lost)
		}
	}()
	// Each action stands alone, bounded: the time of one that moves a
	// backup's bytes grows with their size.
	var size int64
	switch a.Kind {
	case lifecycle.Backup:
		e.mu.Lock()
		size = e.sizes[a.Class+"/"+a.Day]
		e.mu.Unlock()
	case lifecycle.Verify:
		if man, err := e.Manifest(ctx, a.BackupID); err == nil {
			size = man.ObjectSize
		}
	}
	actx, cancel := e.bounded(ctx, size)
	defer cancel()
	why := func(err error) string { return failure(actx, err) }
	switch a.Kind {
	case lifecycle.Held:
		r.Outcome, r.Detail = "held", a.Reason.EN
		rec(ctx, "erase_original", a.Clause, subject, a.Deadline, e.onTime(a, slokeeper.OutcomeFailed), a.Reason.EN)
		return r
	case lifecycle.Backup:
		_, r.Err = e.Backup(actx, a.Class, a.Account, a.Day, a.Deadline)
		if r.Err != nil {
			e.adopted.Store(false)
			rec(ctx, "backup", a.Clause, subject, a.Deadline, slokeeper.OutcomeFailed, why(r.Err))
		}
	case lifecycle.Verify:
		var man *backup.Manifest
		if man, r.Err = e.Manifest(ctx, a.BackupID); r.Err == nil {
			r.Err = e.Verify(actx, man, a.Deadline)
		}
	case lifecycle.EraseOriginal:
		if r.Err = e.stillCovered(actx, a); r.Err == nil {
			r.Err = e.cfg.Logs.Drop(actx, a.Class, a.Day)
		}
		if r.Err == nil {
			rec(ctx, "erase_original", a.Clause, subject, a.Deadline, e.onTime(a, slokeeper.OutcomeOK), "the day partition was erased from the service")
		} else {
			rec(ctx, "erase_original", a.Clause, subject, a.Deadline, slokeeper.OutcomeFailed, why(r.Err))
		}
	case lifecycle.EraseBackup:
		var man *backup.Manifest
		var erased backup.Erasure
		if man, r.Err = e.Manifest(ctx, a.BackupID); r.Err == nil {
			if erased, r.Err = e.cfg.Backups.Erase(actx, man); r.Err == nil {
				r.Err = e.cfg.Catalog.MarkBackupErased(actx, a.BackupID, e.cfg.Clock.Now())
			}
		}
		if r.Err == nil {
			rec(ctx, "erase_backup", a.Clause, subject, a.Deadline, e.onTime(a, slokeeper.OutcomeOK), erased.Detail())
		} else {
			rec(ctx, "erase_backup", a.Clause, subject, a.Deadline, slokeeper.OutcomeFailed, why(r.Err))
		}
	case lifecycle.EraseAccount:
		var n int
		if n, r.Err = e.cfg.Vault.EraseAccountData(actx, a.Account); r.Err == nil {
			rec(ctx, "erase_account", a.Clause, subject, a.Deadline, e.onTime(a, slokeeper.OutcomeOK), fmt.Sprintf("%d items erased from the service", n))
		} else {
			rec(ctx, "erase_account", a.Clause, subject, a.Deadline, slokeeper.OutcomeFailed, why(r.Err))
		}
	case lifecycle.DestroyKey:
		if r.Err = e.cfg.Vault.DestroyAccountKey(actx, a.Account); r.Err == nil {
			rec(ctx, "destroy_key", a.Clause, subject, a.Deadline, e.onTime(a, slokeeper.OutcomeOK), "the account's key was destroyed: no copy of its data can be decrypted")
		} else {
			rec(ctx, "destroy_key", a.Clause, subject, a.Deadline, slokeeper.OutcomeFailed, why(r.Err))
		}
	default:
		r.Err = fmt.Errorf("lifecycle: unknown action %q", a.Kind)
	}
	if r.Err != nil {
		r.Outcome, r.Detail = slokeeper.OutcomeFailed, why(r.Err)
	} else {
		r.Outcome = e.onTime(a, slokeeper.OutcomeOK)
	}
	return r
}

// removeLeftovers removes what killed backups left on the target, older
// than LeftoverAge, with evidence of each object removed under the clause
// of the data it was a backup of. A failure is the pass's error; the pass
// goes on.
func (e *Executor) removeLeftovers(ctx context.Context, now time.Time) error {
	const step = "remove leftovers"
	if _, wait := e.waiting(step, now); wait {
		return nil
	}
	actx, cancel := e.bounded(ctx, 0)
	defer cancel()
	removed, err := e.cfg.Backups.RemoveLeftovers(actx, now.Add(-e.cfg.LeftoverAge))
	e.triedKey(step, err != nil, now)
	var lost []error // evidence of a removal is never dropped silently: the pass fails with it
	for _, r := range removed {
		lost = append(lost, e.evidence(ctx, "remove_leftover", e.clauseOfKey(r.Key), r.Key, time.Time{}, slokeeper.OutcomeOK,
			fmt.Sprintf("removed what a backup that never finished left on the target: %d bytes, last written %s", r.Size, r.Modified.UTC().Format(time.RFC3339))))
	}
	if err != nil {
		return fmt.Errorf("lifecycle: remove leftovers: %s", failure(actx, err))
	}
	if err := errors.Join(lost...); err != nil {
		return fmt.Errorf("lifecycle: remove leftovers: evidence: %w", err)
	}
	return nil
}

// mirrorAccounts runs MirrorAccounts as a step of the pass: bounded in
// time, with backoff, its failure the pass's error and never a stop.
func (e *Executor) mirrorAccounts(ctx context.Context, now time.Time) error {
	const step = "mirror account states"
	if _, wait := e.waiting(step, now); wait {
		return nil
	}
	actx, cancel := e.bounded(ctx, 0)
	defer cancel()
	err := e.MirrorAccounts(actx)
	e.triedKey(step, err != nil, now)
	if err != nil {
		return fmt.Errorf("lifecycle: mirror the accounts' states on the target (the pass goes on without): %s", failure(actx, err))
	}
	return nil
}

// clauseOfKey returns the clause of the data an object on the target
// holds: "[manifests/]logs/CLASS/…" or "[manifests/]user/…".
func (e *Executor) clauseOfKey(key string) string {
	parts := strings.Split(strings.TrimPrefix(key, "manifests/"), "/")
	switch {
	case parts[0] == "user":
		return policy.ClauseUserData
	case parts[0] == "logs" && len(parts) > 1:
		if c := e.clauseOf(parts[1]); c != "" {
			return c
		}
	}
	return policy.ClauseSecurity // not a backup of slokeeper's: still, what was removed is on record
}

// onTime returns ok, or late when the action is past its deadline.
func (e *Executor) onTime(a lifecycle.Action, ok string) string {
	if a.Late(e.cfg.Clock.Now()) {
		return slokeeper.OutcomeLate
	}
	return ok
}

func (e *Executor) evidence(ctx context.Context, action, clause, subject string, deadline time.Time, outcome, detail string) error {
	if clause == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), evidenceTimeout)
	defer cancel()
	return slokeeper.RecordEvidenceRetrying(ctx, e.cfg.Evidence, &slokeeper.Evidence{At: e.cfg.Clock.Now(), Clause: clause, Action: action, Subject: subject,
		Deadline: deadline, Outcome: outcome, Detail: detail, Node: e.cfg.Node})
}

// clauseOf returns the clause a backup class's data is kept under.
func (e *Executor) clauseOf(class string) string {
	if class == "user" {
		return policy.ClauseUserData
	}
	nc, _ := e.cfg.Policy.Data.LogClass(class)
	return nc.Clause
}
