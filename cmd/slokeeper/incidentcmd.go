package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"slokeeper"
	"slokeeper/maintenance"
)

const incidentUsage = `Usage:
  slokeeper incident list [--open] [--lang ja|en] [--format text|json]
  slokeeper incident open --title-ja T --title-en T --impact minor|major|critical [--components a,b] --body-ja B --body-en B
  slokeeper incident update ID [--status investigating|identified|monitoring|resolved] --body-ja B --body-en B
  slokeeper incident resolve ID [--body-ja B] [--body-en B]
  slokeeper incident postmortem ID (--ja TEXT | --ja-file F) (--en TEXT | --en-file F)

Incidents are announced on the status page, in its feed and to
subscribers, in Japanese and English. These commands go through the
server's API as you (slokeeper login, or SLOKEEPER_TOKEN and
SLOKEEPER_SERVER): opening, updating and resolving an incident and writing
its postmortem are for admin, operator and support staff, and the ledger
records you. There is no direct-store form: an incident is announced by
the server.

An incident opens as investigating (調査中). update keeps the incident's
current status unless --status says otherwise, as the console's form
does; resolve adds the resolving update, with a standard text unless you
write one. list shows the open incidents and those resolved in the last
90 days, with the times in the server's policy's time zone.
`

func runIncident(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "incident", incidentUsage, map[string]subcommand{
		"list":       runIncidentList,
		"open":       runIncidentOpen,
		"update":     runIncidentUpdate,
		"resolve":    runIncidentResolve,
		"postmortem": runIncidentPostmortem,
	}, args, getenv, stdout, stderr)
}

func incidentFlags(sub string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("incident "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, incidentUsage, "\nFlags:\n"); fs.PrintDefaults() }
	return fs
}

// incidentID takes the incident's ID, the first argument.
func incidentID(sub string, args []string, stderr io.Writer) (string, []string, error) {
	id, rest, ok := positionalArg(args)
	if !ok {
		fmt.Fprintf(stderr, "incident %s: name the incident first: slokeeper incident %s ID\n", sub, sub)
		return "", nil, errUsage
	}
	return id, rest, nil
}

// findIncident is the incident with id among those the server lists.
func findIncident(ctx context.Context, c *apiClient, id string) (*slokeeper.Incident, error) {
	incs, err := listIncidents(ctx, c)
	if err != nil {
		return nil, err
	}
	for _, inc := range incs {
		if inc.ID == id {
			return inc, nil
		}
	}
	return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "There is no incident %q open or resolved in the last 90 days: see slokeeper incident list.", id)
}

