package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"slokeeper"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
)

// LifecycleArgs is a lifecycle pass: backups, verification and erasure,
// as the policy has them due. The leader schedules one every
// LifecycleInterval; "slokeeper lifecycle run" asks for one (Queue).
type LifecycleArgs struct{}

// Kind implements river.JobArgs.
func (LifecycleArgs) Kind() string { return "lifecycle" }

// lifecycleQueue is the queue lifecycle passes run on, one at a time on
// each node; the pass lock makes it one at a time for the cluster.
const lifecycleQueue = "lifecycle"

type lifecycleWorker struct {
	river.WorkerDefaults[LifecycleArgs]
	pass func(context.Context) (any, error)
	log  func(msg string, args ...any)
}

// Work runs one pass and records what it did as the job's output, for the
// command that asked for it. Failed actions are evidence already and the
// next pass retries them, so the job itself does not fail for them.
func (w *lifecycleWorker) Work(ctx context.Context, job *river.Job[LifecycleArgs]) error {
	out, err := w.pass(ctx)
	var busy *slokeeper.PassBusyError
	switch {
	case errors.As(err, &busy):
		w.log("lifecycle pass: not run here: "+busy.Text("en"), "holder", busy.Holder.Node)
	case err != nil:
		w.log("lifecycle pass: some actions failed; the next pass retries them", "err", err)
	}
	if out != nil {
		if rerr := river.RecordOutput(ctx, out); rerr != nil {
			w.log("lifecycle pass: its results could not be kept for the job; they are in evidence", "err", rerr)
		}
	}
	return nil
}

// Timeout: a pass may back up a large day partition; it has no limit but
// shutdown.
func (w *lifecycleWorker) Timeout(*river.Job[LifecycleArgs]) time.Duration { return -1 }

// requestOpts: a requested pass joins one that is waiting or running
// rather than queue beside it (River's unique jobs; these four states are
// the fewest River allows), so cron and people asking at once make one
// pass, not several.
var requestOpts = river.InsertOpts{
	Queue: lifecycleQueue, MaxAttempts: 1,
	UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
	}},
}

// Queue puts work on the job queue without working it: a command asks
// the running server for a lifecycle pass and waits for its outcome.
type Queue struct {
	insert func(context.Context, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error)
	get    func(context.Context, int64) (*rivertype.JobRow, error)
}

// NewSQLiteQueue returns a Queue on an SQLite database whose job tables a
// server has created. db must be the single write connection.
func NewSQLiteQueue(db *sql.DB) (*Queue, error) { return newQueue(riversqlite.New(db)) }

// NewPostgresQueue returns a Queue on a PostgreSQL pool whose job tables
// a server has created.
func NewPostgresQueue(pool *pgxpool.Pool) (*Queue, error) { return newQueue(riverpgxv5.New(pool)) }

func newQueue[TTx any](driver riverdriver.Driver[TTx]) (*Queue, error) {
	// No queues and no workers: this client only inserts and reads jobs.
	c, err := river.NewClient(driver, &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	return &Queue{insert: c.Insert, get: c.JobGet}, nil
}

// LifecycleJob is a requested lifecycle pass as the queue has it.
type LifecycleJob struct {
	ID int64
	// Joined: a pass was already waiting or running, and this is it.
	Joined bool
	State  string // River's job state: available, running, completed, …
	// Started is when the pass began (zero while it waits); Finished
	// when it ended (zero until then).
	Started, Finished time.Time
	// Output is what the pass recorded (JSON), once it has finished.
	Output []byte
	// Errors are the job's own failures (a crash, a panic), not the
	// pass's failed actions, which are in Output and in evidence.
	Errors []string
}

// Done reports whether the job has ended, one way or another.
func (j LifecycleJob) Done() bool { return !j.Finished.IsZero() }

// OK reports whether the pass ran to its end (its actions may still
// have failed: see Output).
func (j LifecycleJob) OK() bool { return j.State == string(rivertype.JobStateCompleted) }

// RequestLifecycle asks for a lifecycle pass: it queues one, or returns
// the one already waiting or running (Joined).
func (q *Queue) RequestLifecycle(ctx context.Context) (LifecycleJob, error) {
	opts := requestOpts
	res, err := q.insert(ctx, LifecycleArgs{}, &opts)
	if err != nil {
		return LifecycleJob{}, fmt.Errorf("job queue: request a lifecycle pass: %w", err)
	}
	j := lifecycleJob(res.Job)
	j.Joined = res.UniqueSkippedAsDuplicate
	return j, nil
}

// LifecycleJob returns the job's state now.
func (q *Queue) LifecycleJob(ctx context.Context, id int64) (LifecycleJob, error) {
	row, err := q.get(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return LifecycleJob{}, fmt.Errorf("job queue: lifecycle job %d is gone", id)
	}
	if err != nil {
		return LifecycleJob{}, fmt.Errorf("job queue: lifecycle job %d: %w", id, err)
	}
	return lifecycleJob(row), nil
}

// WaitLifecycle polls the job every poll until it has ended or ctx ends,
// telling progress (if set) what each poll found.
func (q *Queue) WaitLifecycle(ctx context.Context, id int64, poll time.Duration, progress func(LifecycleJob)) (LifecycleJob, error) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		j, err := q.LifecycleJob(ctx, id)
		if err != nil {
			return j, err
		}
		if progress != nil {
			progress(j)
		}
		if j.Done() {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-t.C:
		}
	}
}

func lifecycleJob(row *rivertype.JobRow) LifecycleJob {
	j := LifecycleJob{ID: row.ID, State: string(row.State)}
	if row.AttemptedAt != nil {
		j.Started = *row.AttemptedAt
	}
	if row.FinalizedAt != nil {
		j.Finished = *row.FinalizedAt
		j.Output = row.Output()
	}
	for _, e := range row.Errors {
		j.Errors = append(j.Errors, e.Error)
	}
	return j
}
