package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/reconcile"
	"slokeeper/lifecycle"
)

const lifecycleUsage = `Usage:
  slokeeper lifecycle plan [--at TIME] [--lang ja|en]   what a pass would do, why, and by when
  slokeeper lifecycle run [--progress] [--wait 30m]     one pass now: seal, back up, verify, erase

TIME is RFC 3339 (2027-01-05T10:00:00+09:00) or a day (2027-01-05, at
midnight in the policy's time zone). A running server runs the lifecycle
itself every lifecycle_interval. "run" with no server running (a stopped
one, or cron with lifecycle_interval: 0) seals the days that have closed
first, then plans and acts. Beside a running server, which holds the log
store, "run" asks the server for the pass through the job queue, waits
for it (--wait, progress on stderr) and prints its results; a pass
already queued or running is joined, never run beside. Each action is bounded by
--lifecycle-action-timeout (5m, plus a second per MiB it moves); a backup
target that is down or hangs fails the actions that need it, with
evidence, and the others go on.

After slokeeper login (or with SLOKEEPER_SERVER), plan and run go through
the server's API as you (run: admin or operator; the server's job queue
runs the pass), and the ledger records you. Without a sign-in:
` + directStoreHelp

// lifecycleKind names an action's kind for people (i: 0 ja, 1 en): the
// planner's, and the pass's own steps.
func lifecycleKind(kind string, i int) string {
	switch kind {
	case reconcile.Seal:
		return [2]string{"封印", "seal"}[i]
	case reconcile.PassLock:
		return [2]string{"パスのロック", "pass lock"}[i]
	}
	t := lifecycle.KindNames[kind]
	return [2]string{t.JA, t.EN}[i]
}

// passLockWait is how long a pass waits for one under way on another node
// (the cluster runs one at a time) before it reports that node.
const passLockWait = 10 * time.Second

// lifecycleStates names an action's state for people.
var lifecycleStates = map[string][2]string{
	lifecycle.StateDue: {"予定", "due"}, "LATE": {"期限超過", "LATE"}, // LATE: a planned action past its deadline
	slokeeper.OutcomeOK: {"完了", "ok"}, slokeeper.OutcomeLate: {"完了(遅延)", "late"},
	slokeeper.OutcomeFailed: {"失敗", "failed"}, "held": {"保留", "held"},
	reconcile.Deferred: {"再試行待ち", "retry later"},
}

func runLifecycle(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "plan" && args[0] != "run") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, lifecycleUsage)
			return nil
		}
		fmt.Fprint(stderr, lifecycleUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("lifecycle "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, lifecycleUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "data", "db", "master-key", "keys-db", "policy", "backup-target", "backup-target-ca", "lifecycle-action-timeout")
	var at, lang string
	var progress bool
	var wait time.Duration
	fs.StringVar(&lang, "lang", "ja", "language: ja or en")
	if sub == "plan" {
		fs.StringVar(&at, "at", "", "plan as of this time (default: now)")
	} else {
		fs.BoolVar(&progress, "progress", false, "print each action to stderr as it ends")
		fs.DurationVar(&wait, "wait", 30*time.Minute, "beside a running server: how long to wait for the pass it runs")
	}
	server, err := cliServer(getenv)
	if err != nil {
		return err
	}
	if server != "" {
		if err := parseFlags(fs, args, stderr); err != nil {
			return err
		}
		if err := checkLifecycleFlags(sub, lang, wait, stderr); err != nil {
			return err
		}
		c, err := newAPIClient(getenv)
		if err != nil {
			return err
		}
		if sub == "plan" {
			return lifecyclePlanAPI(ctx, c, at, lang, stdout)
		}
		return lifecycleRunAPI(ctx, c, wait, lang, stdout, stderr)
	}
	cfg, store, err := openForCommand(ctx, fs, cf, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := checkLifecycleFlags(sub, lang, wait, stderr); err != nil {
		return err
	}
	lt, err := openLifecycle(ctx, cfg, store, sub == "run")
	if sub == "run" && slokeeper.ErrorCode(err) == slokeeper.ECONFLICT {
		// A server holds the log store: it seals, so it runs the pass.
		return runLifecycleOnServer(ctx, cfg, store, wait, lang, stdout, stderr)
	}
	if err != nil {
		return err
	}
	defer lt.Close()
	loc := lt.Policy.Location()
	when := lt.Clock.Now()
	if at != "" {
		if when, err = parseAt(at, loc); err != nil {
			fmt.Fprintf(stderr, "lifecycle plan: %v\n", err)
			return errUsage
		}
	}
	if sub == "plan" {
		inv, err := lt.exec.Inventory(ctx)
		if err != nil {
			return err
		}
		actions, err := lifecycle.Plan(lt.Policy, inv, when)
		if err != nil {
			return err
		}
		if err := printActions(stdout, actions, nil, when, loc, lang); err != nil {
			return err
		}
		printSuperseded(stdout, inv, lang)
		return nil
	}
	if _, err := lt.Ledger.Record(ctx, cliActor(), "lifecycle.run", "logs", localDetail("")); err != nil {
		return err
	}
	if progress {
		lt.exec.Progress = func(r reconcile.Result) {
			fmt.Fprintf(stderr, "%s\t%s\t%s\n", r.Kind, r.Subject(), cmp.Or(r.Outcome, slokeeper.OutcomeOK))
		}
	}
	res, runErr := lt.exec.Run(ctx)
	if busy := (*slokeeper.PassBusyError)(nil); errors.As(runErr, &busy) {
		return errors.New(busy.Text(lang))
	}
	if err := printActions(stdout, nil, res, when, loc, lang); err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("some actions failed and will be retried by the next pass: %s", passError(runErr))
	}
	return nil
}

