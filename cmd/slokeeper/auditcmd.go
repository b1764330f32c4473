package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/ledger"
)

const auditUsage = `Usage:
  slokeeper audit verify [--format text|json]   check the ledger; exit 1 if anything was tampered with
  slokeeper audit show [--from SEQ] [--limit N] [--format text|json]
  slokeeper audit export                         entries, checkpoints and the verifier key, as NDJSON, for auditors
  slokeeper audit checkpoint                     sign a checkpoint of the ledger now

The ledger records every sensitive action; signed checkpoints (size and
Merkle root) are made every security.checkpoint_every and at shutdown.
Each node signs with its own key (DATA/audit/audit.key) and registers the
verifier key in the ledger itself on first use (entry audit.key.register),
so verify on any node checks every node's checkpoints; a checkpoint signed
by a key never registered is reported forged.
`

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
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "data", "db")
	var format string
	var from int64
	var limit int
	switch sub {
	case "verify":
		fs.StringVar(&format, "format", "text", "text or json")
	case "show":
		fs.StringVar(&format, "format", "text", "text or json")
		fs.Int64Var(&from, "from", 1, "first entry")
		fs.IntVar(&limit, "limit", 100, "at most this many (0: all)")
	case "export", "checkpoint":
	case "-h", "--help", "help":
		fmt.Fprint(stdout, auditUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "slokeeper audit: unknown command %q\n\n%s", sub, auditUsage)
		return errUsage
	}
	cfg, store, err := openForCommand(ctx, fs, cf, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	l, err := openLedger(cfg, store, slokeeper.SystemClock{})
	if err != nil {
		return err
	}
	switch sub {
	case "verify":
		rep, err := l.Verify(ctx)
		if err != nil {
			return err
		}
		if format == "json" {
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
				fmt.Fprintf(stdout, "  entry %d: %s\n", p.Seq, termSafe(p.Message))
			}
		}
		if !rep.OK() {
			return errInvalidPolicy // exit 1, already reported
		}
		return nil
	case "checkpoint":
		cp, err := l.Checkpoint(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "checkpoint: %d entries\n%s", cp.Size, cp.Note)
		return nil
	case "export":
		enc := json.NewEncoder(stdout)
		key, err := l.VerifierKey()
		if err != nil {
			return err
		}
		enc.Encode(map[string]any{"type": "verifier_key", "key": key})
		err = store.Audit.EachAuditEntry(ctx, 1, 0, func(e *slokeeper.AuditEntry) error {
			return enc.Encode(struct {
				Type string `json:"type"`
				*slokeeper.AuditEntry
			}{"entry", e})
		})
		if err != nil {
			return err
		}
		cps, err := store.Audit.FindAuditCheckpoints(ctx)
		if err != nil {
			return err
		}
		for _, cp := range cps {
			enc.Encode(struct {
				Type string `json:"type"`
				*slokeeper.AuditCheckpoint
			}{"checkpoint", cp})
		}
		return nil
	}
	enc := json.NewEncoder(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if format != "json" {
		fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tACTION\tTARGET\tDETAIL")
	}
	n := 0
	err = store.Audit.EachAuditEntry(ctx, from, 0, func(e *slokeeper.AuditEntry) error {
		if limit > 0 && n >= limit {
			return nil
		}
		n++
		if format == "json" {
			return enc.Encode(e)
		}
		_, err := fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.Format(time.RFC3339), termSafe(e.Actor), termSafe(e.Action), termSafe(e.Target), termSafe(e.Detail))
		return err
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}
