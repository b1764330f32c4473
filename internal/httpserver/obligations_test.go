package httpserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
	"slokeeper/obligation"
)

// setClock is a clock a test sets.
type setClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *setClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *setClock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *setClock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// TestObligations: every staff role sees when the access review and the
// internal audit are due, counted from the ledger's first entry; past the
// due date they are overdue; only an admin signs one off, with a note,
// and the sign-off is in the ledger (for the access review with the
// digest of the review signed) and is evidence, late against its due
// date; after it the next due date is one cadence on.
func TestObligations(t *testing.T) { onEachEngine(t, testObligations) }

func testObligations(t *testing.T, e engine) {
	clock := &setClock{t: time.Now()}
	s := consoleServer(t, e, func(s *Server, svc slokeeper.Services) {
		s.Clock, s.Accounts, s.Grants = clock, svc.Accounts, svc.Grants
	})
	ctx := context.Background()
	if err := s.Audit(ctx, "system:test", "install", "", ""); err != nil { // the origin
		t.Fatal(err)
	}
	var origin time.Time // the ledger stamps entries on its own clock
	if err := s.AuditLog.EachAuditEntry(ctx, 1, 1, func(e *slokeeper.AuditEntry) error { origin = e.At; return nil }); err != nil || origin.IsZero() {
		t.Fatalf("first entry: %v", err)
	}
	reviewDue := origin.AddDate(0, 3, 0)
	session(t, s, "alice", slokeeper.RoleAdmin)
	session(t, s, "audrey", slokeeper.RoleAuditor)
	signed := reviewDue.Add(24 * time.Hour)
	clock.Set(signed) // a day past the review's 3 months, inside the audit's 6
	admin, auditor := signedIn(t, s, "alice"), signedIn(t, s, "audrey")

	status, body := fetch(t, auditor, "GET", s.URL()+"/admin/obligations?lang=ja", nil)
	if status != 200 || !strings.Contains(body, `class="obligation-overdue"`) || !strings.Contains(body, "アクセスレビュー") ||
		!strings.Contains(body, `id="obligation-internal_audit" class="obligation-ok"`) || !strings.Contains(body, maintenance.JST(reviewDue, s.Policy.Location(), "ja")) {
		t.Fatalf("auditor's page = %d\n%s", status, body)
	}
	if strings.Contains(body, "<form") && strings.Contains(body, "/signoff") {
		t.Error("the auditor is offered the sign-off form")
	}
	if status, _ := fetch(t, auditor, "POST", s.URL()+"/admin/obligations/access_review/signoff?lang=en", url.Values{"note": {"x"}}); status != http.StatusForbidden {
		t.Errorf("auditor's sign-off = %d, want 403", status)
	}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/obligations/access_review/signoff?lang=en", url.Values{"note": {"  "}}); status != http.StatusBadRequest || !strings.Contains(body, "needs a note") {
		t.Errorf("empty note = %d\n%s", status, body)
	}
	if status, _ := fetch(t, admin, "POST", s.URL()+"/admin/obligations/coffee/signoff?lang=en", url.Values{"note": {"x"}}); status != http.StatusNotFound {
		t.Errorf("unknown obligation = %d, want 404", status)
	}
	status, body = fetch(t, admin, "POST", s.URL()+"/admin/obligations/access_review/signoff?lang=en",
		url.Values{"note": {"四半期のアクセスレビュー: 全権限とアクセス許可を確認、不要な権限なし"}})
	if status != 200 || !strings.Contains(body, "Access review signed off.") || !strings.Contains(body, `id="obligation-access_review" class="obligation-ok"`) {
		t.Fatalf("admin's sign-off = %d\n%s", status, body)
	}

	rows, _, err := s.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: obligation.ActionSignOff})
	if err != nil || len(rows) != 1 {
		t.Fatalf("sign-off evidence: %v %v", rows, err)
	}
	if ev := rows[0]; ev.Outcome != slokeeper.OutcomeLate || ev.Clause != "access" || !ev.Deadline.Equal(reviewDue) ||
		!strings.Contains(ev.Detail, "signed off by alice") || !strings.Contains(ev.Detail, "access review of 2 operators and 0 grants, sha256:") {
		t.Errorf("evidence %+v", ev)
	}
	if acts := auditActions(t, s, "obligation:access_review"); len(acts) != 1 || acts[0] != "obligation.signoff" {
		t.Errorf("ledger: %v", acts)
	}

	// The API says the same, and the next review is due 3 months after the sign-off.
	resp, err := auditor.Get(s.URL() + "/api/v1/obligations")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct{ Obligations []obligation.Status }
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != 200 || len(got.Obligations) != 2 {
		t.Fatalf("GET /api/v1/obligations = %d %s %v", resp.StatusCode, b, err)
	}
	if r := got.Obligations[0]; r.Kind != obligation.AccessReview || r.State != obligation.StateOK || !r.Due.Equal(signed.AddDate(0, 3, 0)) || r.Last == nil {
		t.Errorf("access review: %+v", r)
	}
	clock.Set(signed.AddDate(0, 3, -1)) // a day before the next review, past the audit's 6 months
	admin, auditor = signedIn(t, s, "alice"), signedIn(t, s, "audrey")
	req, _ := http.NewRequest("POST", s.URL()+"/api/v1/obligations/internal_audit/signoff", strings.NewReader(`{"note":"半期の社内監査"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = auditor.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("auditor's API sign-off = %d, want 403", resp.StatusCode)
	}
	if _, body := fetch(t, admin, "GET", s.URL()+"/admin/obligations?lang=en", nil); !strings.Contains(body, `id="obligation-access_review" class="obligation-due_soon"`) ||
		!strings.Contains(body, `id="obligation-internal_audit" class="obligation-overdue"`) {
		t.Errorf("in July: %s", body)
	}
}
