package reconcile

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// ActionRestoreDrill is the evidence action of a restore drill: one per
// backup restored, or one per class when its drill could not run.
const ActionRestoreDrill = "restore_drill"

// DrillClasses are the backup classes drills sample, in order.
var DrillClasses = []string{"system", "user", "exec"}

// DrillRequest asks for a drill. Zero fields take the policy's values.
type DrillRequest struct {
	Class  string // "system", "user" or "exec"; "" every class with a drill in the policy
	Sample int    // backups per class; 0: the policy's
	Seed   uint64 // 0: one drawn from the clock, recorded in the evidence
}

// DrillResult is one backup a drill restored, or a class whose drill could
// not run (Backup empty). Its evidence is recorded already.
type DrillResult struct {
	Class    string        `json:"class"`
	Backup   string        `json:"backup,omitempty"`
	Subject  string        `json:"subject"`
	Seed     uint64        `json:"seed"`
	OK       bool          `json:"ok"`
	Cause    string        `json:"cause,omitempty"`
	Records  int64         `json:"records"`
	Duration time.Duration `json:"-"`
	// DurationMS is Duration in milliseconds, as evidence keeps it.
	DurationMS int64 `json:"duration_ms"`
}

// drillPolicy returns the policy's drill of a backup class and the clause
// its evidence is for.
func (e *Executor) drillPolicy(class string) (*policy.Drill, string) {
	if class == "user" {
		return e.cfg.Policy.Data.User().Drill, policy.ClauseUserData
	}
	nc, ok := e.cfg.Policy.Data.LogClass(class)
	if !ok {
		return nil, ""
	}
	return nc.Drill, nc.Clause
}

// DrillsDue returns the backup classes whose drill the policy has due at
// now: those with no restore_drill evidence within its cadence.
func (e *Executor) DrillsDue(ctx context.Context, now time.Time) ([]string, error) {
	var due []string
	for _, class := range DrillClasses {
		d, clause := e.drillPolicy(class)
		if d == nil {
			continue
		}
		_, n, err := e.cfg.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Clause: clause, Action: ActionRestoreDrill, Since: d.Every.SubFrom(now), Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("restore drills due: %w", err)
		}
		if n == 0 {
			due = append(due, class)
		}
	}
	return due, nil
}

// Drill restores a seeded random sample of each class's live backups
// into a scratch area (Config.Scratch), through the same restore a full
// restore uses, checks what came back against the manifest (record count
// and checksum, beside the object's own size, SHA-256 and decryption,
// which every restore checks), times it on the clock, removes the scratch
// data and records each as evidence: restore_drill, the backup as
// subject, ok or failed with the cause, and the duration. A class that
// cannot be drilled (no backup, no scratch area, the catalog down) is
// evidence too, failed with the reason.
func (e *Executor) Drill(ctx context.Context, req DrillRequest) ([]DrillResult, error) {
	classes := DrillClasses
	if req.Class != "" {
		if _, clause := e.drillPolicy(req.Class); clause == "" {
			return nil, slokeeper.Errorf(slokeeper.EINVALID, "Class %q is not system, user or exec.", req.Class)
		}
		classes = []string{req.Class}
	}
	if req.Sample < 0 || req.Sample > policy.MaxDrillSample {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "A drill samples 1 to %d backups, not %d.", policy.MaxDrillSample, req.Sample)
	}
	if req.Seed == 0 {
		req.Seed = uint64(e.cfg.Clock.Now().UnixNano())
	}
	var out []DrillResult
	var first error
	for _, class := range classes {
		d, clause := e.drillPolicy(class)
		n := req.Sample
		switch {
		case n > 0:
		case d != nil:
			n = d.Sample
		case req.Class != "":
			n = 1 // asked for by name, of a class the policy does not drill
		default:
			continue // the policy drills nothing of this class
		}
		res, err := e.drillClass(ctx, class, clause, n, req.Seed)
		out = append(out, res...)
		if err != nil && first == nil {
			first = err
		}
	}
	return out, first
}

