package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
	"slokeeper/internal/keys"
	"slokeeper/internal/sqlite"
)

// totpServer is a console server with a real key manager, which seals
// the pending and the enrolled secrets.
func totpServer(t *testing.T, e engine) *Server {
	t.Helper()
	return consoleServer(t, e, func(s *Server, _ slokeeper.Services) {
		dir := t.TempDir()
		ks, err := sqlite.OpenKeyStore(context.Background(), filepath.Join(dir, "keys.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ks.Close() })
		km, err := keys.Open(filepath.Join(dir, "master.key"), ks)
		if err != nil {
			t.Fatal(err)
		}
		s.Secrets = km
	})
}

// apiCall sends body (JSON, or nothing) with c's session and decodes the
// answer into out; it returns the status and the answer's headers.
func apiCall(t *testing.T, c *http.Client, method, u string, body, out any) (int, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, resp.Header
}

// newSession signs c in again as the operator opID (a reset ended their
// sessions).
func newSession(t *testing.T, s *Server, c *http.Client, opID string) {
	t.Helper()
	token, now := auth.NewToken(""), time.Now()
	if err := s.Operators.CreateSession(context.Background(), &slokeeper.Session{TokenHash: slokeeper.HashToken(token), OperatorID: opID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.URL())
	c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: token, Path: "/"}})
}

// enrolAPI enrols c's operator through the API and returns the secret.
func enrolAPI(t *testing.T, s *Server, c *http.Client) string {
	t.Helper()
	var e totpEnrolment
	if status, _ := apiCall(t, c, "POST", s.URL()+"/api/v1/auth/totp", nil, &e); status != http.StatusCreated || e.Secret == "" || e.Sealed == "" ||
		!strings.HasPrefix(e.URL, "otpauth://totp/") {
		t.Fatalf("POST /api/v1/auth/totp = %d %+v", status, e)
	}
	if status, _ := apiCall(t, c, "POST", s.URL()+"/api/v1/auth/totp/confirm", map[string]string{"sealed": e.Sealed, "code": "000000x"}, nil); status != http.StatusBadRequest {
		t.Fatalf("confirm with a wrong code = %d, want 400", status)
	}
	code, err := auth.TOTPCode(e.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := apiCall(t, c, "POST", s.URL()+"/api/v1/auth/totp/confirm", map[string]string{"sealed": e.Sealed, "code": code}, nil); status != http.StatusOK {
		t.Fatalf("confirm = %d, want 200", status)
	}
	return e.Secret
}

// TestTOTPEnrolmentAfterReset: an operator enrols through the API (once:
// a second enrolment is refused); an admin resets it; from then on every
// console page sends them to /admin/totp and the API refuses all but the
// enrolment, with the header the CLI reads, until they enrol again.
func TestTOTPEnrolmentAfterReset(t *testing.T) { onEachEngine(t, testTOTPEnrolmentAfterReset) }

func testTOTPEnrolmentAfterReset(t *testing.T, e engine) {
	s := totpServer(t, e)
	admin := session(t, s, "alice", slokeeper.RoleAdmin)
	hana := session(t, s, "hana", slokeeper.RoleOperator)

	enrolAPI(t, s, hana)
	op := operatorNamed(t, s, "hana")
	if op.TOTPSecret == nil || op.MustEnrolTOTP {
		t.Fatalf("after enrolment: secret %v, must enrol %v", op.TOTPSecret != nil, op.MustEnrolTOTP)
	}
	var refusal struct{ Error struct{ Code string } }
	if status, _ := apiCall(t, hana, "POST", s.URL()+"/api/v1/auth/totp", nil, &refusal); status != http.StatusConflict || refusal.Error.Code != slokeeper.ECONFLICT {
		t.Fatalf("enrolling again while enrolled = %d %+v, want 409 ECONFLICT", status, refusal)
	}
	if status, body := fetch(t, hana, "GET", s.URL()+"/admin/totp?lang=en", nil); status != 200 || !strings.Contains(body, `id="totp-on"`) {
		t.Fatalf("/admin/totp while enrolled = %d\n%s", status, body)
	}

	if status, _ := fetch(t, admin, "POST", s.URL()+"/admin/operators/hana/totp-reset?lang=en", nil); status != 200 {
		t.Fatalf("totp-reset = %d", status)
	}
	if op := operatorNamed(t, s, "hana"); op.TOTPSecret != nil || !op.MustEnrolTOTP {
		t.Fatalf("after the reset: secret %v, must enrol %v; want none, true", op.TOTPSecret != nil, op.MustEnrolTOTP)
	}
	newSession(t, s, hana, "op_hana")
	noFollow := &http.Client{Jar: hana.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/admin/", "/admin/status", "/admin/logs", "/admin/grants", "/admin/accounts", "/admin/tokens", "/admin/policy", "/admin/operators"} {
		resp, err := noFollow.Get(s.URL() + path + "?lang=ja")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/totp") {
			t.Errorf("GET %s while enrolment is due = %d → %q, want 303 → /admin/totp", path, resp.StatusCode, loc)
		}
	}
	if status, body := fetch(t, hana, "GET", s.URL()+"/admin/totp?lang=ja", nil); status != 200 || !strings.Contains(body, `id="totp-required"`) || !strings.Contains(body, `id="totp-qr"`) {
		t.Fatalf("/admin/totp while enrolment is due = %d\n%s", status, body)
	}
	for _, c := range []struct{ method, path string }{{"GET", "/api/v1/auth/me"}, {"GET", "/api/v1/grants"}, {"POST", "/api/v1/auth/password"}} {
		status, h := apiCall(t, hana, c.method, s.URL()+c.path, map[string]string{}, &e)
		if status != http.StatusForbidden || h.Get(TOTPEnrolHeader) != "required" {
			t.Errorf("%s %s while enrolment is due = %d, %s: %q; want 403, required", c.method, c.path, status, TOTPEnrolHeader, h.Get(TOTPEnrolHeader))
		}
	}

	enrolAPI(t, s, hana)
	if op := operatorNamed(t, s, "hana"); op.TOTPSecret == nil || op.MustEnrolTOTP {
		t.Fatalf("after enrolling again: secret %v, must enrol %v", op.TOTPSecret != nil, op.MustEnrolTOTP)
	}
	if status, _ := fetch(t, hana, "GET", s.URL()+"/admin/status?lang=en", nil); status != 200 {
		t.Fatalf("/admin/status after enrolling again = %d", status)
	}
	if status, _ := apiCall(t, hana, "GET", s.URL()+"/api/v1/auth/me", nil, nil); status != 200 {
		t.Fatalf("/api/v1/auth/me after enrolling again = %d", status)
	}
	want := []string{"operator.totp", "operator.totp-reset", "operator.totp"}
	if got := auditActions(t, s, "operator:hana"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("ledger on hana = %v, want %v", got, want)
	}
}

