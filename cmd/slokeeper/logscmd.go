package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
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
` + directStoreHelp

// newSourceCredentials returns a source ID and a bearer token of 256
// random bits.
func newSourceCredentials() (id, token string) {
	var idb [5]byte
	var tb [32]byte
	rand.Read(idb[:])
	rand.Read(tb[:])
	return "src_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(idb[:])),
		"slk_" + base64.RawURLEncoding.EncodeToString(tb[:])
}

func runSource(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, sourceUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("source "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, sourceUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "data", "db")
	var kind, name, account string
	var all bool
	switch sub {
	case "add":
		fs.StringVar(&kind, "kind", "", "agent, device, cloud or app")
		fs.StringVar(&name, "name", "", "a name people recognise")
		fs.StringVar(&account, "account", "", "the account the source belongs to (not for app)")
	case "list":
		fs.StringVar(&account, "account", "", "only this account's sources")
		fs.BoolVar(&all, "all", false, "include revoked sources")
	case "revoke":
	case "-h", "--help", "help":
		fmt.Fprint(stdout, sourceUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "slokeeper source: unknown command %q\n\n%s", sub, sourceUsage)
		return errUsage
	}
	var id string
	if sub == "revoke" {
		p, rest, ok := positionalArg(args)
		if !ok {
			fmt.Fprint(stderr, "source revoke: name the source ID first: slokeeper source revoke ID\n")
			return errUsage
		}
		id, args = p, rest
	}
	cfg, store, err := openForCommand(ctx, fs, cf, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	// Sources hold credentials: every change is recorded first, and refused
	// when the ledger cannot record it.
	audit, err := openLedger(cfg, store, slokeeper.SystemClock{})
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		if err := checkSourceAccount(ctx, store.Accounts, kind, account); err != nil {
			return err
		}
		sid, token := newSourceCredentials()
		if _, err := audit.Record(ctx, cliActor(), "source.add", "source:"+sid, localDetail(fmt.Sprintf("kind %s, account %q, name %q", kind, account, name))); err != nil {
			return err
		}
		src := &slokeeper.Source{ID: sid, Account: account, Kind: kind, Name: name, CreatedAt: time.Now(), TokenHash: slokeeper.HashToken(token)}
		if err := store.Sources.CreateSource(ctx, src); err != nil {
			audit.Record(ctx, cliActor(), "source.add.failed", "source:"+sid, localDetail(slokeeper.ErrorMessage(err)))
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "source: %s\ntoken:  %s\n", sid, token)
		fmt.Fprintf(stderr, "Keep the token now: it is not stored and will not be shown again.\n"+
			"トークンは保存されず、再表示もできません。今すぐ控えてください。\n")
		return nil
	case "revoke":
		if _, err := audit.Record(ctx, cliActor(), "source.revoke", "source:"+id, localDetail("")); err != nil {
			return err
		}
		if err := store.Sources.RevokeSource(ctx, id, time.Now()); err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "revoked %s (servers stop accepting its token within %s)\n", id, "10s")
		return nil
	}
	srcs, err := store.Sources.FindSources(ctx, slokeeper.SourceFilter{Account: account, IncludeRevoked: all})
	if err != nil {
		return err
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

// checkSourceAccount refuses a source for an account that does not exist
// or is being deleted: its logs would belong to no one, or outlive the
// account's erasure. app sources belong to no account.
func checkSourceAccount(ctx context.Context, accounts slokeeper.AccountService, kind, account string) error {
	if kind == slokeeper.SourceApp {
		if account != "" {
			return slokeeper.Errorf(slokeeper.EINVALID, "An app source sends the service's own system logs and belongs to no account: leave out --account.\n"+
				"app のソースはサービス自身のシステムログを送るもので、アカウントには属しません。--account を外してください。")
		}
		return nil
	}
	if account == "" {
		return nil // Validate says the account is needed
	}
	as, err := accounts.FindAccounts(ctx, slokeeper.AccountFilter{ID: account})
	if err != nil {
		return err
	}
	if len(as) == 0 {
		return slokeeper.Errorf(slokeeper.EINVALID, "There is no account %q: create it first (slokeeper account create), or check the ID with slokeeper account list.\n"+
			"アカウント「%s」はありません。先に作成するか（slokeeper account create）、slokeeper account list で ID をご確認ください。", account, account)
	}
	if st := as[0].Status; st != slokeeper.AccountActive {
		return slokeeper.Errorf(slokeeper.EINVALID, "Account %q is %s: it takes no new sources.\n"+
			"アカウント「%s」は削除中または削除済みのため、新しいソースを追加できません。", account, st, account)
	}
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
	limit := q.Limit
	if limit <= 0 || limit > 1000000 {
		limit = 1000000 // the API's most
	}
	v.Set("limit", strconv.Itoa(limit))
	return c.stream(ctx, http.MethodGet, "/api/v1/logs?"+v.Encode(), "", nil, func(r io.Reader) error {
		if format != "text" {
			_, err := io.Copy(stdout, r)
			return err
		}
		dec := json.NewDecoder(r)
		for {
			var rec slokeeper.LogRecord
			if err := dec.Decode(&rec); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(stdout, "%s %-5s %s %s\n", rec.Received.Format("2006-01-02 15:04:05.000Z07:00"), termSafe(rec.Level), termSafe(rec.SourceID), termSafe(rec.Message)); err != nil {
				return err
			}
		}
	})
}
