package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/logstore"
)

const sourceUsage = `Usage:
  slokeeper source add --kind agent|device|cloud|app --name NAME [--account ACCOUNT]
  slokeeper source list [--account ACCOUNT] [--all]
  slokeeper source revoke ID

A source sends logs with a bearer token, printed once by "source add" and
never stored: only its hash is. app sources send system logs (the service's
own application and servers); the others send execution-environment logs
and belong to an account, which must exist ("slokeeper account create").

After slokeeper login (or with SLOKEEPER_TOKEN and SLOKEEPER_SERVER) these
go through the server's API as you (admin or operator), and the ledger
records you. Without a sign-in they work on the store, for setting up a
node's sources before its first start:
` + directStoreHelp

func runSource(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "source", sourceUsage, map[string]subcommand{
		"add":    runSourceAdd,
		"list":   runSourceList,
		"revoke": runSourceRevoke,
	}, args, getenv, stdout, stderr)
}

func sourceFlags(sub string, stderr io.Writer) (*flag.FlagSet, *configFlags) {
	fs := flag.NewFlagSet("source "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, sourceUsage, "\nFlags:\n"); fs.PrintDefaults() }
	return fs, newConfigFlags(fs, "data", "db")
}

// openSourceStore opens the store and its ledger for a direct-store
// source command. The caller closes the store.
func openSourceStore(ctx context.Context, cf *configFlags, getenv func(string) string) (*Store, func(action, target, detail string) error, error) {
	store, l, err := openAuditStore(ctx, cf, getenv)
	if err != nil {
		return nil, nil, err
	}
	// Sources hold credentials: every change is recorded first, and
	// refused when the ledger cannot record it.
	record := func(action, target, detail string) error {
		_, err := l.Record(ctx, cliActor(), action, target, localDetail(detail))
		return err
	}
	return store, record, nil
}

