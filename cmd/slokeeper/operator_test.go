package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
)

func postJSON(t *testing.T, c *http.Client, url, body string, header ...string) response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return response{resp.StatusCode, resp.Header, b.String()}
}

// syncBuffer is a buffer the server's goroutines write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newJarClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

// TestBootstrapAfterBind: a first start that cannot bind its address
// creates no administrator and shows no password; the next start, on a
// free address, creates the administrator and shows the password that
// signs in.
func TestBootstrapAfterBind(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.Listen = busy.Addr().String()
	var console syncBuffer
	m := NewMain(cfg, &console)
	if err := m.Run(context.Background()); err == nil {
		m.Close(context.Background())
		t.Fatalf("Run on a busy address %s succeeded", cfg.Listen)
	}
	if strings.Contains(console.String(), "password:") {
		t.Errorf("a start that failed to bind showed a password:\n%s", console.String())
	}

	cfg.Listen = "127.0.0.1:0"
	var console2 syncBuffer
	m = NewMain(cfg, &console2)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	match := regexp.MustCompile(`name:     admin\n  password: (\S+)\n`).FindStringSubmatch(console2.String())
	if match == nil {
		t.Fatalf("the start after a failed bind showed no bootstrap password:\n%s", console2.String())
	}
	if r := postJSON(t, newJarClient(), m.HTTP.URL()+"/api/v1/auth/login", `{"name":"admin","password":"`+match[1]+`"}`); r.status != 200 {
		t.Fatalf("sign-in with the shown password = %d %s", r.status, r.body)
	}
}