func checkLifecycleFlags(sub, lang string, wait time.Duration, stderr io.Writer) error {
	if lang != "ja" && lang != "en" {
		fmt.Fprintf(stderr, "lifecycle: --lang %q is not ja or en\n", lang)
		return errUsage
	}
	if wait <= 0 && sub == "run" {
		fmt.Fprintf(stderr, "lifecycle run: --wait %s is not positive\n", wait)
		return errUsage
	}
	return nil
}

func parseAt(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--at %q is neither RFC 3339 nor YYYY-MM-DD", s)
}

// printSuperseded lists the backups of a day's older content: kept under
// their own retention, never counted as covering the day as it is now.
func printSuperseded(w io.Writer, inv lifecycle.Inventory, lang string) {
	parts := map[[2]string]lifecycle.Partition{}
	for _, p := range inv.Partitions {
		parts[[2]string{p.Class, p.Day}] = p
	}
	for _, b := range lifecycle.Superseded(inv) {
		now := parts[[2]string{b.Class, b.Day}].Content()
		if lang == "en" {
			fmt.Fprintf(w, "backup %s of %s/%s holds older content (%s); the day now holds %s: kept under its own retention, not counted as its backup\n",
				b.ID, b.Class, b.Day, b.Content().EN, now.EN)
		} else {
			fmt.Fprintf(w, "バックアップ %s(%s/%s)は以前の内容(%s)を保持しています。現在の内容は %s です。自身の保存期間で保持し、この日のバックアップとはみなしません。\n",
				b.ID, b.Class, b.Day, b.Content().JA, now.JA)
		}
	}
}

// printActions prints a plan (actions) or a pass's results, one line each.
func printActions(w io.Writer, actions []lifecycle.Action, results []reconcile.Result, now time.Time, loc *time.Location, lang string) error {
	if results == nil {
		for _, a := range actions {
			results = append(results, reconcile.Result{Action: a})
		}
	}
	if len(results) == 0 {
		if lang == "ja" {
			fmt.Fprintf(w, "%s 時点で実行すべき処理はありません。\n", now.In(loc).Format("2006-01-02 15:04 MST"))
		} else {
			fmt.Fprintf(w, "Nothing is due at %s.\n", now.In(loc).Format("2006-01-02 15:04 MST"))
		}
		return nil
	}
	i, head := 0, "処理\t対象\t条項\t期限\t状態\t理由" // i: the language's index
	if lang == "en" {
		i, head = 1, "ACTION\tSUBJECT\tCLAUSE\tDEADLINE\tSTATE\tWHY"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, head)
	for _, r := range results {
		a := r.Action
		subject := a.Subject()
		deadline := ""
		if !a.Deadline.IsZero() {
			deadline = a.Deadline.In(loc).Format("2006-01-02 15:04")
		}
		state := r.Outcome
		if state == "" {
			state = lifecycle.StateDue // the kind says when it is held
			if a.Late(now) {
				state = "LATE"
			}
		}
		if st, ok := lifecycleStates[state]; ok {
			state = st[i]
		}
		why := a.Reason.JA
		if lang == "en" {
			why = a.Reason.EN
		}
		if r.Err != nil {
			why += " (" + r.Detail + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", lifecycleKind(a.Kind, i), subject, a.Clause, deadline, state, why)
	}
	return tw.Flush()
}
