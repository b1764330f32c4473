package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// LifecycleArgs is the periodic lifecycle pass: backups, verification and
// erasure, as the policy has them due.
type LifecycleArgs struct{}

// Kind implements river.JobArgs.
func (LifecycleArgs) Kind() string { return "lifecycle" }

type lifecycleWorker struct {
	river.WorkerDefaults[LifecycleArgs]
	pass func(context.Context) error
	log  func(msg string, args ...any)
}

// Work runs one pass. Failed actions are evidence already and the next
// pass retries them, so the job itself does not fail for them.
func (w *lifecycleWorker) Work(ctx context.Context, job *river.Job[LifecycleArgs]) error {
	if err := w.pass(ctx); err != nil {
		w.log("lifecycle pass: some actions failed; the next pass retries them", "err", err)
	}
	return nil
}

// Timeout: a pass may back up a large day partition; it has no limit but
// shutdown.
func (w *lifecycleWorker) Timeout(*river.Job[LifecycleArgs]) time.Duration { return -1 }
