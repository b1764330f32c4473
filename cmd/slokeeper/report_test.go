package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/policy"
)

// TestReportCLI: an auditor signed in with slokeeper login reads the
// compliance report through the API, in JSON and CSV, into --out; a late
// erase on record is an exception naming its evidence; the reading is in
// the ledger under the auditor's name; bad input is refused clearly.
func TestReportCLI(t *testing.T) {
	m := MustRunMain(t, testConfig())
	ctx := context.Background()
	loc := m.Policy.Location()
	day := m.Clock.Now().In(loc)
	from := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	to := from.AddDate(0, 0, 1)
	e := &slokeeper.Evidence{At: from.Add(time.Hour), Clause: policy.ClauseUserData, Action: "erase_backup", Subject: "account:acme/2026-01-01 b1",
		Deadline: from.Add(30 * time.Minute), Outcome: slokeeper.OutcomeLate, Detail: "the backup target was unreachable"}
	if err := m.Store.Evidence.RecordEvidence(ctx, e); err != nil {
		t.Fatal(err)
	}
	aki := cliLogin(t, m, "aki", slokeeper.RoleAuditor)
	dir := t.TempDir()
	f, tt := from.Format(time.DateOnly), to.Format(time.DateOnly)
	if _, stderr, code := aki.run("report", "--from", f, "--to", tt, "--lang", "en", "--out", dir); code != 0 {
		t.Fatalf("report = %d %q", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report-"+f+"-"+tt+".en.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Lang    string `json:"lang"`
		Clauses []struct {
			ID         string `json:"id"`
			State      string `json:"state"`
			Exceptions []struct {
				Evidence int64 `json:"evidence"`
				Lateness int64 `json:"lateness_seconds"`
			} `json:"exceptions"`
		} `json:"clauses"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, b)
	}
	var found bool
	for _, c := range rep.Clauses {
		if c.ID == policy.ClauseUserData {
			found = c.State == "breached" && len(c.Exceptions) == 1 && c.Exceptions[0].Evidence == e.ID && c.Exceptions[0].Lateness == 1800
		}
		if c.ID == policy.ClauseSupport && c.State != "not_measured" {
			t.Errorf("support: %s, want not_measured", c.State)
		}
	}
	if rep.Lang != "en" || len(rep.Clauses) != 11 || !found {
		t.Errorf("report: %s", b)
	}
	out, stderr, code := aki.run("report", "--from", f, "--to", tt, "--lang", "ja", "--format", "csv")
	if code != 0 || !strings.HasPrefix(out, "clause,state,kind,evidence,") || !strings.Contains(out, "data.user_data,breached,exception,") {
		t.Errorf("report --format csv = %d %q %q", code, out, stderr)
	}
	var reads int
	for _, a := range auditEntries(t, m) {
		if a.Action == "report.read" && strings.Contains(a.Actor, "aki") {
			reads++
		}
	}
	if reads != 2 {
		t.Errorf("%d report.read entries by aki in the ledger, want 2", reads)
	}
	if _, stderr, code := aki.run("report", "--from", "2026-13-01", "--to", tt); code != 1 || !strings.Contains(stderr, "is not a date") {
		t.Errorf("report with a bad date = %d %q", code, stderr)
	}
	if _, stderr, code := aki.run("report", "--from", f, "--to", tt, "--lang", "fr"); code != 1 || !strings.Contains(stderr, "not ja or en") {
		t.Errorf("report --lang fr = %d %q", code, stderr)
	}
	if _, _, code := aki.run("report"); code != 2 {
		t.Errorf("report without --from = %d, want 2", code)
	}
	// Without a sign-in the API refuses, and says so in JSON.
	resp, err := http.Get(m.HTTP.URL() + "/api/v1/reports?from=" + f + "&to=" + tt)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/reports without a sign-in = %d, want 401", resp.StatusCode)
	}
	if out, _, code := aki.run("report", "--help"); code != 0 || !strings.Contains(out, "Usage: slokeeper report") {
		t.Errorf("report --help = %d %q", code, out)
	}
}