func runSourceAdd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := sourceFlags("add", stderr)
	kind := fs.String("kind", "", "agent, device, cloud or app")
	name := fs.String("name", "", "a name people recognise")
	account := fs.String("account", "", "the account the source belongs to (not for app)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := signedIn(getenv)
	if err != nil {
		return err
	}
	var id, token string
	if c != nil {
		var out struct {
			Source slokeeper.Source `json:"source"`
			Token  string           `json:"token"`
		}
		if err := c.do(ctx, http.MethodPost, "/api/v1/sources", map[string]string{"kind": *kind, "account": *account, "name": *name}, &out); err != nil {
			return err
		}
		id, token = out.Source.ID, out.Token
	} else {
		store, record, err := openSourceStore(ctx, cf, getenv)
		if err != nil {
			return err
		}
		defer store.Close()
		src, tok, err := slokeeper.NewSource(ctx, store.Accounts, *kind, *account, *name, time.Now())
		if err != nil {
			return err
		}
		if err := record("source.add", "source:"+src.ID, fmt.Sprintf("kind %s, account %q, name %q", src.Kind, src.Account, src.Name)); err != nil {
			return err
		}
		if err := store.Sources.CreateSource(ctx, src); err != nil {
			record("source.add.failed", "source:"+src.ID, slokeeper.ErrorMessage(err))
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		id, token = src.ID, tok
	}
	fmt.Fprintf(stdout, "source: %s\ntoken:  %s\n", id, token)
	fmt.Fprintf(stderr, "Keep the token now: it is not stored and will not be shown again.\n"+
		"トークンは保存されず、再表示もできません。今すぐ控えてください。\n")
	return nil
}

func runSourceList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := sourceFlags("list", stderr)
	account := fs.String("account", "", "only this account's sources")
	all := fs.Bool("all", false, "include revoked sources")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := signedIn(getenv)
	if err != nil {
		return err
	}
	var srcs []*slokeeper.Source
	if c != nil {
		q := url.Values{}
		if *account != "" {
			q.Set("account", *account)
		}
		if *all {
			q.Set("all", "1")
		}
		var out struct {
			Sources []*slokeeper.Source `json:"sources"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/sources?"+q.Encode(), nil, &out); err != nil {
			return err
		}
		srcs = out.Sources
	} else {
		store, _, err := openSourceStore(ctx, cf, getenv)
		if err != nil {
			return err
		}
		defer store.Close()
		if srcs, err = store.Sources.FindSources(ctx, slokeeper.SourceFilter{Account: *account, IncludeRevoked: *all}); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tACCOUNT\tNAME\tCREATED\tREVOKED")
	for _, s := range srcs {
		revoked := ""
		if !s.RevokedAt.IsZero() {
			revoked = s.RevokedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Kind, termSafe(s.Account), termSafe(s.Name), s.CreatedAt.Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}

func runSourceRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := sourceFlags("revoke", stderr)
	id, args, ok := positionalArg(args)
	if !ok {
		fmt.Fprint(stderr, "source revoke: name the source ID first: slokeeper source revoke ID\n")
		return errUsage
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := signedIn(getenv)
	if err != nil {
		return err
	}
	if c != nil {
		if err := c.do(ctx, http.MethodPost, "/api/v1/sources/"+url.PathEscape(id)+"/revoke", nil, nil); err != nil {
			return err
		}
	} else {
		store, record, err := openSourceStore(ctx, cf, getenv)
		if err != nil {
			return err
		}
		defer store.Close()
		if err := record("source.revoke", "source:"+id, ""); err != nil {
			return err
		}
		if err := store.Sources.RevokeSource(ctx, id, time.Now()); err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
	}
	fmt.Fprintf(stdout, "revoked %s (servers stop accepting its token within %s)\n", id, "10s")
	return nil
}

const logsUsage = `Usage:
  slokeeper logs query [--class system|exec] [--account A] [--source ID] [--level L]
                       [--from TIME] [--to TIME] [--q TEXT] [--limit N] [--format ndjson|text]
  slokeeper logs partitions [--format text|json]
  slokeeper logs migrate [--data DIR] --db postgres://…

After slokeeper login (or with SLOKEEPER_SERVER), query goes through the
server's API as you (support, operator or admin), streamed, and the ledger
records you; without a sign-in it reads the store directly, as local
administration. query and partitions read the log store without writing
it: safe while a server runs. With SQLite the log store is DATA/logs; with PostgreSQL it is
in the database, shared by every node, so any node answers for all. Times
are RFC 3339, e.g. 2026-12-03T10:00:00+09:00.

migrate moves the local log partitions in DATA/logs (a node that ran with
its logs on its own disk, before its --db was PostgreSQL) into the shared
log store, then renames DATA/logs to DATA/logs.migrated-<time>. serve does
this by itself when it starts; run it by hand to retry a migration that
failed, or to move a directory without starting a server. It is safe to
run again, and beside running servers: nothing is added twice, and a day
already sealed in the shared store is sealed again with the union (its
checksum changes, so the next lifecycle pass backs it up anew).
` + directStoreHelp

func runLogs(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, logsUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("logs "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, logsUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "data", "db", "policy")
	var q slokeeper.LogQuery
	var from, to, format string
	switch sub {
	case "query":
		fs.StringVar(&q.Class, "class", "", "system or exec")
		fs.StringVar(&q.Account, "account", "", "only this account")
		fs.StringVar(&q.SourceID, "source", "", "only this source ID")
		fs.StringVar(&q.Level, "level", "", "only this level")
		fs.StringVar(&from, "from", "", "received at or after this time")
		fs.StringVar(&to, "to", "", "received before this time")
		fs.StringVar(&q.Contains, "q", "", "only messages containing this text")
		fs.IntVar(&q.Limit, "limit", 1000, "at most this many (0: all)")
		fs.StringVar(&format, "format", "ndjson", "ndjson or text")
	case "partitions":
		fs.StringVar(&format, "format", "text", "text or json")
	case "migrate":
	case "-h", "--help", "help":
		fmt.Fprint(stdout, logsUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "slokeeper logs: unknown command %q\n\n%s", sub, logsUsage)
		return errUsage
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := parseTimeFlags("logs query", stderr, timeFlag{"from", from, &q.From}, timeFlag{"to", to, &q.To}); err != nil {
		return err
	}
	if sub == "query" {
		server, err := cliServer(getenv)
		if err != nil {
			return err
		}
		if server != "" {
			c, err := newAPIClient(getenv)
			if err != nil {
				return err
			}
			return queryLogsAPI(ctx, c, q, format, stdout)
		}
	}
	cfg, err := cf.load(getenv)
	if err != nil {
		return err
	}
	m := NewMain(cfg, stderr)
	// The policy's warnings are for whoever starts a server, not for a query.
	if m.Policy, err = loadPolicy(cfg.Policy, discardLogger()); err != nil {
		return err
	}
	if m.Store, err = OpenStore(ctx, cfg); err != nil {
		return err
	}
	defer m.Store.Close()
	if sub == "migrate" {
		return migrateLogs(ctx, m, stdout)
	}
	logs, err := logstore.OpenReadOnly(ctx, m.logstoreConfig())
	if err != nil {
		return err
	}
	defer logs.Close()

	if sub == "partitions" {
		ps, err := logs.LogPartitions(ctx)
		if err != nil {
			return err
		}
		if format == "json" {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"partitions": ps})
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLASS\tDAY\tRECORDS\tBYTES\tSEALED\tCHECKSUM")
		for _, p := range ps {
			sum := p.Checksum
			if len(sum) > 16 {
				sum = sum[:16] + "…"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%v\t%s\n", p.Class, p.Day, p.Records, p.Bytes, p.Sealed, sum)
		}
		return tw.Flush()
	}
	audit, err := openLedger(cfg, m.Store, slokeeper.SystemClock{})
	if err != nil {
		return err
	}
	if _, err := audit.Record(ctx, cliActor(), "logs.query", "source:"+q.SourceID+" account:"+q.Account, localDetail(strings.Join(args, " "))); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	loc := m.Policy.Location()
	return logs.QueryLogs(ctx, q, func(r *slokeeper.LogRecord) error {
		if format == "text" {
			_, err := fmt.Fprintf(stdout, "%s %-5s %s %s\n", r.Received.In(loc).Format("2006-01-02 15:04:05.000"), termSafe(r.Level), termSafe(r.SourceID), termSafe(r.Message))
			return err
		}
		return enc.Encode(r)
	})
}

// migrateLogs is `slokeeper logs migrate`.
func migrateLogs(ctx context.Context, m *Main, stdout io.Writer) error {
	if m.Store.LogBlocks == nil {
		return fmt.Errorf("logs migrate: the database is SQLite, so the log store already is %s; give --db postgres://… to move it into a shared store", filepath.Join(m.Config.Data, "logs"))
	}
	lc := m.logstoreConfig()
	lc.Dir = "" // no writer's lock: safe beside a server on this data directory
	logs, err := logstore.Open(ctx, lc)
	if err != nil {
		return err
	}
	defer logs.Close()
	m.Logs = logs
	rep, err := m.migrateLocalLogs(ctx)
	if err != nil {
		return err
	}
	if rep.MovedTo == "" {
		fmt.Fprintf(stdout, "no local log partitions in %s: nothing to migrate\n", filepath.Join(m.Config.Data, "logs"))
		return nil
	}
	audit, err := openLedger(m.Config, m.Store, slokeeper.SystemClock{})
	if err != nil {
		return err
	}
	if _, err := audit.Record(ctx, cliActor(), "logs.migrate", "logs", localDetail(fmt.Sprintf("%d partitions, %d records", rep.Partitions, rep.Records))); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "moved %d local partitions (%d blocks, %d records; %d chunks were moved by an earlier run) into the shared log store; the local copy is now %s\n",
		rep.Partitions, rep.Blocks, rep.Records, rep.Skipped, rep.MovedTo)
	return nil
}

// queryLogsAPI is logs query through the server's API as the signed-in
// operator (support, operator or admin): the server records the query in
// the ledger, and the records stream through as they come.
func queryLogsAPI(ctx context.Context, c *apiClient, q slokeeper.LogQuery, format string, stdout io.Writer) error {
	v := url.Values{}
	for k, x := range map[string]string{"class": q.Class, "account": q.Account, "source": q.SourceID, "level": q.Level, "q": q.Contains} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.Format(time.RFC3339Nano))
	}
	// Pages of at most apiLogsPage follow the server's Link rel="next"
	// until --limit records or the last page: each page is a query in the
	// ledger, and the records stream through as they come.
	left := q.Limit // 0: all
	path := "/api/v1/logs?" + v.Encode()
	for path != "" {
		page := apiLogsPage
		if left > 0 && left < page {
			page = left
		}
		pu, err := url.Parse(path)
		if err != nil {
			return err
		}
		pv := pu.Query()
		pv.Set("limit", strconv.Itoa(page))
		path = ""
		err = c.streamHeader(ctx, http.MethodGet, pu.Path+"?"+pv.Encode(), "", nil, func(h http.Header, r io.Reader) error {
			if m := nextLink.FindStringSubmatch(h.Get("Link")); m != nil {
				path = m[1]
			}
			dec := json.NewDecoder(r)
			for {
				var rec json.RawMessage
				if err := dec.Decode(&rec); err == io.EOF {
					return nil
				} else if err != nil {
					return err
				}
				left--
				if err := writeLogRecord(stdout, rec, format); err != nil {
					return err
				}
			}
		})
		if err != nil {
			return err
		}
		if q.Limit > 0 && left <= 0 {
			return nil
		}
	}
	return nil
}

// apiLogsPage is how many records logs query asks the API for at once: at
// most the API's largest page with a Link header.
const apiLogsPage = 1000

// nextLink finds the target of an RFC 8288 Link header's rel="next".
var nextLink = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="?next"?`)

// writeLogRecord writes one record from the API as NDJSON or as text.
func writeLogRecord(w io.Writer, raw json.RawMessage, format string) error {
	if format != "text" {
		_, err := fmt.Fprintf(w, "%s\n", raw)
		return err
	}
	var rec slokeeper.LogRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s %-5s %s %s\n", rec.Received.Format("2006-01-02 15:04:05.000Z07:00"), termSafe(rec.Level), termSafe(rec.SourceID), termSafe(rec.Message))
	return err
}