// TestConsoleTOTPEnrolment: the console's form enrols through the same
// functions: a wrong code is refused in the reader's language, the
// right one turns it on and lifts must-enrol.
func TestConsoleTOTPEnrolment(t *testing.T) { onEachEngine(t, testConsoleTOTPEnrolment) }

func testConsoleTOTPEnrolment(t *testing.T, e engine) {
	s := totpServer(t, e)
	hana := session(t, s, "hana", slokeeper.RoleSupport)
	yes := true
	if err := s.Operators.UpdateOperator(context.Background(), "op_hana", slokeeper.OperatorUpdate{MustEnrolTOTP: &yes}); err != nil {
		t.Fatal(err)
	}
	_, body := fetch(t, hana, "GET", s.URL()+"/admin/totp?lang=ja", nil)
	secret := between(body, `<code id="totp-secret">`, "</code>")
	sealed := between(body, `name="sealed" value="`, `"`)
	if secret == "" || sealed == "" {
		t.Fatalf("no secret on the page\n%s", body)
	}
	if status, body := fetch(t, hana, "POST", s.URL()+"/admin/totp?lang=ja", url.Values{"sealed": {sealed}, "code": {"12"}}); status != http.StatusBadRequest || !strings.Contains(body, "確認コードが一致しません") {
		t.Fatalf("wrong code = %d\n%s", status, body)
	}
	if status, _ := fetch(t, hana, "POST", s.URL()+"/admin/totp?lang=ja", url.Values{"sealed": {"zz"}, "code": {"123456"}}); status != http.StatusBadRequest {
		t.Fatalf("unreadable sealed secret = %d, want 400", status)
	}
	code, _ := auth.TOTPCode(secret, time.Now())
	if status, body := fetch(t, hana, "POST", s.URL()+"/admin/totp?lang=en", url.Values{"sealed": {sealed}, "code": {code}}); status != 200 || !strings.Contains(body, "Two-factor sign-in is on") {
		t.Fatalf("right code = %d\n%s", status, body)
	}
	if op := operatorNamed(t, s, "hana"); op.TOTPSecret == nil || op.MustEnrolTOTP {
		t.Fatalf("after the console's enrolment: secret %v, must enrol %v", op.TOTPSecret != nil, op.MustEnrolTOTP)
	}
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

// FuzzTOTPConfirm: whatever a client sends back as the sealed secret and
// the code, a confirmation refuses it with EINVALID or, for the real
// sealed secret with its current code, goes on to the ledger; it never
// panics or fails otherwise.
func FuzzTOTPConfirm(f *testing.F) {
	dir := f.TempDir()
	km, err := keys.Open(filepath.Join(dir, "master.key"), nil)
	if err != nil {
		f.Fatal(err)
	}
	// The ledger refuses, so a real match stops there with this error.
	matched := slokeeper.Errorf(slokeeper.EUNAVAILABLE, "matched")
	s := &Server{Secrets: km, Clock: slokeeper.SystemClock{},
		Audit: func(context.Context, string, string, string, string) error { return matched }}
	op := &slokeeper.Operator{ID: "op_hana", Name: "hana"}
	e, err := s.startTOTPEnrolment(op)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(e.Sealed, "123456")
	f.Add(e.Sealed[:10], "")
	f.Add("zz", "000000")
	f.Add("", "１２３４５６")
	f.Fuzz(func(t *testing.T, sealed, code string) {
		err := s.confirmTOTPEnrolment(context.Background(), &principal{op: op}, sealed, code)
		if err != matched && slokeeper.ErrorCode(err) != slokeeper.EINVALID {
			t.Fatalf("confirm(%q, %q) = %v, want EINVALID", sealed, code, err)
		}
	})
}
