package simulate

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// Failure is an injected fault: the backup target down for a month.
type Failure struct {
	Kind  string // "backup"
	Month string // YYYY-MM
}

// ParseFailure parses "backup@2027-03".
func ParseFailure(s string) (Failure, error) {
	kind, month, ok := strings.Cut(s, "@")
	if _, err := time.Parse("2006-01", month); !ok || kind != "backup" || err != nil {
		return Failure{}, fmt.Errorf("--fail %q: want backup@YYYY-MM (the backup target down for that month)", s)
	}
	return Failure{Kind: kind, Month: month}, nil
}

// Config configures a simulation.
type Config struct {
	Policy *policy.Policy
	Years  int
	Days   int // if set, instead of Years
	Seed   uint64
	Start  time.Time // default: the next 1st of a month at 03:00 in the policy's zone after 2026-12-01
	Fail   []Failure
	Lang   string // "ja" or "en"
	Out    io.Writer
	// Records is how many log records a day each class gets, about.
	Records int
	// Accounts is how many active accounts there are, about (default 5;
	// negative: none).
	Accounts int
}

// Month is one row of the month-by-month table.
type Month struct {
	Month                                       string
	Records                                     int64
	Backups, Verified, ErasedOrig, ErasedBackup int
	Held, Late, Failed                          int
	Accounts, AccountsErased                    int // active at the month's end; erased in it
}

// Run simulates cfg.Years years day by day and prints a month-by-month
// table. It returns the first violation (a *Violation), or nil.
func Run(ctx context.Context, cfg Config) ([]Month, error) {
	if cfg.Records <= 0 {
		cfg.Records = 50
	}
	if cfg.Accounts == 0 {
		cfg.Accounts = 5
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	loc := cfg.Policy.Location()
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 12, 1, 3, 0, 0, 0, loc)
	}
	dir, err := os.MkdirTemp("", "slokeeper-simulate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	w, err := Open(ctx, dir, cfg.Policy, cfg.Start)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	w.People.Live = max(cfg.Accounts, 0)
	down := map[string]bool{}
	for _, f := range cfg.Fail {
		down[f.Month] = true
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5ec0))
	end := cfg.Start.AddDate(cfg.Years, 0, 0)
	if cfg.Days > 0 {
		end = cfg.Start.AddDate(0, 0, cfg.Days)
	}
	var months []Month
	var violation error
	for w.Clock.Now().Before(end) {
		month := w.Clock.Now().In(loc).Format("2006-01")
		if len(months) == 0 || months[len(months)-1].Month != month {
			months = append(months, Month{Month: month})
		}
		m := &months[len(months)-1]
		per := map[string]int{slokeeper.LogClassSystem: cfg.Records/2 + rng.IntN(cfg.Records), slokeeper.LogClassExec: cfg.Records/2 + rng.IntN(cfg.Records)}
		m.Records += int64(per[slokeeper.LogClassSystem] + per[slokeeper.LogClassExec])
		if err := w.Day(ctx, per, rng); err != nil {
			return months, err
		}
		w.Target.Down.Store(down[w.Clock.Now().In(loc).Format("2006-01")])
		res, _ := w.Exec.Run(ctx)
		for _, r := range res {
			switch {
			case r.Outcome == slokeeper.OutcomeFailed:
				m.Failed++
			case r.Kind == lifecycle.Held:
				m.Held++
			}
			if r.Outcome == slokeeper.OutcomeLate {
				m.Late++
			}
			if r.Err != nil {
				continue
			}
			switch r.Kind {
			case lifecycle.Backup:
				m.Backups++
				m.Verified++
			case lifecycle.Verify:
				m.Verified++
			case lifecycle.EraseOriginal:
				m.ErasedOrig++
			case lifecycle.EraseBackup:
				m.ErasedBackup++
			case lifecycle.EraseAccount:
				m.AccountsErased++
			}
		}
		m.Accounts = len(w.People.Active())
		// With a failure injected, erasures may run late (the interlock
		// holds them): that is reported, not a violation; loss is.
		if err := w.Check(ctx, len(cfg.Fail) > 0, w.Clock.Now().In(loc).Day() == 1); err != nil {
			violation = err
			break
		}
	}
	printTable(cfg.Out, months, cfg.Lang)
	return months, violation
}

func printTable(out io.Writer, months []Month, lang string) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	if lang == "en" {
		fmt.Fprintln(tw, "month\trecords\taccounts\tbacked up\tverified\toriginals erased\tbackups erased\taccounts erased\theld\tlate\tfailed\t")
	} else {
		fmt.Fprintln(tw, "月\tレコード\tアカウント\tバックアップ\t検証\t元データ消去\tバックアップ消去\tアカウント消去\t保留\t遅延\t失敗\t")
	}
	for _, m := range months {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", m.Month, m.Records, m.Accounts, m.Backups, m.Verified,
			m.ErasedOrig, m.ErasedBackup, m.AccountsErased, m.Held, m.Late, m.Failed)
	}
	tw.Flush()
}
