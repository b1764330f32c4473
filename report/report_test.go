package report_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/policy"
	"slokeeper/report"
	"slokeeper/uptime"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var jst = policy.Default().Location()

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, jst)
	if err != nil {
		panic(err)
	}
	return t
}

// world is a small hand-built month: January 2026, two log days each
// with a backup and a verify, one day missing its verify, a late erase,
// a failed backup retried, a late maintenance notice, an incident
// announced late and one with no notice at all.
func world() report.Input {
	ev := []*slokeeper.Evidence{
		{ID: 1, At: at("2026-01-02 01:00"), Clause: policy.ClauseSystemLogs, Action: "backup", Subject: "system/2026-01-01 b1", Outcome: "ok"},
		{ID: 2, At: at("2026-01-02 01:05"), Clause: policy.ClauseSystemLogs, Action: "verify", Subject: "system/2026-01-01 b1", Outcome: "ok"},
		{ID: 3, At: at("2026-01-03 01:00"), Clause: policy.ClauseSystemLogs, Action: "backup", Subject: "system/2026-01-02 b2", Outcome: "ok"},
		{ID: 4, At: at("2026-01-02 01:00"), Clause: policy.ClauseExecLogs, Action: "backup", Subject: "exec/2026-01-01 b3", Outcome: "failed", Detail: "injected failure: the backup target is unreachable"},
		{ID: 5, At: at("2026-01-02 02:00"), Clause: policy.ClauseExecLogs, Action: "backup", Subject: "exec/2026-01-01 b3", Outcome: "ok"},
		{ID: 6, At: at("2026-01-02 02:05"), Clause: policy.ClauseExecLogs, Action: "verify", Subject: "exec/2026-01-01 b3", Outcome: "ok"},
		{ID: 7, At: at("2026-01-03 02:00"), Clause: policy.ClauseExecLogs, Action: "backup", Subject: "exec/2026-01-02 b4", Outcome: "ok"},
		{ID: 8, At: at("2026-01-03 02:05"), Clause: policy.ClauseExecLogs, Action: "verify", Subject: "exec/2026-01-02 b4", Outcome: "ok"},
		{ID: 9, At: at("2026-01-20 06:00"), Clause: policy.ClauseUserData, Action: "erase_backup", Subject: "account:acme/2026-01-01 b5",
			Deadline: at("2026-01-17 00:00"), Outcome: "late", Detail: "the backup target was unreachable"},
		{ID: 10, At: at("2026-01-10 09:20"), Clause: policy.ClauseMaintenance, Action: "notice.maintenance_scheduled", Subject: "maintenance:m1", Outcome: "ok"},
		{ID: 11, At: at("2026-01-12 11:00"), Clause: policy.ClauseIncidents, Action: "incident.notice", Subject: "incident:i1", Deadline: at("2026-01-12 10:30"), Outcome: "late",
			Detail: "announced on the status page 1h0m0s after detection"},
		{ID: 12, At: at("2026-02-01 00:00"), Clause: policy.ClauseSystemLogs, Action: "backup", Subject: "system/2026-01-03 b9", Outcome: "late"}, // outside the period
	}
	month := []uptime.Span{{From: at("2026-01-01 00:00"), To: at("2026-01-15 00:00")}, {From: at("2026-01-15 00:00"), To: at("2026-01-15 02:00"), Down: true},
		{From: at("2026-01-15 02:00"), To: at("2026-02-01 00:00")}}
	return report.Input{
		Policy: policy.Default(), From: at("2026-01-01 00:00"), To: at("2026-02-01 00:00"),
		Evidence: func(yield func(*slokeeper.Evidence) bool) error {
			for _, e := range ev {
				if !yield(e) {
					break
				}
			}
			return nil
		},
		Components: []report.Component{
			{Name: "api", Spans: month},
			{Name: "editor", Spans: []uptime.Span{{From: at("2026-01-31 23:00"), To: at("2026-02-01 00:00")}}},
		},
		Maintenance: []*slokeeper.Maintenance{
			{ID: "m1", Start: at("2026-01-15 00:00"), End: at("2026-01-15 01:00"), CreatedAt: at("2026-01-10 09:20")},
			{ID: "m2", Start: at("2026-01-20 00:00"), End: at("2026-01-20 01:00"), CreatedAt: at("2026-01-01 09:00"), CancelledAt: at("2026-01-02 00:00")},
		},
		Incidents: []*slokeeper.Incident{
			{ID: "i1", DetectedAt: at("2026-01-12 10:00"), OpenedAt: at("2026-01-12 11:00")},
			{ID: "i2", DetectedAt: at("2026-01-25 10:00"), OpenedAt: at("2026-01-25 10:05")},
		},
		Partitions: map[string][]string{"system": {"2026-01-01", "2026-01-02"}, "exec": {"2026-01-01", "2026-01-02"}},
	}
}

