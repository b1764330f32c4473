package httpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// catalogLifecycle is a Lifecycle over a real SQLite backup catalog and the
// real planner, with a fixed set of log partitions: what the pages and the
// API read and change. A requested pass is counted, not run.
type catalogLifecycle struct {
	cat    slokeeper.BackupCatalog
	pol    *policy.Policy
	parts  []lifecycle.Partition
	passes int64
}

func (c *catalogLifecycle) inventory(ctx context.Context) (lifecycle.Inventory, error) {
	inv := lifecycle.Inventory{Partitions: c.parts}
	recs, err := c.cat.FindBackups(ctx, slokeeper.BackupFilter{SkipManifest: true})
	for _, r := range recs {
		inv.Backups = append(inv.Backups, lifecycle.BackupCopy{ID: r.ID, Class: r.Class, Day: r.Day, Created: r.Created, Verified: !r.VerifiedAt.IsZero(), Checksum: r.Checksum, Records: r.Records})
	}
	return inv, err
}

func (c *catalogLifecycle) Plan(ctx context.Context, at time.Time) ([]lifecycle.Action, error) {
	inv, err := c.inventory(ctx)
	if err != nil {
		return nil, err
	}
	return lifecycle.Plan(c.pol, inv, at)
}

func (c *catalogLifecycle) Sets(ctx context.Context, at time.Time) ([]lifecycle.Set, error) {
	inv, err := c.inventory(ctx)
	if err != nil {
		return nil, err
	}
	return lifecycle.Sets(c.pol, inv, at)
}

func (c *catalogLifecycle) Backups(ctx context.Context, f slokeeper.BackupFilter) ([]*slokeeper.BackupRecord, error) {
	return c.cat.FindBackups(ctx, f)
}

func (c *catalogLifecycle) VerifyBackup(ctx context.Context, id string) (*slokeeper.BackupRecord, error) {
	if err := c.cat.MarkBackupVerified(ctx, id, time.Now()); err != nil {
		return nil, err
	}
	recs, err := c.cat.FindBackups(ctx, slokeeper.BackupFilter{ID: id})
	if err != nil || len(recs) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "no backup %s", id)
	}
	return recs[0], nil
}

func (c *catalogLifecycle) RequestPass(ctx context.Context) (*PassJob, error) {
	c.passes++
	return &PassJob{ID: c.passes, State: "available"}, nil
}

func (c *catalogLifecycle) Pass(ctx context.Context, id int64) (*PassJob, error) {
	if id > c.passes {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "no run %d", id)
	}
	return &PassJob{ID: id, State: "running"}, nil
}

