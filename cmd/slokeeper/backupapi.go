package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"slokeeper"
	"slokeeper/internal/httpserver"
	"slokeeper/internal/reconcile"
	"slokeeper/lifecycle"
)

// backup list|sets|verify and lifecycle plan|run after slokeeper login
// (or with SLOKEEPER_SERVER): through the server's API as the signed-in
// operator, whose name the ledger records.

// backupArgs are the flags of backup list, sets and verify.
type backupArgs struct {
	id, class, account, day, lang string
	all                           bool
}

func backupAPI(ctx context.Context, c *apiClient, sub string, a backupArgs, stdout io.Writer) error {
	switch sub {
	case "list":
		q := url.Values{}
		for k, v := range map[string]string{"class": a.class, "account": a.account, "day": a.day} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if a.all {
			q.Set("all", "1")
		}
		var out struct {
			Backups []*slokeeper.BackupRecord `json:"backups"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/backups?"+q.Encode(), nil, &out); err != nil {
			return err
		}
		return printBackups(stdout, out.Backups)
	case "sets":
		if a.lang != "ja" && a.lang != "en" {
			return slokeeper.Errorf(slokeeper.EINVALID, "--lang %q is not ja or en.", a.lang)
		}
		loc, err := serverLocation(ctx, c)
		if err != nil {
			return err
		}
		var out struct {
			Sets []httpserver.BackupSet `json:"sets"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/backups/sets?"+url.Values{"class": {a.class}}.Encode(), nil, &out); err != nil {
			return err
		}
		sets := make([]lifecycle.Set, 0, len(out.Sets))
		for _, s := range out.Sets {
			sets = append(sets, s.Set())
		}
		return printSets(stdout, sets, "", a.lang, loc)
	}
	var out struct {
		Backup slokeeper.BackupRecord `json:"backup"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/backups/"+url.PathEscape(a.id)+"/verify", nil, &out); err != nil {
		return err
	}
	b := out.Backup
	if b.Account != "" {
		fmt.Fprintf(stdout, "%s verified: account %s as of %s, %d items\n", b.ID, b.Account, b.Created.Format(time.RFC3339), b.Records)
		return nil
	}
	fmt.Fprintf(stdout, "%s verified: %s/%s, %d records\n", b.ID, b.Class, b.Day, b.Records)
	return nil
}

// lifecyclePlanAPI prints the server's plan at at ("": now).
func lifecyclePlanAPI(ctx context.Context, c *apiClient, at, lang string, stdout io.Writer) error {
	loc, err := serverLocation(ctx, c)
	if err != nil {
		return err
	}
	path := "/api/v1/lifecycle/plan"
	if at != "" {
		path += "?" + url.Values{"at": {at}}.Encode()
	}
	var out struct {
		At      time.Time             `json:"at"`
		Actions []httpserver.PlanItem `json:"actions"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return err
	}
	actions := make([]lifecycle.Action, 0, len(out.Actions))
	for _, a := range out.Actions {
		actions = append(actions, a.Action())
	}
	return printActions(stdout, actions, nil, out.At, loc, lang)
}

// lifecycleRunAPI asks the server for a pass, waits up to wait for it and
// prints its results, as "lifecycle run" beside a server does.
func lifecycleRunAPI(ctx context.Context, c *apiClient, wait time.Duration, lang string, stdout, stderr io.Writer) error {
	loc, err := serverLocation(ctx, c)
	if err != nil {
		return err
	}
	say := func(ja, en string, args ...any) {
		if lang == "en" {
			fmt.Fprintf(stderr, en+"\n", args...)
		} else {
			fmt.Fprintf(stderr, ja+"\n", args...)
		}
	}
	asked := time.Now()
	var out struct {
		Run httpserver.PassJob `json:"run"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/lifecycle/runs", nil, &out); err != nil {
		return err
	}
	job := out.Run
	if job.Joined {
		say("サーバーで待機中または実行中のパス(ジョブ %d)に合流します。最大 %s 待ちます。", "Joining the pass already queued or running on the server (job %d). Waiting up to %s.", job.ID, wait)
	} else {
		say("サーバーがパスを実行します(ジョブ %d)。最大 %s 待ちます。", "The server runs the pass (job %d). Waiting up to %s.", job.ID, wait)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t := time.NewTicker(serverPoll)
	defer t.Stop()
	for job.Finished.IsZero() {
		select {
		case <-wctx.Done():
			if ctx.Err() == nil {
				return fmt.Errorf("the server's lifecycle pass (job %d, %s) has not ended within --wait %s; it goes on, and what it does is evidence: slokeeper evidence list --since %s",
					job.ID, job.State, wait, asked.Format(time.RFC3339))
			}
			return ctx.Err()
		case <-t.C:
		}
		if err := c.do(wctx, http.MethodGet, "/api/v1/lifecycle/runs/"+strconv.FormatInt(job.ID, 10), nil, &out); err != nil {
			return err
		}
		job = out.Run
	}
	if job.State != "completed" {
		return fmt.Errorf("the server's lifecycle pass (job %d) ended %s: %v; what it did is evidence: slokeeper evidence list --since %s",
			job.ID, job.State, job.Errors, asked.Format(time.RFC3339))
	}
	return printPassReport(job.ID, job.Report, asked, loc, lang, stdout, say)
}

// printPassReport prints a pass's results as the job queue kept them.
func printPassReport(id int64, output []byte, asked time.Time, loc *time.Location, lang string, stdout io.Writer, say func(ja, en string, args ...any)) error {
	var rep passReport
	if err := json.Unmarshal(output, &rep); err != nil {
		return fmt.Errorf("the server's lifecycle pass (job %d) ended but left no results; they are evidence: slokeeper evidence list --since %s",
			id, asked.Format(time.RFC3339))
	}
	if rep.Busy != nil {
		return errors.New((&slokeeper.PassBusyError{Holder: *rep.Busy}).Text(lang))
	}
	results := make([]reconcile.Result, 0, len(rep.Results))
	for _, r := range rep.Results {
		res := reconcile.Result{Action: r.Action, Outcome: r.Outcome, Detail: r.Detail}
		if r.Failed {
			res.Err = errors.New(r.Detail)
		}
		results = append(results, res)
	}
	if err := printActions(stdout, nil, results, time.Now(), loc, lang); err != nil {
		return err
	}
	if rep.More > 0 {
		say("…ほか %d 件(証跡を参照: slokeeper evidence list --since %s)", "… and %d more (see slokeeper evidence list --since %s)", rep.More, asked.Format(time.RFC3339))
	}
	if rep.Error != "" {
		return fmt.Errorf("some actions failed and will be retried by the next pass: %s", rep.Error)
	}
	return nil
}
