package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/schedule"
	"slokeeper/maintenance"
)

const maintenanceUsage = `Usage:
  slokeeper maintenance schedule --start TIME --end TIME --title-ja T --title-en T [--components a,b] [--body-ja B] [--body-en B]
  slokeeper maintenance schedule … --emergency --reason R     an emergency window, announced at once
  slokeeper maintenance reschedule ID --start TIME --end TIME [--reason R]
  slokeeper maintenance cancel ID
  slokeeper maintenance list [--all] [--lang ja|en]

TIME is RFC 3339 (2026-12-03T10:00:00+09:00). A planned window must be
announced the policy's notice ahead (maintenance.notice, 7 days by default):
one with less is refused, with the earliest start allowed. An announced
window is not downtime. Without --components it covers every component.

After slokeeper login (or with SLOKEEPER_SERVER), these go through the
server's API as you (schedule, reschedule and cancel: admin or operator),
and the ledger records you. Without a sign-in they work on the store
(list only reads it, so it also works on a stopped server's data
directory):
` + directStoreHelp

func runMaintenance(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, maintenanceUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("maintenance "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, maintenanceUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "data", "db", "policy")
	var m slokeeper.Maintenance
	var start, end, components, id, lang string
	var all bool
	switch sub {
	case "schedule", "reschedule":
		if sub == "reschedule" {
			p, rest, ok := positionalArg(args)
			if !ok {
				fmt.Fprint(stderr, "maintenance reschedule: name the window first\n")
				return errUsage
			}
			id, args = p, rest
		}
		fs.StringVar(&start, "start", "", "when it starts (RFC 3339)")
		fs.StringVar(&end, "end", "", "when it ends (RFC 3339)")
		if sub == "schedule" {
			fs.StringVar(&m.TitleJA, "title-ja", "", "title in Japanese, e.g. データベースの更新")
			fs.StringVar(&m.TitleEN, "title-en", "", "title in English")
			fs.StringVar(&m.BodyJA, "body-ja", "", "what happens, in Japanese")
			fs.StringVar(&m.BodyEN, "body-en", "", "what happens, in English")
			fs.StringVar(&components, "components", "", "affected components, comma-separated (default: all)")
			fs.BoolVar(&m.Emergency, "emergency", false, "an emergency window: announced at once, needs --reason")
			fs.StringVar(&m.Reason, "reason", "", "why an emergency window could not be announced in time")
		} else {
			fs.StringVar(&m.Reason, "reason", "", "why the window moves (recorded in the audit ledger)")
		}
	case "cancel":
		p, rest, ok := positionalArg(args)
		if !ok {
			fmt.Fprint(stderr, "maintenance cancel: name the window first\n")
			return errUsage
		}
		id, args = p, rest
	case "list":
		fs.BoolVar(&all, "all", false, "cancelled and long past windows too")
		fs.StringVar(&lang, "lang", "ja", "language: ja or en")
	case "-h", "--help", "help":
		fmt.Fprint(stdout, maintenanceUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "slokeeper maintenance: unknown command %q\n\n%s", sub, maintenanceUsage)
		return errUsage
	}
	{
		server, err := cliServer(getenv)
		if err != nil {
			return err
		}
		if server != "" {
			if err := parseFlags(fs, args, stderr); err != nil {
				return err
			}
			c, err := newAPIClient(getenv)
			if err != nil {
				return err
			}
			if sub == "list" {
				return maintenanceListAPI(ctx, c, all, lang, stdout)
			}
			return maintenanceAPI(ctx, c, sub, id, start, end, components, &m, stdout)
		}
	}
	cfg, store, err := openForCommand(ctx, fs, cf, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	pol, err := loadPolicy(cfg.Policy, discardLogger())
	if err != nil {
		return err
	}
	clock := slokeeper.SystemClock{}
	ledger, err := openLedger(cfg, store, clock)
	if err != nil {
		return err
	}
	svc := &schedule.Service{Store: store.Maintenance, Components: store.Components, Policy: pol, Clock: clock,
		Audit: func(ctx context.Context, actor, action, target, detail string) error {
			_, err := ledger.Record(ctx, actor, action, target, localDetail(detail))
			return err
		}}
	loc := pol.Location()
	times := func() (time.Time, time.Time, error) {
		s, err1 := time.Parse(time.RFC3339, start)
		e, err2 := time.Parse(time.RFC3339, end)
		if err1 != nil || err2 != nil {
			return s, e, slokeeper.Errorf(slokeeper.EINVALID, "--start and --end are RFC 3339 times, e.g. 2026-12-03T10:00:00+09:00.")
		}
		return s, e, nil
	}
	switch sub {
	case "schedule":
		if m.Start, m.End, err = times(); err != nil {
			return err
		}
		if components != "" {
			m.Components = strings.Split(components, ",")
		}
		created, err := svc.Schedule(ctx, cliActor(), &m)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "scheduled %s: %s – %s\n", created.ID, maintenance.JST(created.Start, loc, "ja"), maintenance.JST(created.End, loc, "ja"))
		return nil
	case "reschedule":
		s, e, err := times()
		if err != nil {
			return err
		}
		moved, err := svc.Reschedule(ctx, cliActor(), id, s, e, m.Reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rescheduled %s: %s – %s\n", moved.ID, maintenance.JST(moved.Start, loc, "ja"), maintenance.JST(moved.End, loc, "ja"))
		return nil
	case "cancel":
		if _, err := svc.Cancel(ctx, cliActor(), id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cancelled %s\n", id)
		return nil
	}
	if lang != "ja" && lang != "en" {
		return slokeeper.Errorf(slokeeper.EINVALID, "--lang %q is not ja or en.", lang)
	}
	now := clock.Now()
	ms, err := svc.Recent(ctx)
	if all {
		ms, err = store.Maintenance.FindMaintenances(ctx, slokeeper.MaintenanceFilter{})
	}
	if err != nil {
		return err
	}
	states := make([]string, len(ms))
	for i, m := range ms {
		states[i] = m.State(now)
	}
	return writeMaintenances(stdout, ms, states, loc, lang)
}

// maintenanceListAPI lists the windows through the server's API, in the
// server's policy's time zone.
func maintenanceListAPI(ctx context.Context, c *apiClient, all bool, lang string, stdout io.Writer) error {
	if lang != "ja" && lang != "en" {
		return slokeeper.Errorf(slokeeper.EINVALID, "--lang %q is not ja or en.", lang)
	}
	path := "/api/v1/maintenances"
	if all {
		path += "?all=1"
	}
	var out struct {
		Maintenances []struct {
			slokeeper.Maintenance
			State string `json:"state"`
		} `json:"maintenances"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return err
	}
	loc, err := serverLocation(ctx, c)
	if err != nil {
		return err
	}
	ms, states := make([]*slokeeper.Maintenance, len(out.Maintenances)), make([]string, len(out.Maintenances))
	for i := range out.Maintenances {
		ms[i], states[i] = &out.Maintenances[i].Maintenance, out.Maintenances[i].State
	}
	return writeMaintenances(stdout, ms, states, loc, lang)
}

// writeMaintenances lists windows (states[i] for ms[i]) with their times
// in loc.
func writeMaintenances(stdout io.Writer, ms []*slokeeper.Maintenance, states []string, loc *time.Location, lang string) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTART\tEND\tCOMPONENTS\tTITLE")
	for i, m := range ms {
		title := m.TitleJA
		if lang == "en" {
			title = m.TitleEN
		}
		if m.Emergency {
			title += " [emergency: " + m.Reason + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, states[i], maintenance.JST(m.Start, loc, lang), maintenance.JST(m.End, loc, lang),
			strings.Join(append([]string{}, m.Components...), ","), title)
	}
	return tw.Flush()
}

// maintenanceAPI schedules, moves or cancels a window through the
// server's API as the signed-in operator.
func maintenanceAPI(ctx context.Context, c *apiClient, sub, id, start, end, components string, m *slokeeper.Maintenance, stdout io.Writer) error {
	var s, e time.Time
	if sub != "cancel" {
		var err1, err2 error
		s, err1 = time.Parse(time.RFC3339, start)
		e, err2 = time.Parse(time.RFC3339, end)
		if err1 != nil || err2 != nil {
			return slokeeper.Errorf(slokeeper.EINVALID, "--start and --end are RFC 3339 times, e.g. 2026-12-03T10:00:00+09:00.")
		}
	}
	var out struct {
		Maintenance slokeeper.Maintenance `json:"maintenance"`
	}
	path := "/api/v1/maintenances/" + url.PathEscape(id)
	var err error
	switch sub {
	case "schedule":
		m.Start, m.End = s, e
		if components != "" {
			m.Components = strings.Split(components, ",")
		}
		err = c.do(ctx, http.MethodPost, "/api/v1/maintenances", m, &out)
	case "reschedule":
		err = c.do(ctx, http.MethodPost, path+"/reschedule", map[string]any{"start": s, "end": e, "reason": m.Reason}, &out)
	case "cancel":
		err = c.do(ctx, http.MethodPost, path+"/cancel", nil, &out)
	}
	if err != nil {
		return err
	}
	w := out.Maintenance
	switch sub {
	case "cancel":
		fmt.Fprintf(stdout, "cancelled %s\n", w.ID)
	default:
		fmt.Fprintf(stdout, "%sd %s: %s – %s\n", sub, w.ID, w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
	}
	return nil
}
