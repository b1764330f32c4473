package httpserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
	"slokeeper/internal/ledger"
	"slokeeper/internal/monitor"
	"slokeeper/internal/netguard"
	"slokeeper/internal/postgres"
	"slokeeper/internal/probe"
	"slokeeper/internal/schedule"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/storetest"
	"slokeeper/policy"

	"github.com/prometheus/client_golang/prometheus"
)

// engine opens a fresh, empty database of one storage engine for a test
// and returns its services.
type engine func(t *testing.T) slokeeper.Services

// engines are the storage engines every console test runs on. PostgreSQL
// is skipped when no server is reachable, except under CI=true, where the
// test fails (storetest.PostgresDSN).
var engines = []struct {
	name string
	open engine
}{
	{"SQLite", func(t *testing.T) slokeeper.Services {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "slokeeper.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return sqlite.NewServices(db)
	}},
	{"PostgreSQL", func(t *testing.T) slokeeper.Services {
		db, err := postgres.Open(context.Background(), storetest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return postgres.NewServices(db)
	}},
}

// onEachEngine runs test once per storage engine, as a subtest named for
// the engine.
func onEachEngine(t *testing.T, test func(t *testing.T, e engine)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { test(t, e.open) })
	}
}

// consoleServer is a Server on a real database of engine e and a real
// audit ledger with what the console's operators, audit and status pages
// use; setup adds what one test's pages need.
func consoleServer(t *testing.T, e engine, setup ...func(*Server, slokeeper.Services)) *Server {
	t.Helper()
	svc := e(t)
	l, err := ledger.Open(ledger.Config{Store: svc.Audit, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: "127.0.0.1:0", Policy: policy.Default(), Registry: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Operators: svc.Operators, Evidence: svc.Evidence, AuditLog: svc.Audit,
		Audit: func(ctx context.Context, actor, action, target, detail string) error {
			_, err := l.Record(ctx, actor, action, target, detail)
			return err
		},
		VerifyAudit: func(ctx context.Context) (*AuditVerify, error) {
			rep, err := l.Verify(ctx)
			if err != nil {
				return nil, err
			}
			return &AuditVerify{Entries: rep.Entries, Checkpoints: rep.Checkpoints}, nil
		}}
	s.Components, s.Incidents = svc.Components, svc.Incidents
	s.Schedule = &schedule.Service{Store: svc.Maintenance, Components: s.Components, Policy: s.Policy, Audit: s.Audit, Clock: slokeeper.SystemClock{}}
	targets, err := netguard.Parse("", "probe_targets")
	if err != nil {
		t.Fatal(err)
	}
	s.Monitor = monitor.New(monitor.Config{Components: s.Components, Prober: probe.New(nil, nil, targets), Node: "n1", Policy: s.Policy,
		Maintenance: svc.Maintenance, Incidents: s.Incidents, Evidence: s.Evidence, Logger: s.Logger})
	for _, f := range setup {
		f(s, svc)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// session makes an operator with a session and returns a client carrying it.
func session(t *testing.T, s *Server, name, role string) *http.Client {
	t.Helper()
	h, err := auth.HashPassword("a long test password", auth.OWASP)
	if err != nil {
		t.Fatal(err)
	}
	op := &slokeeper.Operator{ID: "op_" + name, Name: name, Role: role, PasswordHash: h, CreatedAt: s.Clock.Now()}
	if err := s.Operators.CreateOperator(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	return signedIn(t, s, name)
}

// signedIn returns a client with a new session, an hour long on the
// server's clock, of the operator called name.
func signedIn(t *testing.T, s *Server, name string) *http.Client {
	t.Helper()
	now, token := s.Clock.Now(), auth.NewToken("")
	if err := s.Operators.CreateSession(context.Background(), &slokeeper.Session{TokenHash: slokeeper.HashToken(token), OperatorID: "op_" + name, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(s.URL())
	jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: token, Path: "/"}})
	return &http.Client{Jar: jar}
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (int, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == "POST" {
		resp, err = c.PostForm(u, form)
	} else {
		resp, err = c.Get(u)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestConsoleOperatorsAndLedgerPages: an admin adds an operator (the
// one-time password is on the answer and in no later page), the addition
// is in the ledger the auditor browses and verifies, and the auditor is
// refused the operators page and its forms, as HTML in their language.
func TestConsoleOperatorsAndLedgerPages(t *testing.T) {
	onEachEngine(t, testConsoleOperatorsAndLedgerPages)
}

func testConsoleOperatorsAndLedgerPages(t *testing.T, e engine) {
	s := consoleServer(t, e)
	admin, auditor := session(t, s, "alice", slokeeper.RoleAdmin), session(t, s, "audrey", slokeeper.RoleAuditor)

	status, body := fetch(t, admin, "POST", s.URL()+"/admin/operators?lang=en", url.Values{"name": {"hana"}, "role": {"support"}})
	i := strings.Index(body, `<code id="new-password">`)
	if status != 200 || i < 0 {
		t.Fatalf("adding an operator = %d\n%s", status, body)
	}
	password := body[i+len(`<code id="new-password">`):]
	password = password[:strings.Index(password, "<")]
	if _, page := fetch(t, admin, "GET", s.URL()+"/admin/operators?lang=en", nil); strings.Contains(page, password) || !strings.Contains(page, "operator-hana") {
		t.Errorf("the operators page after adding holds the password, or not hana:\n%s", page)
	}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/operators?lang=ja", url.Values{"name": {"hana"}, "role": {"support"}}); status != 409 || !strings.Contains(body, "既にいます") {
		t.Errorf("adding hana twice = %d\n%s", status, body)
	}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/operators?lang=en", url.Values{"name": {"Bad Name"}, "role": {"support"}}); status != 400 || !strings.Contains(body, "Please check the form") {
		t.Errorf("a bad name = %d\n%s", status, body)
	}

	status, body = fetch(t, auditor, "GET", s.URL()+"/admin/audit?lang=en&action=operator&verify=1", nil)
	if status != 200 || !strings.Contains(body, "operator.add") || !strings.Contains(body, "operator:hana") || !strings.Contains(body, "The ledger holds") {
		t.Errorf("the auditor's ledger = %d\n%s", status, body)
	}
	for _, tt := range []struct{ method, path string }{{"GET", "/admin/operators?lang=ja"}, {"POST", "/admin/operators?lang=ja"}, {"POST", "/admin/operators/hana/disable?lang=ja"}} {
		status, body := fetch(t, auditor, tt.method, s.URL()+tt.path, url.Values{"name": {"eve"}, "role": {"admin"}})
		if status != 403 || !strings.Contains(body, "あなたの役割では使えません") || !strings.Contains(body, "<!doctype html>") {
			t.Errorf("%s %s as the auditor = %d\n%s", tt.method, tt.path, status, body)
		}
	}
	if ops, _ := s.Operators.FindOperators(context.Background(), slokeeper.OperatorFilter{Name: "eve", IncludeDisabled: true}); len(ops) != 0 {
		t.Error("the auditor's POST added an operator")
	}
	if status, body := fetch(t, http.DefaultClient, "GET", s.URL()+"/admin/nothing-here?lang=en", nil); status != 404 || !strings.Contains(body, "Page not found") {
		t.Errorf("an unknown /admin page = %d\n%s", status, body)
	}
}

// TestConsoleTokens: an operator makes a read token in the console; it
// is shown once, works for reading and not for writing, and once revoked
// signs nothing in.
func TestConsoleTokens(t *testing.T) { onEachEngine(t, testConsoleTokens) }

func testConsoleTokens(t *testing.T, e engine) {
	s := consoleServer(t, e)
	c := session(t, s, "kenji", slokeeper.RoleOperator)
	status, body := fetch(t, c, "POST", s.URL()+"/admin/tokens?lang=en", url.Values{"name": {"ci"}, "scope": {"read"}, "expires": {"30d"}})
	i := strings.Index(body, `<code id="new-token">`)
	if status != 201 || i < 0 {
		t.Fatalf("making a token = %d\n%s", status, body)
	}
	token := body[i+len(`<code id="new-token">`):]
	token = token[:strings.Index(token, "<")]
	if !strings.HasPrefix(token, slokeeper.OperatorTokenPrefix) {
		t.Fatalf("token %q", token)
	}
	if _, page := fetch(t, c, "GET", s.URL()+"/admin/tokens?lang=en", nil); strings.Contains(page, token) || !strings.Contains(page, "ci") {
		t.Errorf("the tokens page shows the token again, or not its name:\n%s", page)
	}
	bearer := func(method string) int {
		req, _ := http.NewRequest(method, s.URL()+"/api/v1/auth/me", nil)
		if method == "POST" {
			req, _ = http.NewRequest(method, s.URL()+"/api/v1/auth/password", strings.NewReader(`{}`))
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := bearer("GET"); got != 200 {
		t.Errorf("reading with the token = %d", got)
	}
	if got := bearer("POST"); got != 403 {
		t.Errorf("writing with a read token = %d", got)
	}
	if status, body := fetch(t, c, "POST", s.URL()+"/admin/tokens?lang=ja", url.Values{"name": {"x"}, "scope": {"admin"}, "expires": {"30d"}}); status != 400 || !strings.Contains(body, "read か write") {
		t.Errorf("a bad scope = %d\n%s", status, body)
	}
	ts, _ := s.Operators.FindAPITokens(context.Background(), "op_kenji")
	if len(ts) != 1 {
		t.Fatalf("%d tokens", len(ts))
	}
	if status, body := fetch(t, c, "POST", s.URL()+"/admin/tokens/"+ts[0].ID+"/revoke?lang=en", nil); status != 200 || !strings.Contains(body, "The token is revoked") {
		t.Errorf("revoking = %d\n%s", status, body)
	}
	if got := bearer("GET"); got != 401 {
		t.Errorf("reading with a revoked token = %d", got)
	}
}