func build(t testing.TB, in report.Input) *report.Report {
	t.Helper()
	r, err := report.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func clause(t testing.TB, r *report.Report, id string) *report.Clause {
	t.Helper()
	for _, c := range r.Clauses {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no clause %s", id)
	return nil
}

func TestBuildStates(t *testing.T) {
	r := build(t, world())
	want := map[string]string{
		policy.ClauseAvailability: report.Breached,    // api down 1h outside maintenance: 99.87% < 99.9%
		policy.ClauseMaintenance:  report.Breached,    // announced 5 days ahead of 7
		policy.ClauseRedundancy:   report.NotMeasured, // no node sightings
		policy.ClauseIncidents:    report.Breached,    // i1 late, i2 no evidence
		policy.ClauseDataUse:      report.NotMeasured,
		policy.ClauseSystemLogs:   report.Held, // nothing due in the period
		policy.ClauseUserData:     report.Breached,
		policy.ClauseExecLogs:     report.AtRisk, // a failed try, retried
		policy.ClauseAccess:       report.NotMeasured,
		policy.ClauseSecurity:     report.NotMeasured,
		policy.ClauseSupport:      report.NotMeasured,
	}
	var order []string
	for _, c := range r.Clauses {
		order = append(order, c.ID)
		if c.State != want[c.ID] {
			t.Errorf("%s: state %s, want %s (exceptions %+v, findings %+v)", c.ID, c.State, want[c.ID], c.Exceptions, c.Findings)
		}
		if c.State == report.NotMeasured && c.Reason == nil {
			t.Errorf("%s: not measured without a reason", c.ID)
		}
	}
	if len(order) != len(want) || order[0] != policy.ClauseAvailability || order[len(order)-1] != policy.ClauseSupport {
		t.Errorf("clauses %v, not in policy order", order)
	}
}

func TestBuildExceptions(t *testing.T) {
	r := build(t, world())
	m := clause(t, r, policy.ClauseMaintenance)
	if len(m.Exceptions) != 1 || m.Exceptions[0].Subject != "maintenance:m1" || m.Exceptions[0].Lateness <= 0 {
		t.Errorf("maintenance exceptions %+v, want m1 late", m.Exceptions)
	}
	inc := clause(t, r, policy.ClauseIncidents)
	if len(inc.Exceptions) != 1 || inc.Exceptions[0].Evidence != 11 || inc.Exceptions[0].Lateness != 1800 {
		t.Errorf("incident exceptions %+v, want evidence 11 30 min late", inc.Exceptions)
	}
	if len(inc.Findings) != 1 || inc.Findings[0].Kind != report.NoEvidence || inc.Findings[0].Subject != "incident:i2" {
		t.Errorf("incident findings %+v, want i2 without evidence", inc.Findings)
	}
	u := clause(t, r, policy.ClauseUserData)
	if len(u.Exceptions) != 1 || u.Exceptions[0].Evidence != 9 || u.Exceptions[0].Lateness != int64(3*24*3600+6*3600) {
		t.Errorf("user data exceptions %+v, want evidence 9, 3d6h late", u.Exceptions)
	}
	a := clause(t, r, policy.ClauseAvailability)
	if len(a.Exceptions) != 1 || a.Exceptions[0].Subject != "api/2026-01" {
		t.Errorf("availability exceptions %+v, want api/2026-01", a.Exceptions)
	}
	if len(a.Findings) != 1 || a.Findings[0].Kind != report.NotEnough || a.Findings[0].Subject != "editor/2026-01" {
		t.Errorf("availability findings %+v, want editor not enough", a.Findings)
	}
}

// TestBuildCompleteness: once a month's sets are due, a day without its
// verify is a finding, never held.
func TestBuildCompleteness(t *testing.T) {
	in := world()
	in.To = at("2026-02-04 00:00")
	r := build(t, in)
	s := clause(t, r, policy.ClauseSystemLogs)
	if s.State != report.Breached { // evidence 12 (late backup) is now in the period
		t.Errorf("system logs %s, want breached", s.State)
	}
	// Evidence 12 backs up 2026-01-03, a day the inventory lacks.
	if len(s.Findings) != 2 || s.Findings[0].Subject != "system/2026-01-02" || s.Findings[0].Kind != report.NoEvidence ||
		s.Findings[1].Subject != "system/2026-01-03" || s.Findings[1].Kind != report.Inconsistent {
		t.Errorf("system findings %+v, want the verify of 2026-01-02 missing and 2026-01-03 unknown to the log store", s.Findings)
	}
	e := clause(t, r, policy.ClauseExecLogs)
	if len(e.Findings) != 0 {
		t.Errorf("exec findings %+v, want none", e.Findings)
	}
	// A skipped day: every day expected when the inventory is not given.
	in.Partitions = nil
	r = build(t, in)
	if n := len(clause(t, r, policy.ClauseExecLogs).Findings); n != 2*29 {
		t.Errorf("exec findings without inventory: %d, want %d (29 days without backup and verify)", n, 2*29)
	}
}

// TestBuildCrossCheck: a backup on record of a day the log store does
// not know is reported as a mismatch of the two inventories.
func TestBuildCrossCheck(t *testing.T) {
	in := world()
	in.Partitions = map[string][]string{"system": {"2026-01-01"}, "exec": {"2026-01-01", "2026-01-02"}}
	r := build(t, in)
	s := clause(t, r, policy.ClauseSystemLogs)
	if len(s.Findings) != 1 || s.Findings[0].Kind != report.Inconsistent || s.Findings[0].Subject != "system/2026-01-02" || s.State != report.AtRisk {
		t.Errorf("system logs %s, findings %+v, want at risk with system/2026-01-02 inconsistent", s.State, s.Findings)
	}
}

func TestBuildErrInvalid(t *testing.T) {
	in := world()
	in.To = in.From
	if _, err := report.Build(in); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("empty period: %v, want EINVALID", err)
	}
	r := build(t, world())
	if err := report.WriteJSON(&bytes.Buffer{}, r, "fr"); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("lang fr: %v, want EINVALID", err)
	}
}