func listIncidents(ctx context.Context, c *apiClient) ([]*slokeeper.Incident, error) {
	var out struct {
		Incidents []*slokeeper.Incident `json:"incidents"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/incidents", nil, &out)
	return out.Incidents, err
}

func runIncidentList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := incidentFlags("list", stderr)
	open := fs.Bool("open", false, "only the open incidents")
	lang := fs.String("lang", "ja", "language: ja or en")
	format := fs.String("format", "text", "text or json")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *lang != "ja" && *lang != "en" {
		return slokeeper.Errorf(slokeeper.EINVALID, "--lang %q is not ja or en.", *lang)
	}
	c, err := newAPIClient(getenv)
	if err != nil {
		return err
	}
	incs, err := listIncidents(ctx, c)
	if err != nil {
		return err
	}
	var shown []*slokeeper.Incident
	for _, inc := range incs {
		if !*open || inc.Status != slokeeper.IncidentResolved {
			shown = append(shown, inc)
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"incidents": shown})
	}
	loc, err := serverLocation(ctx, c)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tIMPACT\tOPENED\tUPDATES\tCOMPONENTS\tTITLE")
	for _, inc := range shown {
		title := inc.TitleJA
		if *lang == "en" {
			title = inc.TitleEN
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", inc.ID, inc.Status, inc.Impact, maintenance.JST(inc.OpenedAt, loc, *lang), len(inc.Updates),
			termSafe(strings.Join(inc.Components, ",")), termSafe(title))
	}
	return tw.Flush()
}

func runIncidentOpen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := incidentFlags("open", stderr)
	titleJA := fs.String("title-ja", "", "title in Japanese, e.g. クラウド実行環境の障害")
	titleEN := fs.String("title-en", "", "title in English")
	impact := fs.String("impact", "", "minor, major or critical")
	components := fs.String("components", "", "affected components, comma-separated")
	bodyJA := fs.String("body-ja", "", "the first update, in Japanese")
	bodyEN := fs.String("body-en", "", "the first update, in English")
	detected := fs.String("detected", "", "when it was detected (RFC 3339; default now)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	inc := slokeeper.Incident{TitleJA: *titleJA, TitleEN: *titleEN, Impact: *impact}
	if err := parseTimeFlags("incident open", stderr, timeFlag{"detected", *detected, &inc.DetectedAt}); err != nil {
		return err
	}
	if *components != "" {
		inc.Components = strings.Split(*components, ",")
	}
	c, err := newAPIClient(getenv)
	if err != nil {
		return err
	}
	req := struct {
		slokeeper.Incident
		BodyJA string `json:"body_ja"`
		BodyEN string `json:"body_en"`
	}{inc, *bodyJA, *bodyEN}
	var out struct {
		Incident slokeeper.Incident `json:"incident"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/incidents", req, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "opened %s (%s, %s): %s\n", out.Incident.ID, out.Incident.Status, out.Incident.Impact, termSafe(out.Incident.TitleEN))
	return nil
}

// addIncidentUpdate posts an update to the incident's timeline.
func addIncidentUpdate(ctx context.Context, c *apiClient, u *slokeeper.IncidentUpdate, stdout io.Writer) error {
	var out struct {
		Update slokeeper.IncidentUpdate `json:"update"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/incidents/"+url.PathEscape(u.Incident)+"/updates", u, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "updated %s: %s\n", u.Incident, out.Update.Status)
	return nil
}

func runIncidentUpdate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := incidentFlags("update", stderr)
	id, args, err := incidentID("update", args, stderr)
	if err != nil {
		return err
	}
	status := fs.String("status", "", "investigating, identified, monitoring or resolved (default: the incident's current status)")
	bodyJA := fs.String("body-ja", "", "the update, in Japanese")
	bodyEN := fs.String("body-en", "", "the update, in English")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := newAPIClient(getenv)
	if err != nil {
		return err
	}
	if *status == "" {
		inc, err := findIncident(ctx, c, id)
		if err != nil {
			return err
		}
		*status = inc.Status
	}
	return addIncidentUpdate(ctx, c, &slokeeper.IncidentUpdate{Incident: id, Status: *status, BodyJA: *bodyJA, BodyEN: *bodyEN}, stdout)
}

// The resolving update's text unless one is written.
const (
	resolvedJA = "この障害は復旧しました。ご不便をおかけし、誠に申し訳ございませんでした。"
	resolvedEN = "This incident has been resolved. We apologise for the inconvenience."
)

func runIncidentResolve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := incidentFlags("resolve", stderr)
	id, args, err := incidentID("resolve", args, stderr)
	if err != nil {
		return err
	}
	bodyJA := fs.String("body-ja", resolvedJA, "the resolving update, in Japanese")
	bodyEN := fs.String("body-en", resolvedEN, "the resolving update, in English")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := newAPIClient(getenv)
	if err != nil {
		return err
	}
	return addIncidentUpdate(ctx, c, &slokeeper.IncidentUpdate{Incident: id, Status: slokeeper.IncidentResolved, BodyJA: *bodyJA, BodyEN: *bodyEN}, stdout)
}

func runIncidentPostmortem(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := incidentFlags("postmortem", stderr)
	id, args, err := incidentID("postmortem", args, stderr)
	if err != nil {
		return err
	}
	ja := fs.String("ja", "", "the postmortem in Japanese")
	en := fs.String("en", "", "the postmortem in English")
	jaFile := fs.String("ja-file", "", "read the Japanese postmortem from this file")
	enFile := fs.String("en-file", "", "read the English postmortem from this file")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	for _, f := range []struct {
		text *string
		file string
		name string
	}{{ja, *jaFile, "ja"}, {en, *enFile, "en"}} {
		if f.file == "" {
			continue
		}
		if *f.text != "" {
			fmt.Fprintf(stderr, "incident postmortem: give --%s or --%s-file, not both\n", f.name, f.name)
			return errUsage
		}
		b, err := os.ReadFile(f.file)
		if err != nil {
			return err
		}
		*f.text = string(b)
	}
	c, err := newAPIClient(getenv)
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodPut, "/api/v1/incidents/"+url.PathEscape(id)+"/postmortem", map[string]string{"ja": *ja, "en": *en}, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "postmortem of %s stored\n", id)
	return nil
}
