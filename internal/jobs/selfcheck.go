package jobs

import (
	"context"
	"time"

	"slokeeper"
	"slokeeper/policy"

	"github.com/riverqueue/river"
)

// SelfCheckArgs is the periodic self-check job.
type SelfCheckArgs struct{}

// Kind implements river.JobArgs.
func (SelfCheckArgs) Kind() string { return "self_check" }

// SelfCheck checks that this node can do its work (its store answers and
// is migrated) and records the result as evidence for the availability
// clause: a trail of slokeeper's own health, node by node.
type SelfCheck struct {
	Evidence slokeeper.EvidenceService
	Ready    func(context.Context) error
	Clock    slokeeper.Clock
	Node     string
	// Interval is the schedule: a check that runs later than one interval
	// after it was due is recorded as late.
	Interval time.Duration
}

// RunOnce checks once. due is when the check was scheduled to run.
func (c *SelfCheck) RunOnce(ctx context.Context, due time.Time) error {
	e := &slokeeper.Evidence{
		At:       c.Clock.Now(),
		Clause:   policy.ClauseAvailability,
		Action:   "self_check",
		Subject:  "slokeeper",
		Deadline: due.Add(c.Interval),
		Outcome:  slokeeper.OutcomeOK,
		Detail:   "store reachable and migrated",
		Node:     c.Node,
	}
	if err := c.Ready(ctx); err != nil {
		e.Outcome = slokeeper.OutcomeFailed
		e.Detail = "store not ready: " + slokeeper.ErrorMessage(err)
	} else if e.At.After(e.Deadline) {
		e.Outcome = slokeeper.OutcomeLate
		e.Detail = "store reachable and migrated; the check ran late"
	}
	return c.Evidence.RecordEvidence(ctx, e)
}

type selfCheckWorker struct {
	river.WorkerDefaults[SelfCheckArgs]
	check *SelfCheck
}

func (w *selfCheckWorker) Work(ctx context.Context, job *river.Job[SelfCheckArgs]) error {
	return w.check.RunOnce(ctx, job.ScheduledAt)
}