func (e *Executor) drillClass(ctx context.Context, class, clause string, n int, seed uint64) ([]DrillResult, error) {
	cannot := func(cause string) ([]DrillResult, error) {
		r := DrillResult{Class: class, Subject: class, Seed: seed, Cause: cause}
		err := e.drillEvidence(ctx, clause, r, fmt.Sprintf("seed %d: the drill could not run: %s", seed, cause))
		return []DrillResult{r}, err
	}
	recs, err := e.cfg.Catalog.FindBackups(ctx, slokeeper.BackupFilter{Class: class, SkipManifest: true})
	if err != nil {
		return cannot("the backup catalog cannot be read: " + failure(ctx, err))
	}
	if len(recs) == 0 {
		return cannot("no backup of the class in the catalog")
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	sample := lifecycle.DrillSample(ids, n, seed)
	var out []DrillResult
	var first error
	for _, id := range sample {
		r := e.drillOne(ctx, class, id, seed)
		detail := fmt.Sprintf("seed %d, %d of %d backups: %d records restored and checked against the manifest", seed, len(sample), len(ids), r.Records)
		if !r.OK {
			detail = fmt.Sprintf("seed %d, %d of %d backups: %s", seed, len(sample), len(ids), r.Cause)
		}
		if err := e.drillEvidence(ctx, clause, r, detail); err != nil && first == nil {
			first = err
		}
		out = append(out, r)
	}
	return out, first
}

// drillOne restores one backup into a fresh scratch area and removes it.
func (e *Executor) drillOne(ctx context.Context, class, id string, seed uint64) (r DrillResult) {
	r = DrillResult{Class: class, Backup: id, Subject: id, Seed: seed}
	start := e.cfg.Clock.Now()
	defer func() {
		r.Duration = max(e.cfg.Clock.Now().Sub(start), 0).Truncate(time.Millisecond)
		r.DurationMS = r.Duration.Milliseconds()
	}()
	fail := func(err error) DrillResult {
		r.Cause = failure(ctx, err)
		return r
	}
	man, err := e.Manifest(ctx, id)
	if err != nil {
		return fail(err)
	}
	r.Subject = subjectOf(man)
	if e.cfg.Scratch == nil {
		return fail(slokeeper.Errorf(slokeeper.EUNAVAILABLE, "This node has no scratch area for restore drills."))
	}
	to, remove, err := e.cfg.Scratch(ctx)
	if err != nil {
		return fail(fmt.Errorf("scratch area: %w", err))
	}
	defer remove()
	got, checksum, err := e.restoreOne(ctx, man, to)
	if err != nil {
		return fail(err)
	}
	r.Records = got
	if got != man.Records || checksum != "" && checksum != man.Checksum {
		return fail(slokeeper.Errorf(slokeeper.EINVALID, "Backup %s restored %d records (%s); its manifest says %d (%s).", man.ID, got, checksum, man.Records, man.Checksum))
	}
	r.OK = true
	return r
}

// restoreOne is a real restore of one backup into to: the calls
// RestoreAll makes. It returns the records or items restored and, of a
// log partition, its checksum.
func (e *Executor) restoreOne(ctx context.Context, man *backup.Manifest, to Destination) (int64, string, error) {
	if man.Account == "" {
		info, err := e.cfg.Backups.Restore(ctx, man, to.Logs, nil)
		if err != nil {
			return 0, "", err
		}
		return info.Records, info.Checksum, nil
	}
	n, err := e.cfg.Backups.RestoreAccountTo(ctx, man, to.Accounts)
	return int64(n), "", err
}

func (e *Executor) drillEvidence(ctx context.Context, clause string, r DrillResult, detail string) error {
	outcome := slokeeper.OutcomeOK
	if !r.OK {
		outcome = slokeeper.OutcomeFailed
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), evidenceTimeout)
	defer cancel()
	return slokeeper.RecordEvidenceRetrying(ctx, e.cfg.Evidence, &slokeeper.Evidence{At: e.cfg.Clock.Now(), Clause: clause, Action: ActionRestoreDrill,
		Subject: r.Subject, Outcome: outcome, Detail: strings.TrimSpace(detail), Node: e.cfg.Node, Duration: r.Duration})
}

// drillsInPass runs, at the end of a lifecycle pass and under its lock
// (one node drills at a time), the drills the policy has due, and
// reports each as a result of the pass. It returns first, or the
// drills' first failure to record evidence.
func (e *Executor) drillsInPass(ctx context.Context, fence func() error, done func(Result), first error) error {
	if e.cfg.Scratch == nil {
		return first
	}
	if err := fence(); err != nil {
		return err
	}
	due, err := e.DrillsDue(ctx, e.cfg.Clock.Now())
	if err != nil {
		return cmp.Or(first, err)
	}
	for _, class := range due {
		if err := fence(); err != nil {
			return err
		}
		res, err := e.Drill(ctx, DrillRequest{Class: class})
		for _, r := range res {
			out := Result{Action: lifecycle.Action{Kind: ActionRestoreDrill, Class: class, Day: r.Subject,
				Reason: policy.Text{JA: "方針の復元訓練の周期", EN: "the policy's restore-drill cadence"}}, Outcome: slokeeper.OutcomeOK,
				Detail: fmt.Sprintf("restored and checked in %s", r.Duration)}
			if !r.OK {
				out.Outcome, out.Detail = slokeeper.OutcomeFailed, r.Cause
			}
			done(out)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
