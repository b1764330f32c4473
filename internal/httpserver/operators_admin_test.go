package httpserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
)

// auditActions lists the ledger's actions on target, in order.
func auditActions(t *testing.T, s *Server, target string) []string {
	t.Helper()
	var out []string
	err := s.AuditLog.EachAuditEntry(context.Background(), 1, 0, func(e *slokeeper.AuditEntry) error {
		if e.Target == target {
			out = append(out, e.Action)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func operatorNamed(t *testing.T, s *Server, name string) *slokeeper.Operator {
	t.Helper()
	op, err := s.findOperator(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// TestConsoleOperatorEnableAndTOTPReset: an admin disables an operator
// and enables them again from the console; resets their two-factor
// sign-in (their sessions end, the ledger says so) but not their own;
// sees their API tokens and revokes one.
func TestConsoleOperatorEnableAndTOTPReset(t *testing.T) {
	onEachEngine(t, testConsoleOperatorEnableAndTOTPReset)
}

func testConsoleOperatorEnableAndTOTPReset(t *testing.T, e engine) {
	s := consoleServer(t, e)
	admin := session(t, s, "alice", slokeeper.RoleAdmin)
	hana := session(t, s, "hana", slokeeper.RoleSupport)
	ctx := context.Background()

	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/operators/hana/disable?lang=en", nil); status != 200 || !strings.Contains(body, `action="/admin/operators/hana/enable`) {
		t.Fatalf("disable = %d; want the list with an Enable button\n%s", status, body)
	}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/operators/hana/enable?lang=ja", nil); status != 200 || !strings.Contains(body, "有効にしました") {
		t.Fatalf("enable = %d\n%s", status, body)
	}
	if op := operatorNamed(t, s, "hana"); !op.DisabledAt.IsZero() {
		t.Fatalf("hana still disabled at %v", op.DisabledAt)
	}
	if status, _ := fetch(t, admin, "POST", s.URL()+"/admin/operators/hana/enable?lang=en", nil); status != http.StatusConflict {
		t.Fatalf("enabling an active operator = %d, want 409", status)
	}

	secret := []byte("sealed secret")
	if err := s.Operators.UpdateOperator(ctx, "op_hana", slokeeper.OperatorUpdate{TOTPSecret: &secret}); err != nil {
		t.Fatal(err)
	}
	if err := s.Operators.UpdateOperator(ctx, "op_alice", slokeeper.OperatorUpdate{TOTPSecret: &secret}); err != nil {
		t.Fatal(err)
	}
	// The disable ended hana's sessions; she signs in again.
	token := auth.NewToken("")
	if err := s.Operators.CreateSession(ctx, &slokeeper.Session{TokenHash: slokeeper.HashToken(token), OperatorID: "op_hana", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.URL())
	hana.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: token, Path: "/"}})
	hanaMe := func() int {
		resp, err := hana.Get(s.URL() + "/api/v1/auth/me")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := hanaMe(); got != 200 {
		t.Fatalf("hana's session before the reset = %d", got)
	}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/operators/hana/totp-reset?lang=en", nil); status != 200 || !strings.Contains(body, "Two-factor sign-in is reset") {
		t.Fatalf("totp-reset = %d\n%s", status, body)
	}
	if op := operatorNamed(t, s, "hana"); op.TOTPSecret != nil {
		t.Fatalf("hana's TOTP secret after the reset = %q, want none", op.TOTPSecret)
	}
	if got := hanaMe(); got != http.StatusUnauthorized {
		t.Fatalf("hana's session after the reset = %d, want 401", got)
	}
	if status, _ := fetch(t, admin, "POST", s.URL()+"/admin/operators/alice/totp-reset?lang=en", nil); status != http.StatusForbidden {
		t.Fatalf("resetting one's own two-factor = %d, want 403", status)
	}
	if op := operatorNamed(t, s, "alice"); op.TOTPSecret == nil {
		t.Fatal("alice's own TOTP was reset")
	}
	want := []string{"operator.disable", "operator.enable", "operator.totp-reset"}
	if got := auditActions(t, s, "operator:hana"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("ledger on hana = %v, want %v", got, want)
	}

	now := time.Now()
	tok := &slokeeper.APIToken{ID: "tok_hana1", OperatorID: "op_hana", Name: "ci-pipeline", Scope: "read", TokenHash: []byte("h"), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := s.Operators.CreateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, page := fetch(t, admin, "GET", s.URL()+"/admin/operators?lang=en", nil)
	if !strings.Contains(page, `id="token-tok_hana1"`) || !strings.Contains(page, "ci-pipeline") || !strings.Contains(page, `/admin/operators/hana/tokens/tok_hana1/revoke`) {
		t.Fatalf("the operators page does not show hana's token with a revoke button\n%s", page)
	}
	if status, _ := fetch(t, admin, "POST", s.URL()+"/admin/operators/alice/tokens/tok_hana1/revoke?lang=en", nil); status != http.StatusNotFound {
		t.Fatalf("revoking hana's token as alice's = %d, want 404", status)
	}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/operators/hana/tokens/tok_hana1/revoke?lang=en", nil); status != 200 || !strings.Contains(body, "The token is revoked") {
		t.Fatalf("revoke = %d\n%s", status, body)
	}
	ts, _ := s.Operators.FindAPITokens(ctx, "op_hana")
	if len(ts) != 1 || ts[0].RevokedAt.IsZero() {
		t.Fatalf("hana's tokens after the revoke: %+v", ts)
	}
}

// TestAPIOperatorEnableAndTOTPReset: the same rules through the API.
func TestAPIOperatorEnableAndTOTPReset(t *testing.T) {
	onEachEngine(t, testAPIOperatorEnableAndTOTPReset)
}

func testAPIOperatorEnableAndTOTPReset(t *testing.T, e engine) {
	s := consoleServer(t, e)
	admin := session(t, s, "alice", slokeeper.RoleAdmin)
	session(t, s, "hana", slokeeper.RoleSupport)
	post := func(path string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL()+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		u, _ := url.Parse(s.URL())
		for _, c := range admin.Jar.Cookies(u) {
			req.AddCookie(c)
		}
		req.Header.Set("Origin", s.URL())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/api/v1/operators/hana/enable", http.StatusConflict},
		{"/api/v1/operators/hana/disable", 200},
		{"/api/v1/operators/hana/enable", 200},
		{"/api/v1/operators/hana/totp-reset", http.StatusConflict}, // no TOTP to reset
		{"/api/v1/operators/nobody/enable", http.StatusNotFound},
		{"/api/v1/operators/alice/totp-reset", http.StatusForbidden},
	} {
		if got := post(tt.path); got != tt.want {
			t.Errorf("POST %s = %d, want %d", tt.path, got, tt.want)
		}
	}
	if op := operatorNamed(t, s, "hana"); !op.DisabledAt.IsZero() {
		t.Fatal("hana is still disabled")
	}
}
