// Command slokeeper runs a cloud service's service-level objectives: the
// server (slokeeper serve) and the administration commands, one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	_ "time/tzdata" // policies name IANA time zones; a static binary may run where none are installed

	"slokeeper"
	"slokeeper/internal/redact"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version string

// Version returns the build's version: the one set at build time, or the
// VCS revision Go recorded.
func Version() string {
	if version != "" {
		return version
	}
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			v += "-" + rev[:12]
		}
		if dirty {
			v += "-dirty"
		}
	}
	return v
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `slokeeper runs a service's service-level objectives.

Usage:
  slokeeper login --server URL        sign in to a server; later commands act as you through it
  slokeeper logout                    revoke the stored sign-in and delete it
  slokeeper whoami                    who the stored sign-in (or SLOKEEPER_TOKEN) acts as
  slokeeper serve [flags]             run the server (HTTP, jobs) on the store
  slokeeper policy show [flags]       show the SLO policy (--lang ja|en, --format text|json)
  slokeeper policy check [flags]      check a policy file; exit 1 if it has errors
  slokeeper policy init               print the default policy, with comments, as a starting file
  slokeeper evidence list [flags]     list what slokeeper did to keep the policy
  slokeeper report --from D --to D    the compliance report: every clause, its state, exceptions, missing evidence
  slokeeper source add|list|revoke    manage log sources and their tokens
  slokeeper logs query|partitions     read the log store
  slokeeper audit verify|show|export|checkpoint   the tamper-evident audit ledger
  slokeeper keys rotate               rotate the master key without downtime
  slokeeper nodes                     the cluster's nodes, from their heartbeats, and its alert
  slokeeper operator add|list|disable|passwd|totp|token   staff who sign in
  slokeeper account create|list|put|get|delete|cancel-deletion   accounts and their encrypted data
  slokeeper grant request|approve|revoke|list   just-in-time access to an account's data
  slokeeper access review             who holds which role and grant, and what each grant was used for
  slokeeper backup run|list|sets|verify|restore|catalog rebuild   backups of logs and accounts
  slokeeper lifecycle plan|run        backups, retention and erasure: what is due, and doing it
  slokeeper component apply|list|remove   the components the status page shows, and their probes
  slokeeper maintenance schedule|reschedule|cancel|list   maintenance windows, announced ahead
  slokeeper incident list|open|update|resolve|postmortem   incidents on the status page, and their timelines
  slokeeper obligation list|signoff   the periodic access review and internal audit: due dates, sign-off
  slokeeper simulate --years N        run the lifecycle over simulated years and check every data clause
  slokeeper loadgen --url U --token T drive a server with generated log traffic
  slokeeper version                   print the version (also --version)

Every command has --help (and -h). After slokeeper login, every command that
acts as an operator goes through the server's API as you, and the ledger
records you. The commands that also work on a store directly, without a
sign-in (a stopped server's data directory: --config, --data, --db and, for
anything encrypted, --master-key), say so in their --help; the ledger
records their changes as local administration by local:USER@HOST.
`

// errUsage marks command-line mistakes: exit status 2.
var errUsage = errors.New("usage")

// run runs one command and returns the process exit status: 0 success, 1
// failure (or an invalid policy), 2 a command-line mistake.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, getenv, os.Stdin, stdout, stderr)
}

