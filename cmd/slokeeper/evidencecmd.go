package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"slokeeper"
)

func runEvidence(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "Usage: slokeeper evidence list [flags]\n\nLists evidence, oldest first. After slokeeper login (or with SLOKEEPER_SERVER)\nit asks the server's API as you; without, it reads the store directly,\nsafe while a server runs on the same store.\n\nFlags:\n"
	if len(args) == 0 || args[0] != "list" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, usage)
			return nil
		}
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	fs := flag.NewFlagSet("evidence list", flag.ContinueOnError)
	cf := newConfigFlags(fs, "data", "db")
	var f slokeeper.EvidenceFilter
	var since, until, format string
	fs.StringVar(&f.Clause, "clause", "", "only this clause, e.g. availability or data.system_logs")
	fs.StringVar(&f.Action, "action", "", "only this action, e.g. self_check")
	fs.StringVar(&f.Outcome, "outcome", "", "only this outcome: ok, late, failed or violated")
	fs.StringVar(&since, "since", "", "only evidence at or after this RFC 3339 time")
	fs.StringVar(&until, "until", "", "only evidence before this RFC 3339 time")
	fs.IntVar(&f.Offset, "offset", 0, "skip this many")
	fs.IntVar(&f.Limit, "limit", 100, "at most this many (0: all)")
	fs.StringVar(&format, "format", "text", "text or json")
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	if err := parseTimeFlags("evidence list", stderr, timeFlag{"since", since, &f.Since}, timeFlag{"until", until, &f.Until}); err != nil {
		return err
	}
	if format != "text" && format != "json" {
		fmt.Fprintf(stderr, "evidence list: --format %q is not text or json\n", format)
		return errUsage
	}
	server, err := cliServer(getenv)
	if err != nil {
		return err
	}
	var es []*slokeeper.Evidence
	var n int
	if server != "" {
		c, err := newAPIClient(getenv)
		if err != nil {
			return err
		}
		if es, n, err = evidenceAPI(ctx, c, f); err != nil {
			return err
		}
	} else {
		cfg, err := cf.load(getenv)
		if err != nil {
			return err
		}
		store, err := OpenStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer store.Close()
		if es, n, err = store.Evidence.FindEvidence(ctx, f); err != nil {
			return err
		}
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if es == nil {
			es = []*slokeeper.Evidence{}
		}
		return enc.Encode(map[string]any{"evidence": es, "n": n})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAT\tCLAUSE\tACTION\tOUTCOME\tNODE\tSUBJECT\tDETAIL")
	for _, e := range es {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.Format(time.RFC3339), e.Clause, e.Action, e.Outcome, termSafe(e.Node), termSafe(e.Subject), termSafe(e.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d of %d shown\n", len(es), n)
	return nil
}

// evidenceAPI reads evidence through the server's API, a page of at most
// 1000 at a time; a limit of 0 reads every page.
func evidenceAPI(ctx context.Context, c *apiClient, f slokeeper.EvidenceFilter) ([]*slokeeper.Evidence, int, error) {
	var all []*slokeeper.Evidence
	offset, total := f.Offset, 0
	for {
		page := 1000
		if f.Limit > 0 {
			page = min(1000, f.Limit-len(all))
		}
		v := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(page)}}
		for k, x := range map[string]string{"clause": f.Clause, "action": f.Action, "outcome": f.Outcome} {
			if x != "" {
				v.Set(k, x)
			}
		}
		if !f.Since.IsZero() {
			v.Set("since", f.Since.Format(time.RFC3339))
		}
		if !f.Until.IsZero() {
			v.Set("until", f.Until.Format(time.RFC3339))
		}
		var out struct {
			Evidence []*slokeeper.Evidence `json:"evidence"`
			N        int                   `json:"n"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/evidence?"+v.Encode(), nil, &out); err != nil {
			return nil, 0, err
		}
		all, total = append(all, out.Evidence...), out.N
		offset += len(out.Evidence)
		if len(out.Evidence) == 0 || offset >= total || (f.Limit > 0 && len(all) >= f.Limit) {
			return all, total, nil
		}
	}
}