func TestOperatorSignIn(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	clock := newTestClock(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	var console syncBuffer
	m := NewMain(cfg, &console)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	base := m.HTTP.URL()

	// The first start creates an administrator with a one-time password.
	match := regexp.MustCompile(`name:     admin\n  password: (\S+)\n`).FindStringSubmatch(console.String())
	if match == nil {
		t.Fatalf("no bootstrap password on the console:\n%s", console.String())
	}
	admin := newJarClient()
	if r := postJSON(t, admin, base+"/api/v1/auth/login", `{"name":"admin","password":"`+match[1]+`"}`); r.status != 200 {
		t.Fatalf("bootstrap sign-in = %d %s", r.status, r.body)
	}
	if r := get(t, admin, base+"/api/v1/auth/me"); r.status != 403 || !strings.Contains(r.body, "Change your password first") {
		t.Errorf("before the password change: %d %s", r.status, r.body)
	}
	if r := postJSON(t, admin, base+"/api/v1/auth/password", `{"old":"`+match[1]+`","new":"short"}`); r.status != 400 {
		t.Errorf("a short new password = %d", r.status)
	}
	if r := postJSON(t, admin, base+"/api/v1/auth/password", `{"old":"`+match[1]+`","new":"管理者の新しいパスワード2026"}`); r.status != 204 {
		t.Fatalf("password change = %d %s", r.status, r.body)
	}
	if r := get(t, admin, base+"/api/v1/auth/me"); r.status != 200 || !strings.Contains(r.body, `"role": "admin"`) {
		t.Errorf("me = %d %s", r.status, r.body)
	}

	// Failed sign-ins lock the name out, then the lock passes.
	cliRun(t, "operator", "add", "--data", cfg.Data, "--name", "carol", "--role", "support")
	out, _, _ := cliRun(t, "operator", "passwd", "carol", "--data", cfg.Data)
	carolPW := strings.TrimSpace(strings.TrimPrefix(out, "password: "))
	for i := range 6 {
		r := postJSON(t, newJarClient(), base+"/api/v1/auth/login", `{"name":"carol","password":"wrong"}`)
		if want := map[bool]int{true: 429, false: 401}[i == 5]; r.status != want {
			t.Errorf("attempt %d = %d, want %d", i+1, r.status, want)
		}
	}
	if r := postJSON(t, newJarClient(), base+"/api/v1/auth/login", `{"name":"carol","password":"`+carolPW+`"}`); r.status != 429 {
		t.Errorf("the right password while locked = %d, want 429", r.status)
	}
	clock.Add(16 * time.Minute)
	if r := postJSON(t, newJarClient(), base+"/api/v1/auth/login", `{"name":"carol","password":"`+carolPW+`"}`); r.status != 200 {
		t.Errorf("after the lockout = %d %s", r.status, r.body)
	}
	if r := postJSON(t, newJarClient(), base+"/api/v1/auth/login", `{"name":"nobody","password":"x"}`); r.status != 401 || !strings.Contains(r.body, "The name, password or code is wrong.") {
		t.Errorf("an unknown name = %d %s", r.status, r.body)
	}

	// Two-factor sign-in; a code is good once.
	secret := enrolStored(t, m, "carol")
	if r := postJSON(t, newJarClient(), base+"/api/v1/auth/login", `{"name":"carol","password":"`+carolPW+`"}`); r.status != 401 {
		t.Errorf("without the code = %d", r.status)
	}
	code, _ := auth.TOTPCode(secret, clock.Now())
	carol := newJarClient()
	if r := postJSON(t, carol, base+"/api/v1/auth/login", `{"name":"carol","password":"`+carolPW+`","totp":"`+code+`"}`); r.status != 200 {
		t.Errorf("with the code = %d %s", r.status, r.body)
	}
	if r := postJSON(t, newJarClient(), base+"/api/v1/auth/login", `{"name":"carol","password":"`+carolPW+`","totp":"`+code+`"}`); r.status != 401 {
		t.Errorf("the same code again = %d, want 401", r.status)
	}

	// Roles: an auditor may not read customers' logs.
	auditor := signIn(t, m, "dave", "auditor")
	if r := get(t, auditor, base+"/api/v1/logs"); r.status != 403 || !strings.Contains(r.body, "needs the role") {
		t.Errorf("auditor reading logs = %d %s", r.status, r.body)
	}

	// API tokens: scoped, revocable.
	out, _, _ = cliRun(t, "operator", "token", "create", "--data", cfg.Data, "--operator", "admin", "--name", "ci", "--scope", "read", "--expires", "30d")
	tm := regexp.MustCompile(`token:   (sko_\S+)\nid:      (\S+)`).FindStringSubmatch(out)
	if tm == nil {
		t.Fatalf("token create:\n%s", out)
	}
	bearer := []string{"Authorization", "Bearer " + tm[1]}
	if r := get(t, http.DefaultClient, base+"/api/v1/logs/partitions", bearer...); r.status != 200 {
		t.Errorf("read token GET = %d %s", r.status, r.body)
	}
	if r := postJSON(t, http.DefaultClient, base+"/api/v1/auth/password", `{}`, bearer...); r.status != 403 || !strings.Contains(r.body, "may only read") {
		t.Errorf("read token POST = %d %s", r.status, r.body)
	}
	cliRun(t, "operator", "token", "revoke", tm[2], "--data", cfg.Data)
	if r := get(t, http.DefaultClient, base+"/api/v1/logs/partitions", bearer...); r.status != 401 {
		t.Errorf("revoked token = %d", r.status)
	}

	// Disabling ends the operator's sessions.
	cliRun(t, "operator", "disable", "carol", "--data", cfg.Data)
	if r := get(t, carol, base+"/api/v1/auth/me"); r.status != 401 {
		t.Errorf("a disabled operator's session = %d", r.status)
	}

	out, _, _ = cliRun(t, "audit", "show", "--data", cfg.Data, "--limit", "0")
	for _, want := range []string{"operator.bootstrap", "login.failed", "login.locked", "token.create", "token.revoke", "operator.disable", "operator.password"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit ledger lacks %s", want)
		}
	}
}

// enrolStored turns two-factor sign-in on for the operator name straight
// in the store, sealed under the server's master key, and returns the
// secret: set-up for tests of signing in, not of enrolment (that is
// TestOperatorTOTPEnrolment's).
func enrolStored(t *testing.T, m *Main, name string) string {
	t.Helper()
	ctx := context.Background()
	ops, err := m.Store.Operators.FindOperators(ctx, slokeeper.OperatorFilter{Name: name})
	if err != nil || len(ops) != 1 {
		t.Fatalf("operator %s: %v %v", name, ops, err)
	}
	secret := auth.NewTOTPSecret()
	sealed, err := m.Keys.SealSystem([]byte(secret), []byte("totp:"+ops[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Store.Operators.UpdateOperator(ctx, ops[0].ID, slokeeper.OperatorUpdate{TOTPSecret: &sealed}); err != nil {
		t.Fatal(err)
	}
	return secret
}
