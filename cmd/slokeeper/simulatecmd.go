package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"slokeeper/internal/simulate"
)

const simulateUsage = `Usage:
  slokeeper simulate [--years N] [--policy F] [--seed S] [--records R] [--accounts A] [--fail backup@YYYY-MM]... [--lang ja|en]

Runs the lifecycle engine over N simulated years in a temporary data
directory: generated log traffic and customers who sign up, change their
data, delete their accounts and sometimes take it back; the real log store,
account store, keys, backup target, catalog, planner and executor, day by
day, checking every data clause after every day. Prints a month-by-month
table; exits 1 at the first violation. --fail takes the backup target down
for a month: the interlock holds the originals, and the erasures are
reported late, never lost.
`

type failures []simulate.Failure

func (f *failures) String() string { return fmt.Sprint(*f) }
func (f *failures) Set(s string) error {
	x, err := simulate.ParseFailure(s)
	if err == nil {
		*f = append(*f, x)
	}
	return err
}

func runSimulate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, simulateUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "policy")
	years := fs.Int("years", 4, "how many years to simulate")
	seed := fs.Uint64("seed", 1, "seed of the generated traffic")
	records := fs.Int("records", 50, "log records a day per class, about")
	accounts := fs.Int("accounts", 5, "active accounts, about (0: none)")
	lang := fs.String("lang", "ja", "language: ja or en")
	var fail failures
	fs.Var(&fail, "fail", "inject a failure: backup@YYYY-MM (repeatable)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	cfg, err := cf.load(getenv)
	if err != nil {
		return err
	}
	if *years < 1 || *years > 50 || (*lang != "ja" && *lang != "en") {
		fmt.Fprint(stderr, "simulate: --years is 1 to 50, --lang ja or en\n")
		return errUsage
	}
	pol, err := loadPolicy(cfg.Policy, discardLogger())
	if err != nil {
		return err
	}
	_, runErr := simulate.Run(ctx, simulate.Config{Policy: pol, Years: *years, Seed: *seed, Fail: fail, Lang: *lang, Out: stdout, Records: *records,
		Accounts: cmp.Or(*accounts, -1)})
	if v, ok := runErr.(*simulate.Violation); ok {
		text := v.Text.JA
		if *lang == "en" {
			text = v.Text.EN
		}
		return fmt.Errorf("violation of %s: %s", v.Clause, strings.TrimSuffix(text, "."))
	}
	if runErr != nil {
		return runErr
	}
	if *lang == "en" {
		fmt.Fprintf(stdout, "\nEvery data clause held, every day of %d year(s).\n", *years)
	} else {
		fmt.Fprintf(stdout, "\n%d年間、毎日すべてのデータの条項が守られました。\n", *years)
	}
	return nil
}
