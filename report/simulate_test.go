package report_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/simulate"
	"slokeeper/internal/sqlite"
	"slokeeper/policy"
	"slokeeper/report"
)

// simulated runs the lifecycle engine over days from 2026-12-01 with
// the backup target down in the month down ("" none) and no traffic at
// all on the day skip ("" none), and returns the world and the period.
func simulated(t *testing.T, days int, down, skip string) (*simulate.World, time.Time, time.Time) {
	t.Helper()
	ctx := context.Background()
	p := policy.Default()
	loc := p.Location()
	start := time.Date(2026, 12, 1, 3, 0, 0, 0, loc)
	w, err := simulate.Open(ctx, t.TempDir(), p, start)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	rng := rand.New(rand.NewPCG(7, 0x5ec0))
	for range days {
		if w.Clock.Now().In(loc).Format(time.DateOnly) == skip {
			w.Clock.Add(24 * time.Hour)
		} else if err := w.Day(ctx, map[string]int{slokeeper.LogClassSystem: 20, slokeeper.LogClassExec: 20}, rng); err != nil {
			t.Fatal(err)
		}
		w.Target.Down.Store(w.Clock.Now().In(loc).Format("2006-01") == down)
		w.Exec.Run(ctx)
	}
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, loc)
	to := time.Date(2026, 12, 1+days, 0, 0, 0, 0, loc)
	return w, from, to
}

func simulatedInput(w *simulate.World, from, to time.Time, inventory bool, deleted int64) report.Input {
	in := report.Input{Policy: w.Policy, From: from, To: to, Components: []report.Component{}}
	ev := sqlite.NewEvidenceService(w.DB)
	in.Evidence = func(yield func(*slokeeper.Evidence) bool) error {
		es, _, err := ev.FindEvidence(context.Background(), slokeeper.EvidenceFilter{Since: from, Until: to})
		for _, e := range es {
			if e.ID == deleted {
				continue
			}
			if !yield(e) {
				break
			}
		}
		return err
	}
	if inventory {
		in.Partitions = map[string][]string{}
		for k := range w.Generated {
			in.Partitions[k[0]] = append(in.Partitions[k[0]], k[1])
		}
	}
	return in
}

// TestSimulated: 75 days of the lifecycle engine with the backup target
// down in January 2027 and no traffic on 2026-12-10. The report lists as
// exceptions exactly the injected failure: the tries that failed while
// the target was down, and the backups and erasures it made late, each
// after the target came back; nothing else in any clause. A deleted
// evidence row and the skipped day each appear as "no evidence".
func TestSimulated(t *testing.T) {
	w, from, to := simulated(t, 75, "2027-01", "2026-12-10")
	loc := w.Policy.Location()
	downFrom, downTo := time.Date(2027, 1, 1, 0, 0, 0, 0, loc), time.Date(2027, 2, 1, 0, 0, 0, 0, loc)
	// An evidence row deleted behind the report's back.
	ev := sqlite.NewEvidenceService(w.DB)
	es, _, err := ev.FindEvidence(context.Background(), slokeeper.EvidenceFilter{Action: "verify", Clause: policy.ClauseSystemLogs})
	if err != nil || len(es) == 0 {
		t.Fatalf("verify evidence: %v %v", es, err)
	}
	// The store refuses deletes (a trigger keeps evidence append-only),
	// so the row goes missing on the way in, as if someone had removed it.
	deleted := es[0]
	deletedKey := strings.Fields(deleted.Subject)[0]

	r := build(t, simulatedInput(w, from, to, true, deleted.ID))
	var failed, late int
	for _, c := range r.Clauses {
		for _, x := range c.Exceptions {
			switch {
			case c.ID != policy.ClauseSystemLogs && c.ID != policy.ClauseExecLogs:
				t.Errorf("%s: exception %+v, want none outside the log classes", c.ID, x)
			case x.Outcome == slokeeper.OutcomeFailed && !x.DoneAt.Before(downFrom) && x.DoneAt.Before(downTo) && strings.Contains(x.Cause, "injected failure"):
				failed++
			case x.Outcome == slokeeper.OutcomeLate && !x.DoneAt.Before(downTo) && x.Lateness > 0:
				late++
			default:
				t.Errorf("%s: exception %+v is not the injected failure or its consequence", c.ID, x)
			}
		}
		wantFindings := 0
		if c.ID == policy.ClauseSystemLogs {
			wantFindings = 1
		}
		if len(c.Findings) != wantFindings {
			t.Errorf("%s: findings %+v, want %d", c.ID, c.Findings, wantFindings)
		}
	}
	if failed == 0 || late == 0 {
		t.Errorf("%d failed tries, %d late actions: the injected failure is missing from the report", failed, late)
	}
	if s := clause(t, r, policy.ClauseSystemLogs); s.State != report.Breached || len(s.Findings) != 1 || s.Findings[0].Subject != deletedKey || s.Findings[0].Kind != report.NoEvidence {
		t.Errorf("system logs: %s, findings %+v, want breached and the verify of %s without evidence", s.State, s.Findings, deletedKey)
	}
	// Without the log store's inventory every day is expected: the day
	// without traffic has no partition, so no backup and no verify.
	r = build(t, simulatedInput(w, from, to, false, deleted.ID))
	for _, id := range []string{policy.ClauseSystemLogs, policy.ClauseExecLogs} {
		var skipped int
		for _, f := range clause(t, r, id).Findings {
			if strings.HasSuffix(f.Subject, "/2026-12-10") && f.Kind == report.NoEvidence {
				skipped++
			}
		}
		if skipped != 2 {
			t.Errorf("%s: %d findings for the skipped day, want 2 (backup, verify): %+v", id, skipped, clause(t, r, id).Findings)
		}
	}
}

// TestSimulatedClean: with no failure injected the same 75 days report no
// exception and no finding, and no clause breached or at risk.
func TestSimulatedClean(t *testing.T) {
	w, from, to := simulated(t, 75, "", "")
	r := build(t, simulatedInput(w, from, to, true, 0))
	for _, c := range r.Clauses {
		if len(c.Exceptions) != 0 || len(c.Findings) != 0 || c.State == report.Breached || c.State == report.AtRisk {
			t.Errorf("%s: %s, exceptions %+v, findings %+v", c.ID, c.State, c.Exceptions, c.Findings)
		}
	}
}