// runWith is run with the input that login reads secrets from when it is
// not a terminal.
func runWith(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, getenv, stdin, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errInvalidPolicy):
		return 1
	}
	// A slokeeper error's message is written for people; anything else
	// is shown whole. Either way without credentials: a library's error
	// may quote the URL or DSN it was given.
	if slokeeper.ErrorCode(err) != slokeeper.EINTERNAL {
		fmt.Fprintln(stderr, "slokeeper:", redact.String(slokeeper.ErrorMessage(err)))
	} else {
		fmt.Fprintln(stderr, "slokeeper:", redact.Error(err))
	}
	return 1
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "login":
		return runLogin(ctx, rest, getenv, stdin, stdout, stderr)
	case "logout":
		return runLogout(ctx, rest, getenv, stdout, stderr)
	case "whoami":
		return runWhoami(ctx, rest, getenv, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, getenv, stderr)
	case "policy":
		return runPolicy(rest, getenv, stdout, stderr)
	case "report":
		return runReport(ctx, rest, getenv, stdout, stderr)
	case "evidence":
		return runEvidence(ctx, rest, getenv, stdout, stderr)
	case "source":
		return runSource(ctx, rest, getenv, stdout, stderr)
	case "logs":
		return runLogs(ctx, rest, getenv, stdout, stderr)
	case "audit":
		return runAudit(ctx, rest, getenv, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, getenv, stdout, stderr)
	case "nodes":
		return runNodes(ctx, rest, getenv, stdout, stderr)
	case "operator":
		return runOperator(ctx, rest, getenv, stdin, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, getenv, stdout, stderr)
	case "lifecycle":
		return runLifecycle(ctx, rest, getenv, stdout, stderr)
	case "simulate":
		return runSimulate(ctx, rest, getenv, stdout, stderr)
	case "component":
		return runComponent(ctx, rest, getenv, stdout, stderr)
	case "maintenance":
		return runMaintenance(ctx, rest, getenv, stdout, stderr)
	case "incident":
		return runIncident(ctx, rest, getenv, stdout, stderr)
	case "obligation":
		return runObligation(ctx, rest, getenv, stdout, stderr)
	case "account", "grant", "access":
		return runAccount(ctx, cmd, rest, getenv, stdout, stderr)
	case "loadgen":
		return runLoadgen(ctx, rest, stdout, stderr)
	case "version", "--version", "-version", "-v":
		if len(rest) > 0 && helpFlag(rest[0]) {
			fmt.Fprintln(stdout, "Usage: slokeeper version (also --version): print the version")
			return nil
		}
		fmt.Fprintln(stdout, "slokeeper", Version())
		return nil
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "slokeeper: unknown command %q\n\n%s", cmd, usage)
	return errUsage
}

// helpFlag reports whether arg asks for help.
func helpFlag(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help"
}

// positionalArg takes a command's leading argument (an ID, a file). ok is
// false when there is none; a request for help is left for parseFlags, so
// that "slokeeper operator disable --help" shows the usage.
func positionalArg(args []string) (arg string, rest []string, ok bool) {
	switch {
	case len(args) > 0 && helpFlag(args[0]):
		return "", args, true
	case len(args) == 0 || strings.HasPrefix(args[0], "-"):
		return "", args, false
	}
	return args[0], args[1:], true
}

// parseFlags parses a command's flags; mistakes print the usage and
// return errUsage.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// timeFlag is a command-line time in RFC 3339, parsed into dst when set.
type timeFlag struct {
	name, value string
	dst         *time.Time
}

// parseTimeFlags parses each set flag, or says which is wrong and returns
// errUsage.
func parseTimeFlags(cmd string, stderr io.Writer, flags ...timeFlag) error {
	for _, f := range flags {
		if f.value == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, f.value)
		if err != nil {
			fmt.Fprintf(stderr, "%s: --%s %q is not an RFC 3339 time such as 2026-12-03T10:00:00+09:00\n", cmd, f.name, f.value)
			return errUsage
		}
		*f.dst = v
	}
	return nil
}

// openForCommand parses an administration command's flags, loads the
// configuration and opens the store it works on. The caller closes the store.
func openForCommand(ctx context.Context, fs *flag.FlagSet, cf *configFlags, args []string, getenv func(string) string, stderr io.Writer) (Config, *Store, error) {
	if err := parseFlags(fs, args, stderr); err != nil {
		return Config{}, nil, err
	}
	cfg, err := cf.load(getenv)
	if err != nil {
		return Config{}, nil, err
	}
	store, err := OpenStore(ctx, cfg)
	return cfg, store, err
}

// subcommand runs one subcommand of a group with the arguments after its
// name; its flags are declared beside it.
type subcommand func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// runGroup runs the subcommand args[0] names among subs: help (-h,
// --help, help) prints usage and succeeds; nothing or an unknown name is a
// usage error.
func runGroup(ctx context.Context, group, usage string, subs map[string]subcommand, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	if run, ok := subs[sub]; ok {
		return run(ctx, args, getenv, stdout, stderr)
	}
	if sub == "help" || helpFlag(sub) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "slokeeper %s: unknown command %q\n\n%s", group, sub, usage)
	return errUsage
}