// opsServer is a console server with a backup of exec/2026-11-02 in the
// catalog, not yet verified, and an exec day long past its retention that
// no verified backup covers: its erasure is held by the interlock.
func opsServer(t *testing.T, e engine) (*Server, *catalogLifecycle) {
	t.Helper()
	var lc *catalogLifecycle
	s := consoleServer(t, e, func(s *Server, svc slokeeper.Services) {
		lc = &catalogLifecycle{cat: svc.Backups, pol: s.Policy, parts: []lifecycle.Partition{
			{Class: "exec", Day: "2020-01-05", Sealed: true, Checksum: "c1", Records: 10},
			{Class: "exec", Day: "2026-11-02", Sealed: true, Checksum: "c2", Records: 20},
		}}
		if err := lc.cat.AddBackup(context.Background(), &slokeeper.BackupRecord{ID: "bk_one", Class: "exec", Day: "2026-11-02", Checksum: "c2", Records: 20,
			Created: time.Now().Add(-time.Hour), Manifest: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
		s.Lifecycle = lc
	})
	return s, lc
}

// TestConsoleLifecyclePages: every staff role reads the plan (the held
// erasure and why), the backups and their sets, and the policy; an
// operator verifies a backup, asks for a pass and requests a restore, each
// in the ledger under their name; an auditor and a support operator may
// do none of it, in the browser or the API.
func TestConsoleLifecyclePages(t *testing.T) { onEachEngine(t, testConsoleLifecyclePages) }

func testConsoleLifecyclePages(t *testing.T, e engine) {
	s, lc := opsServer(t, e)
	op, auditor, support := session(t, s, "olga", slokeeper.RoleOperator), session(t, s, "audrey", slokeeper.RoleAuditor), session(t, s, "sam", slokeeper.RoleSupport)

	for name, c := range map[string]*http.Client{"operator": op, "auditor": auditor, "support": support} {
		if status, body := fetch(t, c, "GET", s.URL()+"/admin/lifecycle?lang=en", nil); status != 200 || !strings.Contains(body, `class="plan-held"`) || !strings.Contains(body, "exec/2020-01-05") {
			t.Errorf("%s: /admin/lifecycle = %d, want the held erasure of exec/2020-01-05\n%s", name, status, body)
		}
		if status, body := fetch(t, c, "GET", s.URL()+"/admin/backups?lang=ja", nil); status != 200 || !strings.Contains(body, `id="backup-bk_one"`) || !strings.Contains(body, "exec/2026-11") {
			t.Errorf("%s: /admin/backups = %d\n%s", name, status, body)
		}
		if status, body := fetch(t, c, "GET", s.URL()+"/admin/policy?lang=en", nil); status != 200 || !strings.Contains(body, `<pre id="policy">`) {
			t.Errorf("%s: /admin/policy = %d\n%s", name, status, body)
		}
	}
	if _, body := fetch(t, auditor, "GET", s.URL()+"/admin/backups?lang=en", nil); strings.Contains(body, "Verify now") || strings.Contains(body, `id="restore-form"`) {
		t.Error("an auditor is offered verify or the restore form")
	}

	// Refused: auditor and support change nothing.
	for name, c := range map[string]*http.Client{"auditor": auditor, "support": support} {
		if status, _ := fetch(t, c, "POST", s.URL()+"/admin/backups/bk_one/verify?lang=en", url.Values{}); status != 403 {
			t.Errorf("%s verifying = %d, want 403", name, status)
		}
		if status, _ := fetch(t, c, "POST", s.URL()+"/admin/lifecycle/runs?lang=en", url.Values{}); status != 403 {
			t.Errorf("%s asking for a pass = %d, want 403", name, status)
		}
		if status, _ := fetch(t, c, "POST", s.URL()+"/admin/restore-requests?lang=en", url.Values{"backup": {"bk_one"}, "reason": {"x"}}); status != 403 {
			t.Errorf("%s requesting a restore = %d, want 403", name, status)
		}
	}
	if lc.passes != 0 {
		t.Fatalf("%d passes asked by roles that may not", lc.passes)
	}

	// The operator verifies, asks for a pass, requests a restore.
	if status, body := fetch(t, op, "POST", s.URL()+"/admin/backups/bk_one/verify?lang=en", url.Values{}); status != 200 || !strings.Contains(body, "read back and everything checked") {
		t.Errorf("operator verifying = %d\n%s", status, body)
	}
	if status, body := fetch(t, op, "POST", s.URL()+"/admin/lifecycle/runs?lang=en", url.Values{}); status != 200 || !strings.Contains(body, `id="pass-state"`) || lc.passes != 1 {
		t.Errorf("operator asking for a pass = %d (%d passes)\n%s", status, lc.passes, body)
	}
	if status, body := fetch(t, op, "POST", s.URL()+"/admin/restore-requests?lang=en", url.Values{"backup": {"bk_one"}, "reason": {""}}); status != 400 || !strings.Contains(body, "Say why") {
		t.Errorf("a restore request without a reason = %d\n%s", status, body)
	}
	status, body := fetch(t, op, "POST", s.URL()+"/admin/restore-requests?lang=en", url.Values{"backup": {"bk_one"}, "reason": {"customer asks for November 2"}})
	if status != 200 || !strings.Contains(body, "slokeeper backup restore bk_one --into DIR") || !strings.Contains(body, "customer asks for November 2") {
		t.Errorf("a restore request = %d\n%s", status, body)
	}
	want := map[string]bool{"backup.verify": false, "lifecycle.run": false, "backup.restore_request": false}
	s.AuditLog.EachAuditEntry(context.Background(), 1, 0, func(e *slokeeper.AuditEntry) error {
		if _, ok := want[e.Action]; ok {
			want[e.Action] = true
			if e.Actor != "operator:olga" {
				t.Errorf("%s by %q, want operator:olga", e.Action, e.Actor)
			}
		}
		return nil
	})
	for a, ok := range want {
		if !ok {
			t.Errorf("no %s in the ledger", a)
		}
	}
}

// TestLifecycleAPI: the API's roles, and what it answers.
func TestLifecycleAPI(t *testing.T) { onEachEngine(t, testLifecycleAPI) }

func testLifecycleAPI(t *testing.T, e engine) {
	s, _ := opsServer(t, e)
	op, auditor, support := session(t, s, "olga", slokeeper.RoleOperator), session(t, s, "audrey", slokeeper.RoleAuditor), session(t, s, "sam", slokeeper.RoleSupport)
	call := func(c *http.Client, method, path, body string) (int, map[string]json.RawMessage) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]json.RawMessage
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	var plan []PlanItem
	status, out := call(auditor, "GET", "/api/v1/lifecycle/plan", "")
	json.Unmarshal(out["actions"], &plan)
	held := false
	for _, a := range plan {
		if a.State == lifecycle.StateHeld && a.Subject == "exec/2020-01-05" && a.Reason.EN != "" && a.Reason.JA != "" {
			held = true
		}
	}
	if status != 200 || !held {
		t.Errorf("auditor GET plan = %d, no held erasure with its reason: %+v", status, plan)
	}
	if status, out := call(auditor, "GET", "/api/v1/backups?class=exec", ""); status != 200 || !strings.Contains(string(out["backups"]), "bk_one") {
		t.Errorf("auditor GET backups = %d %s", status, out["backups"])
	}
	if status, out := call(support, "GET", "/api/v1/backups/sets", ""); status != 200 || !strings.Contains(string(out["sets"]), `"period": "2026-11"`) {
		t.Errorf("support GET sets = %d %s", status, out["sets"])
	}
	for name, c := range map[string]*http.Client{"auditor": auditor, "support": support} {
		if status, _ := call(c, "POST", "/api/v1/backups/bk_one/verify", ""); status != 403 {
			t.Errorf("%s verify = %d, want 403", name, status)
		}
		if status, _ := call(c, "POST", "/api/v1/lifecycle/runs", ""); status != 403 {
			t.Errorf("%s run = %d, want 403", name, status)
		}
		if status, _ := call(c, "POST", "/api/v1/restore-requests", `{"backup":"bk_one","reason":"x"}`); status != 403 {
			t.Errorf("%s restore request = %d, want 403", name, status)
		}
	}
	if status, out := call(op, "POST", "/api/v1/backups/bk_one/verify", ""); status != 200 || !strings.Contains(string(out["backup"]), "verified_at") {
		t.Errorf("operator verify = %d %s", status, out["backup"])
	}
	if status, _ := call(op, "POST", "/api/v1/backups/bk_nosuch/verify", ""); status != 404 {
		t.Errorf("verify of an unknown backup = %d, want 404", status)
	}
	if status, out := call(op, "POST", "/api/v1/lifecycle/runs", ""); status != 202 || !strings.Contains(string(out["run"]), `"id": 1`) {
		t.Errorf("operator run = %d %s", status, out["run"])
	}
	if status, _ := call(op, "POST", "/api/v1/restore-requests", `{"backup":"bk_one","reason":"drill"}`); status != 201 {
		t.Errorf("operator restore request = %d", status)
	}
	var reqs []RestoreRequest
	status, out = call(auditor, "GET", "/api/v1/restore-requests", "")
	json.Unmarshal(out["restore_requests"], &reqs)
	if status != 200 || len(reqs) != 1 || reqs[0].Actor != "operator:olga" || reqs[0].State != RestorePending || reqs[0].Command != "slokeeper backup restore bk_one --into DIR" {
		t.Errorf("auditor GET restore-requests = %d %+v", status, reqs)
	}
}
