package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"

	"slokeeper"
	"slokeeper/maintenance"
	"slokeeper/obligation"
	"slokeeper/policy"
)

const obligationUsage = `Usage:
  slokeeper obligation list [--lang ja|en] [--format text|json]
  slokeeper obligation signoff access_review|internal_audit --note TEXT

The policy's periodic reviews: the access review (access.review_every) and
the internal audit (security.audit_every). list shows when each is next
due, counted from its last sign-off (or, before the first, from the audit
ledger's first entry), and whether it is on schedule, due within 14 days
or overdue; admins are reminded by e-mail from 14 days before. signoff
records, after you have done one, who reviewed what and what was found
(--note): in the audit ledger and as evidence, late if past its due date.
For the access review the record names the review signed off by its
SHA-256. Both go through the server's API as you (slokeeper login):
every staff role lists, only an admin signs off.
`

func runObligation(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "obligation", obligationUsage, map[string]subcommand{
		"list":    runObligationList,
		"signoff": runObligationSignOff,
	}, args, getenv, stdout, stderr)
}

func obligationFlags(sub string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("obligation "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, obligationUsage, "\nFlags:\n"); fs.PrintDefaults() }
	return fs
}

func runObligationList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := obligationFlags("list", stderr)
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
	var got struct {
		Obligations []obligation.Status `json:"obligations"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/obligations", nil, &got); err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(got)
	}
	loc, err := serverLocation(ctx, c)
	if err != nil {
		return err
	}
	states := map[string][2]string{obligation.StateOK: {"期限内", "on schedule"}, obligation.StateDueSoon: {"期限間近", "due soon"},
		obligation.StateOverdue: {"期限超過", "overdue"}}
	pick := func(ja, en string) string {
		if *lang == "en" {
			return en
		}
		return ja
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSTATE\tDUE\tEVERY\tLAST SIGN-OFF")
	for _, st := range got.Obligations {
		last := pick("なし", "none")
		if st.Last != nil {
			last = maintenance.JST(st.Last.At, loc, *lang) + " (" + st.Last.Outcome + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st.Kind, pick(states[st.State][0], states[st.State][1]),
			maintenance.JST(st.Due, loc, *lang), policy.Span(st.Every, *lang), last)
	}
	return tw.Flush()
}

func runObligationSignOff(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	kind, rest, ok := positionalArg(args)
	if !ok {
		fmt.Fprint(stderr, "obligation signoff: name the review first: slokeeper obligation signoff access_review|internal_audit --note TEXT\n")
		return errUsage
	}
	fs := obligationFlags("signoff", stderr)
	note := fs.String("note", "", "who reviewed what, and what was found (required)")
	if err := parseFlags(fs, rest, stderr); err != nil {
		return err
	}
	c, err := newAPIClient(getenv)
	if err != nil {
		return err
	}
	var ev slokeeper.Evidence
	if err := c.do(ctx, http.MethodPost, "/api/v1/obligations/"+url.PathEscape(kind)+"/signoff", map[string]string{"note": *note}, &ev); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed off %s (%s, evidence %d)\n", kind, ev.Outcome, ev.ID)
	return nil
}
