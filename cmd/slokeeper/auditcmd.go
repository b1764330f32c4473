package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/httpserver"
	"slokeeper/internal/ledger"
)

const auditUsage = `Usage:
  slokeeper audit verify [--format text|json]   check the ledger; exit 1 if anything was tampered with
  slokeeper audit show [--from SEQ] [--limit N] [--actor A] [--action A] [--target T] [--format text|json]
  slokeeper audit export                         entries, checkpoints and the verifier key, as NDJSON, for auditors
  slokeeper audit checkpoint                     sign a checkpoint of the ledger now (admin)

The ledger records every sensitive action; signed checkpoints (size and
Merkle root) are made every security.checkpoint_every and at shutdown.
Each node signs with its own key (DATA/audit/audit.key) and registers the
verifier key in the ledger itself on first use (entry audit.key.register),
so verify on any node checks every node's checkpoints; a checkpoint signed
by a key never registered is reported forged.

After slokeeper login (or with SLOKEEPER_TOKEN and SLOKEEPER_SERVER) these
go through the server's API as you: verify, show and export for admins and
auditors, checkpoint for admins. Without a sign-in they work on the store
itself, so that an auditor can check a stopped server's data directory
(--data, --db; verify, show and export change nothing and need no master
key; checkpoint signs with the node's key in DATA/audit):
` + directStoreHelp

// cliActor names who runs a direct-store command in the ledger:
// "local:USER@HOST", the operating system's user on this host. Such a
// command works on the store itself with no operator's token (first
// set-up, restore, key rotation, break-glass), so it proves no operator:
// it is local administration, and localDetail says so in its entry.
func cliActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return "local:" + name + "@" + host
}

// localDetail marks a direct-store command's ledger entry as such.
func localDetail(detail string) string {
	if detail == "" {
		return directStore
	}
	return directStore + ": " + detail
}

const directStore = "direct-store command (local administration)"

// directStoreHelp is the note in a direct-store command's --help.
const directStoreHelp = `
This is a direct-store command: it works on the store itself, with no
operator's token, and the audit ledger records it as local administration
by local:USER@HOST (the operating system's user on this host). It works on
a stopped server's data directory too, and needs what the store needs:
read access to the data directory or the database, and the master key file
(--master-key) for anything encrypted. It does not go through slokeeper
login's server.
`

func openLedger(cfg Config, store *Store, clock slokeeper.Clock) (*ledger.Ledger, error) {
	node := cfg.Node
	if node == "" {
		node, _ = os.Hostname()
	}
	return ledger.Open(ledger.Config{Store: store.Audit, Dir: filepath.Join(cfg.Data, "audit"), Clock: clock, Node: node})
}

func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "audit", auditUsage, map[string]subcommand{
		"verify":     runAuditVerify,
		"show":       runAuditShow,
		"export":     runAuditExport,
		"checkpoint": runAuditCheckpoint,
	}, args, getenv, stdout, stderr)
}

// auditFlags are the flags every audit command has: where the store is,
// for use without a sign-in.
func auditFlags(sub string, stderr io.Writer) (*flag.FlagSet, *configFlags) {
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage, "\nFlags:\n"); fs.PrintDefaults() }
	return fs, newConfigFlags(fs, "data", "db")
}

// openAuditStore opens the store and its ledger for a direct-store audit
// command. The caller closes the store.
func openAuditStore(ctx context.Context, cf *configFlags, getenv func(string) string) (*Store, *ledger.Ledger, error) {
	cfg, err := cf.load(getenv)
	if err != nil {
		return nil, nil, err
	}
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	l, err := openLedger(cfg, store, slokeeper.SystemClock{})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, l, nil
}

// signedIn is the API client for the server commands act through, or nil
// when none is known (no slokeeper login, no SLOKEEPER_SERVER).
func signedIn(getenv func(string) string) (*apiClient, error) {
	server, err := cliServer(getenv)
	if err != nil || server == "" {
		return nil, err
	}
	return newAPIClient(getenv)
}

func runAuditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := auditFlags("verify", stderr)
	format := fs.String("format", "text", "text or json")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := signedIn(getenv)
	if err != nil {
		return err
	}
	var rep *httpserver.AuditVerify
	if c != nil {
		if err := c.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, &rep); err != nil {
			return err
		}
	} else {
		store, l, err := openAuditStore(ctx, cf, getenv)
		if err != nil {
			return err
		}
		defer store.Close()
		lr, err := l.Verify(ctx)
		if err != nil {
			return err
		}
		rep = verifyReport(lr)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else if rep.OK() {
		fmt.Fprintf(stdout, "audit ledger verified: %d entries, %d signed checkpoints, %d trusted keys\n", rep.Entries, rep.Checkpoints, len(rep.Keys))
		for _, k := range rep.Keys {
			if k.Node != "" {
				fmt.Fprintf(stdout, "  key of node %s (registered in entry %d): %s\n", termSafe(k.Node), k.Seq, termSafe(k.Key))
			}
		}
	} else {
		fmt.Fprintf(stdout, "audit ledger FAILED verification (%d entries, %d valid checkpoints):\n", rep.Entries, rep.Checkpoints)
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "  %s\n", termSafe(p))
		}
	}
	if !rep.OK() {
		return errInvalidPolicy // exit 1, already reported
	}
	return nil
}

