package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"slokeeper/policy"
)

// discardLogger is for commands where the policy's warnings would be noise:
// they are for whoever starts a server.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// errInvalidPolicy: the problems are already printed; exit 1.
var errInvalidPolicy = errors.New("invalid policy")

// errLockOutlasts: policy check found the backup target's object lock
// keeping backups past an erase ceiling.
var errLockOutlasts = errors.New("the backup target's object lock outlasts an erase ceiling of the policy (see above)")

// loadPolicy reads the policy file, or the embedded default when path is
// empty. Warnings are logged; errors refuse the start, all listed.
func loadPolicy(path string, logger *slog.Logger) (*policy.Policy, error) {
	name, data, err := readPolicy(path)
	if err != nil {
		return nil, err
	}
	p, problems, err := policy.Load(name, data)
	for _, pr := range problems {
		if pr.Severity == policy.SevWarning {
			logger.Warn("policy: " + pr.String())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the policy has errors:\n%w", err)
	}
	return p, nil
}

func readPolicy(path string) (name string, data []byte, err error) {
	if path == "" {
		return policy.DefaultName, policy.DefaultYAML(), nil
	}
	data, err = os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("read policy: %w", err)
	}
	return path, data, nil
}

const policyUsage = `Usage:
  slokeeper policy show [--file F] [--lang ja|en] [--format text|json]
  slokeeper policy check [--file F] [--backup-target T]
  slokeeper policy init

Without --file, the policy named by --config (its "policy:" setting) is
used, and without that the embedded default, which encodes the reference SLO.
`

func runPolicy(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("policy "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, policyUsage, "\nFlags:\n"); fs.PrintDefaults() }
	var file, lang, format string
	var cf *configFlags
	if sub == "show" {
		cf = newConfigFlags(fs)
	}
	if sub == "check" { // and what the configured backup target keeps of erased backups
		cf = newConfigFlags(fs, "backup-target")
	}
	if sub == "show" || sub == "check" {
		fs.StringVar(&file, "file", "", "policy file (default: the configured policy, or the embedded default)")
	}
	if sub == "show" {
		fs.StringVar(&lang, "lang", "ja", "language: ja or en")
		fs.StringVar(&format, "format", "text", "format: text or json")
	}
	switch sub {
	case "show", "check", "init":
	case "-h", "--help", "help":
		fmt.Fprint(stdout, policyUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "slokeeper policy: unknown command %q\n\n%s", sub, policyUsage)
		return errUsage
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if sub == "init" {
		_, err := stdout.Write(policy.DefaultYAML())
		return err
	}
	var cfg Config
	if file == "" || sub == "check" {
		var err error
		if cfg, err = cf.load(getenv); err != nil {
			if file == "" {
				return err
			}
			cfg = Config{} // a policy file alone: no target to check
		}
		if file == "" {
			file = cfg.Policy
		}
	}
	name, data, err := readPolicy(file)
	if err != nil {
		return err
	}
	p, problems := policy.Parse(name, data)
	if sub == "check" {
		for _, pr := range problems {
			fmt.Fprintln(stderr, pr)
		}
		if policy.HasErrors(problems) {
			return errInvalidPolicy
		}
		if cfg.BackupTarget != "" {
			// A configured target: what it keeps of erased backups,
			// asked within a bound.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			target, err := openTarget(ctx, cfg)
			if err != nil {
				return err
			}
			conflict, err := warnTarget(ctx, target, p, time.Now(), stderr)
			if err != nil {
				return err
			}
			if conflict {
				return errLockOutlasts
			}
		}
		switch len(problems) {
		case 0:
			fmt.Fprintf(stdout, "%s: valid\n", name)
		case 1:
			fmt.Fprintf(stdout, "%s: valid, 1 warning\n", name)
		default:
			fmt.Fprintf(stdout, "%s: valid, %d warnings\n", name, len(problems))
		}
		return nil
	}
	if policy.HasErrors(problems) {
		for _, pr := range problems {
			fmt.Fprintln(stderr, pr)
		}
		return errInvalidPolicy
	}
	switch {
	case !slices.Contains(policy.Languages, lang):
		fmt.Fprintf(stderr, "policy show: --lang %q is not ja or en\n", lang)
		return errUsage
	case format == "json":
		return policy.WriteJSON(stdout, p)
	case format == "text":
		return policy.WriteText(stdout, p, lang)
	}
	fmt.Fprintf(stderr, "policy show: --format %q is not text or json\n", format)
	return errUsage
}
