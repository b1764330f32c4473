package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/internal/jobs"
	"slokeeper/internal/reconcile"
	"slokeeper/internal/redact"
	"slokeeper/lifecycle"
)

// passReport is a lifecycle pass's results as the job queue keeps them
// (the job's output), for "lifecycle run" when it asked the server.
type passReport struct {
	Results []passResult `json:"results"`
	More    int          `json:"more,omitempty"`  // results left out past maxReported
	Error   string       `json:"error,omitempty"` // the pass's first failure, redacted
	// Busy: the pass did not run, another node's pass held the cluster's
	// pass lock.
	Busy *slokeeper.PassHolder `json:"busy,omitempty"`
}

type passResult struct {
	lifecycle.Action
	Outcome string
	Detail  string
	Failed  bool `json:",omitempty"`
}

// maxReported bounds a pass's output in the job's row; whatever is left
// out is evidence all the same.
const maxReported = 5000

func newPassReport(res []reconcile.Result, err error) *passReport {
	rep := &passReport{Results: []passResult{}}
	for i, r := range res {
		if i == maxReported {
			rep.More = len(res) - i
			break
		}
		rep.Results = append(rep.Results, passResult{Action: r.Action, Outcome: r.Outcome, Detail: redact.String(r.Detail), Failed: r.Err != nil})
	}
	if err != nil {
		rep.Error = passError(err)
	}
	if busy := (*slokeeper.PassBusyError)(nil); errors.As(err, &busy) {
		rep.Busy = &busy.Holder
	}
	return rep
}

// jobStates names the job queue's states for people.
var jobStates = map[string][2]string{
	"available": {"待機中", "queued"}, "scheduled": {"待機中", "queued"}, "pending": {"待機中", "queued"},
	"running": {"実行中", "running"}, "completed": {"終了", "ended"}, "retryable": {"再試行待ち", "retry later"},
	"discarded": {"失敗", "failed"}, "cancelled": {"取り消し", "cancelled"},
}

func langIndex(lang string) int {
	if lang == "en" {
		return 1
	}
	return 0
}

// serverPoll is how often "lifecycle run" looks at the job it asked for.
const serverPoll = 500 * time.Millisecond

// runLifecycleOnServer is "lifecycle run" beside a running server, which
// holds the log store (and seals): it asks the server for a pass on the
// job queue in the shared database, waits up to wait for it to end and
// prints its results. A pass already waiting or running is joined, never
// run beside; one that was already running when asked is waited for and
// followed by a fresh one, which sees the state as of the request.
func runLifecycleOnServer(ctx context.Context, cfg Config, store *Store, wait time.Duration, lang string, stdout, stderr io.Writer) error {
	pol, err := loadPolicy(cfg.Policy, discardLogger())
	if err != nil {
		return err
	}
	ledger, err := openLedger(cfg, store, slokeeper.SystemClock{})
	if err != nil {
		return err
	}
	q, err := store.NewQueue()
	if err != nil {
		return err
	}
	asked := time.Now()
	if _, err := ledger.Record(ctx, cliActor(), "lifecycle.run", "logs", localDetail("a pass asked of the running server through the job queue")); err != nil {
		return err
	}
	say := func(ja, en string, args ...any) {
		if lang == "en" {
			fmt.Fprintf(stderr, en+"\n", args...)
		} else {
			fmt.Fprintf(stderr, ja+"\n", args...)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var job jobs.LifecycleJob
	for try := 0; ; try++ {
		if job, err = q.RequestLifecycle(wctx); err != nil {
			return err
		}
		fresh := !job.Joined || job.Started.IsZero() // it starts after the request
		switch {
		case !job.Joined:
			say("稼働中のサーバーがログストアを使用中のため、このパスはサーバーが実行します(ジョブ %d)。最大 %s 待ちます。",
				"The running server holds the log store: it runs this pass (job %d). Waiting up to %s.", job.ID, wait)
		case fresh:
			say("稼働中のサーバーで待機中のパス(ジョブ %d)に合流します。最大 %s 待ちます。",
				"Joining the pass already queued on the running server (job %d). Waiting up to %s.", job.ID, wait)
		default:
			say("稼働中のサーバーでパス(ジョブ %d)が実行中です。終了を待ってから新しいパスを依頼します。",
				"The running server is already running a pass (job %d); waiting for it to end, then asking for a fresh one.", job.ID)
		}
		last, lastAt := "", time.Now()
		job, err = q.WaitLifecycle(wctx, job.ID, serverPoll, func(j jobs.LifecycleJob) {
			if j.State == last && time.Since(lastAt) < time.Minute {
				return
			}
			last, lastAt = j.State, time.Now()
			st := jobStates[j.State]
			if st[0] == "" {
				st = [2]string{j.State, j.State}
			}
			say("ジョブ %d: %s (%s 経過)", "job %d: %s (%s elapsed)", j.ID, st[langIndex(lang)], time.Since(asked).Round(time.Second))
		})
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("the server's lifecycle pass (job %d, %s) has not ended within --wait %s; it goes on, and what it does is evidence: slokeeper evidence list --since %s",
				job.ID, job.State, wait, asked.Format(time.RFC3339))
		}
		if err != nil {
			return err
		}
		if fresh || try > 0 {
			break
		}
	}
	if !job.OK() {
		return fmt.Errorf("the server's lifecycle pass (job %d) ended %s: %s; what it did is evidence: slokeeper evidence list --since %s",
			job.ID, job.State, strings.Join(job.Errors, "; "), asked.Format(time.RFC3339))
	}
	return printPassReport(job.ID, job.Output, asked, pol.Location(), lang, stdout, say)
}

// passError is a failed pass's cause as operators read it: a domain
// error's message, else the error itself (never "Internal error.": the
// command line is staff's, and the cause is what they act on), redacted.
func passError(err error) string {
	if slokeeper.ErrorCode(err) != slokeeper.EINTERNAL {
		return redact.String(slokeeper.ErrorMessage(err))
	}
	return redact.Error(err)
}