// verifyReport is what verifying the ledger found, as the console, the
// API and the command line show it.
func verifyReport(rep *ledger.Report) *httpserver.AuditVerify {
	v := &httpserver.AuditVerify{Entries: rep.Entries, Checkpoints: rep.Checkpoints, Problems: []string{}}
	for _, k := range rep.Keys {
		v.Keys = append(v.Keys, httpserver.AuditKey{Key: k.Key, Node: k.Node, Seq: k.Seq})
	}
	for _, p := range rep.Problems {
		v.Problems = append(v.Problems, fmt.Sprintf("entry %d: %s", p.Seq, p.Message))
	}
	return v
}

func runAuditShow(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := auditFlags("show", stderr)
	format := fs.String("format", "text", "text or json")
	from := fs.Int64("from", 1, "first entry")
	limit := fs.Int("limit", 100, "at most this many (0: all)")
	actor := fs.String("actor", "", "only entries by this actor, exactly")
	action := fs.String("action", "", `only this action ("grant" also matches grant.approve)`)
	target := fs.String("target", "", "only entries whose target contains this")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *limit < 0 || *from < 1 {
		fmt.Fprintln(stderr, "audit show: --from is 1 or more and --limit 0 or more")
		return errUsage
	}
	enc := json.NewEncoder(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if *format != "json" {
		fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tACTION\tTARGET\tDETAIL")
	}
	n := 0
	show := func(e *slokeeper.AuditEntry) error {
		if *limit > 0 && n >= *limit {
			return errPageFull
		}
		n++
		if *format == "json" {
			return enc.Encode(e)
		}
		_, err := fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.Format(time.RFC3339), termSafe(e.Actor), termSafe(e.Action), termSafe(e.Target), termSafe(e.Detail))
		return err
	}
	c, err := signedIn(getenv)
	if err != nil {
		return err
	}
	if c != nil {
		err = auditPagesAPI(ctx, c, *from, *actor, *action, *target, show)
	} else {
		store, _, err2 := openAuditStore(ctx, cf, getenv)
		if err2 != nil {
			return err2
		}
		defer store.Close()
		err = store.Audit.EachAuditEntry(ctx, *from, 0, func(e *slokeeper.AuditEntry) error {
			if !(slokeeper.AuditFilter{Actor: *actor, Action: *action, Target: *target}).Match(e) {
				return nil
			}
			return show(e)
		})
	}
	if err != nil && !errors.Is(err, errPageFull) {
		return err
	}
	return tw.Flush()
}

// errPageFull stops a walk over the ledger once enough is shown.
var errPageFull = errors.New("page full")

// auditPagesAPI reads the ledger's entries page by page from the API,
// handing each to fn until fn or the ledger stops.
func auditPagesAPI(ctx context.Context, c *apiClient, from int64, actor, action, target string, fn func(*slokeeper.AuditEntry) error) error {
	for {
		q := url.Values{"from": {strconv.FormatInt(from, 10)}, "limit": {"1000"}}
		for k, v := range map[string]string{"actor": actor, "action": action, "target": target} {
			if v != "" {
				q.Set(k, v)
			}
		}
		var page struct {
			Entries []*slokeeper.AuditEntry `json:"entries"`
			Next    int64                   `json:"next"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/audit?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		for _, e := range page.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if page.Next == 0 {
			return nil
		}
		from = page.Next
	}
}

func runAuditExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := auditFlags("export", stderr)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := signedIn(getenv)
	if err != nil {
		return err
	}
	if c != nil {
		return c.stream(ctx, http.MethodGet, "/api/v1/audit/export", "", nil, func(r io.Reader) error {
			_, err := io.Copy(stdout, r)
			return err
		})
	}
	store, l, err := openAuditStore(ctx, cf, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	key, err := l.VerifierKey()
	if err != nil {
		return err
	}
	return httpserver.WriteAuditExport(ctx, stdout, key, store.Audit)
}

func runAuditCheckpoint(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := auditFlags("checkpoint", stderr)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := signedIn(getenv)
	if err != nil {
		return err
	}
	var cp *slokeeper.AuditCheckpoint
	if c != nil {
		var out struct {
			Checkpoint *slokeeper.AuditCheckpoint `json:"checkpoint"`
		}
		if err := c.do(ctx, http.MethodPost, "/api/v1/audit/checkpoint", nil, &out); err != nil {
			return err
		}
		cp = out.Checkpoint
	} else {
		store, l, err := openAuditStore(ctx, cf, getenv)
		if err != nil {
			return err
		}
		defer store.Close()
		if _, err := l.Record(ctx, cliActor(), "audit.checkpoint", "audit", localDetail("requested")); err != nil {
			return err
		}
		if cp, err = l.Checkpoint(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "checkpoint: %d entries\n%s", cp.Size, cp.Note)
	return nil
}
