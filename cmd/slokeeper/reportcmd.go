package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"slokeeper"
)

const reportUsage = `Usage: slokeeper report --from DATE --to DATE [--lang ja|en] [--format json|csv] [--out DIR]

The compliance report of [from, to) (days in the policy's time zone): every
clause of the policy with its state (held, breached, at_risk, not_measured
and why), its figures with the evidence rows behind them, every exception
(evidence ID, subject, deadline, done at, lateness, cause) and every piece
of evidence that should exist and does not ("no evidence"). JSON is the
whole report, CSV one exception or finding per row.

It asks the server's API as you, after slokeeper login (or with
SLOKEEPER_TOKEN and SLOKEEPER_SERVER); every staff role may read it, the
auditor included, and each reading is recorded in the audit ledger.
Without --out the report goes to standard output; with it, to
DIR/report-FROM-TO.LANG.FORMAT.

Flags:
`

func runReport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	from := fs.String("from", "", "first day, YYYY-MM-DD (required)")
	to := fs.String("to", "", "the day after the last, YYYY-MM-DD (required)")
	lang := fs.String("lang", "ja", "ja or en")
	format := fs.String("format", "json", "json or csv")
	out := fs.String("out", "", "write the report into this directory instead of standard output")
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage); fs.PrintDefaults() }
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fs.SetOutput(stdout)
		fmt.Fprint(stdout, reportUsage)
		fs.PrintDefaults()
		return nil
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, "report: --from and --to are required, and nothing else\n")
		return errUsage
	}
	server, err := cliServer(getenv)
	if err != nil {
		return err
	}
	if server == "" {
		return slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "report asks the server: sign in first with slokeeper login. / レポートはサーバーに問い合わせます。先に slokeeper login でサインインしてください。")
	}
	c, err := newAPIClient(getenv)
	if err != nil {
		return err
	}
	v := url.Values{"from": {*from}, "to": {*to}, "lang": {*lang}, "format": {*format}}
	b, err := c.raw(ctx, http.MethodGet, "/api/v1/reports?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(b)
		return err
	}
	name := filepath.Join(*out, fmt.Sprintf("report-%s-%s.%s.%s", *from, *to, *lang, *format))
	if err := os.MkdirAll(*out, 0o750); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(name, b, 0o640); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintln(stderr, "report: wrote", name)
	return nil
}