func TestGolden(t *testing.T) {
	r := build(t, world())
	for _, lang := range []string{"ja", "en"} {
		for _, format := range []string{"json", "csv"} {
			t.Run(lang+"."+format, func(t *testing.T) {
				var buf bytes.Buffer
				write := report.WriteJSON
				if format == "csv" {
					write = report.WriteCSV
				}
				if err := write(&buf, r, lang); err != nil {
					t.Fatal(err)
				}
				file := filepath.Join("testdata", "month."+lang+"."+format)
				if *update {
					if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("%s differs from the golden file (run with -update):\n%s", file, buf.String())
				}
			})
		}
	}
}

// BenchmarkYear builds a report over a year of synthetic evidence: per
// day, a backup and a verify of each log class, 50 accounts' user-data
// backups, an erase of each, a self check per hour.
func BenchmarkYear(b *testing.B) {
	p := policy.Default()
	from := at("2026-01-01 00:00")
	to := from.AddDate(1, 0, 0)
	stream := func(yield func(*slokeeper.Evidence) bool) error {
		var id int64
		e := &slokeeper.Evidence{Outcome: "ok"}
		emit := func(t time.Time, clause, action, subject string) bool {
			id++
			*e = slokeeper.Evidence{ID: id, At: t, Clause: clause, Action: action, Subject: subject, Outcome: "ok"}
			return yield(e)
		}
		for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
			day := d.Format(time.DateOnly)
			for _, c := range []struct{ class, clause string }{{"system", policy.ClauseSystemLogs}, {"exec", policy.ClauseExecLogs}} {
				for _, a := range []string{"backup", "verify", "erase_original"} {
					if !emit(d.Add(time.Hour), c.clause, a, c.class+"/"+day+" b"+day) {
						return nil
					}
				}
			}
			for a := range 50 {
				for _, act := range []string{"backup", "verify", "erase_backup"} {
					if !emit(d.Add(2*time.Hour), policy.ClauseUserData, act, fmt.Sprintf("account:a%d/%s b", a, day)) {
						return nil
					}
				}
			}
			for h := range 24 {
				if !emit(d.Add(time.Duration(h)*time.Hour), policy.ClauseSecurity, "self_check", "node-1") {
					return nil
				}
			}
		}
		return nil
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := report.Build(report.Input{Policy: p, From: from, To: to, Evidence: stream, Components: []report.Component{}})
		if err != nil {
			b.Fatal(err)
		}
		if err := report.WriteJSON(io.Discard, r, "en"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseDate: any input is a date or an EINVALID error, never a panic.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-01-01", "", "2026-02-30", "2026-1-1", "２０２６-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := report.ParseDate("from", s, jst)
		if err != nil {
			if slokeeper.ErrorCode(err) != slokeeper.EINVALID {
				t.Fatalf("%q: %v, want EINVALID", s, err)
			}
			return
		}
		if d.Format(time.DateOnly) != s {
			t.Fatalf("%q parsed as %s", s, d)
		}
	})
}
