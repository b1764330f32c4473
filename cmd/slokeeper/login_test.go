package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
)

// cliEnv runs a command with an environment of its own (a home directory
// for credentials.json) and what it reads from standard input.
func cliEnv(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runWith(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// TestLogin: login against a real server with a password and a TOTP code
// stores a 0600 token in a 0700 directory; whoami and the token-proven
// commands act as that operator (the ledger names them, not local:); a
// file others can read is refused; an expired or revoked token says to
// sign in again; logout revokes the token and deletes the file.
func TestLogin(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	clock := newTestClock(time.Now().UTC().Truncate(time.Second))
	var console syncBuffer
	m := NewMain(cfg, &console)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	base := m.HTTP.URL()

	op, err := newOperator("carol", slokeeper.RoleAdmin, "a long test password", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	op.MustChangePassword = false
	if err := m.Store.Operators.CreateOperator(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	secret := enrolStored(t, m, "carol")

	home := t.TempDir()
	env := map[string]string{"HOME": home}
	credPath := filepath.Join(home, ".config", "slokeeper", "credentials.json")

	// Not signed in yet.
	if _, stderr, code := cliEnv(t, env, "", "whoami"); code != 1 || !strings.Contains(stderr, "slokeeper login --server") {
		t.Errorf("whoami before login = %d %q", code, stderr)
	}
	// A wrong code is refused, and nothing is stored.
	if _, stderr, code := cliEnv(t, env, "a long test password\n000000\n", "login", "--server", base, "--name", "carol"); code != 1 || !strings.Contains(stderr, "The name, password or code is wrong.") {
		t.Errorf("login with a wrong code = %d %q", code, stderr)
	}
	if _, err := os.Stat(credPath); err == nil {
		t.Error("a failed login stored credentials")
	}
	// Plain HTTP to another machine is refused before any password is sent.
	if _, stderr, code := cliEnv(t, env, "x\n\n", "login", "--server", "http://slo.example.com", "--name", "carol"); code != 1 || !strings.Contains(stderr, "https://") {
		t.Errorf("login over plain HTTP = %d %q", code, stderr)
	}

	totp, _ := auth.TOTPCode(secret, clock.Now())
	out, stderr, code := cliEnv(t, env, "a long test password\n"+totp+"\n", "login", "--server", base, "--name", "carol", "--expires", "2h")
	if code != 0 || !strings.Contains(out, "Signed in to "+base+" as carol (admin)") {
		t.Fatalf("login = %d %q %q", code, out, stderr)
	}
	if strings.Contains(out+stderr, "a long test password") || strings.Contains(out+stderr, "sko_") {
		t.Errorf("login shows a secret: %q %q", out, stderr)
	}
	fi, err := os.Stat(credPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	if di, err := os.Stat(filepath.Dir(credPath)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("credentials directory: %v %v", di, err)
	}
	c, err := readCredentials(func(k string) string { return env[k] })
	if err != nil || c.Server != base || !strings.HasPrefix(c.Token, "sko_") || c.Operator != "carol" {
		t.Fatalf("stored credentials = %+v, %v", c, err)
	}
	if want := clock.Now().Add(2 * time.Hour); !c.ExpiresAt.Equal(want) {
		t.Errorf("token expires %s, want %s", c.ExpiresAt, want)
	}

	if out, stderr, code := cliEnv(t, env, "", "whoami"); code != 0 || out != "carol (admin) on "+base+"\n" {
		t.Errorf("whoami = %d %q %q", code, out, stderr)
	}
	// A command proven by the stored token is in the ledger as carol.
	if out, stderr, code := cliEnv(t, env, "", "account", "create", "--id", "acme", "--name", "ACME", "--data", cfg.Data); code != 0 {
		t.Fatalf("account create = %d %q %q", code, out, stderr)
	}
	var created *slokeeper.AuditEntry
	for _, e := range auditEntries(t, m) {
		if e.Action == "account.create" {
			created = e
		}
	}
	if created == nil || !strings.HasPrefix(created.Actor, "operator:carol token:"+c.TokenID) {
		t.Errorf("account.create in the ledger as %+v, want operator:carol with the login's token", created)
	}
	var loggedIn bool
	for _, e := range auditEntries(t, m) {
		if e.Action == "token.create" && strings.HasPrefix(e.Actor, "operator:carol@") && strings.Contains(e.Detail, c.TokenID) {
			loggedIn = true
		}
	}
	if !loggedIn {
		t.Error("no token.create by carol for the login in the ledger")
	}

	// The environment overrides the file: a bad SLOKEEPER_TOKEN is used, and refused.
	envTok := map[string]string{"HOME": home, "SLOKEEPER_TOKEN": "sko_not-a-token"}
	if _, stderr, code := cliEnv(t, envTok, "", "whoami"); code != 1 || !strings.Contains(stderr, "sign in again") {
		t.Errorf("whoami with a bad SLOKEEPER_TOKEN = %d %q", code, stderr)
	}

	// A file others may read is refused, like ssh's keys.
	if err := os.Chmod(credPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := cliEnv(t, env, "", "whoami"); code != 1 || !strings.Contains(stderr, "may be read by others") {
		t.Errorf("whoami with a 0644 file = %d %q", code, stderr)
	}
	os.Chmod(credPath, 0o600)

	// Past its expiry the token is refused with the way out.
	clock.Add(3 * time.Hour)
	if _, stderr, code := cliEnv(t, env, "", "whoami"); code != 1 || !strings.Contains(stderr, "has expired") || !strings.Contains(stderr, "slokeeper login --server "+base) {
		t.Errorf("whoami after expiry = %d %q", code, stderr)
	}

	// Sign in again, then out: the token is revoked and the file gone.
	totp, _ = auth.TOTPCode(secret, clock.Now())
	if _, stderr, code := cliEnv(t, env, "a long test password\n"+totp+"\n", "login", "--server", base, "--name", "carol"); code != 0 {
		t.Fatalf("second login = %d %q", code, stderr)
	}
	c2, _ := readCredentials(func(k string) string { return env[k] })
	if out, stderr, code := cliEnv(t, env, "", "logout"); code != 0 || !strings.Contains(out, "Signed out") {
		t.Fatalf("logout = %d %q %q", code, out, stderr)
	}
	if _, err := os.Stat(credPath); err == nil {
		t.Error("logout left the credentials file")
	}
	envRevoked := map[string]string{"HOME": home, "SLOKEEPER_TOKEN": c2.Token, "SLOKEEPER_SERVER": base}
	if _, stderr, code := cliEnv(t, envRevoked, "", "whoami"); code != 1 || !strings.Contains(stderr, "revoked") || !strings.Contains(stderr, "sign in again") {
		t.Errorf("whoami with the revoked token = %d %q", code, stderr)
	}
	var revoked bool
	for _, e := range auditEntries(t, m) {
		if e.Action == "token.revoke" && e.Target == "token:"+c2.TokenID && strings.HasPrefix(e.Actor, "operator:carol") {
			revoked = true
		}
	}
	if !revoked {
		t.Error("no token.revoke by carol in the ledger")
	}
}

// loginCLI makes an admin without TOTP and signs them in from a home
// directory of their own; it returns that environment and the token's ID.
func loginCLI(t *testing.T, m *Main, name string) (map[string]string, string) {
	t.Helper()
	op, err := newOperator(name, slokeeper.RoleAdmin, "a long test password", m.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	op.MustChangePassword = false
	if err := m.Store.Operators.CreateOperator(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": t.TempDir()}
	if _, stderr, code := cliEnv(t, env, "a long test password\n\n", "login", "--server", m.HTTP.URL(), "--name", name); code != 0 {
		t.Fatalf("login as %s = %d %q", name, code, stderr)
	}
	c, err := readCredentials(func(k string) string { return env[k] })
	if err != nil || c == nil {
		t.Fatalf("credentials of %s: %v", name, err)
	}
	return env, c.TokenID
}

// testLoginGrantsThroughAPI: after login, account and grant commands go
// through the server as the signed-in operator: the ledger names the
// operator and the token (no local: actor), the requester's own approval
// is refused as in the browser, a second admin's goes through, and the
// requester then reads the account's data.
func TestLoginGrantsThroughAPISQLite(t *testing.T)   { testLoginGrantsThroughAPI(t, testConfig()) }
func TestLoginGrantsThroughAPIPostgres(t *testing.T) { testLoginGrantsThroughAPI(t, withPostgres(t)) }

func testLoginGrantsThroughAPI(t *testing.T, cfg Config) {
	m := MustRunMain(t, cfg)
	carol, carolTok := loginCLI(t, m, "carol")
	dave, daveTok := loginCLI(t, m, "dave")

	// No --data: the commands never open the store.
	if out, stderr, code := cliEnv(t, carol, "", "account", "create", "--id", "acme", "--name", "ACME"); code != 0 || !strings.Contains(out, `"id": "acme"`) {
		t.Fatalf("account create = %d %q %q", code, out, stderr)
	}
	out, stderr, code := cliEnv(t, carol, "", "grant", "request", "--account", "acme", "--scope", "all", "--reason", "ticket 42", "--duration", "1h")
	if code != 0 || !strings.Contains(out, "アクセス権を申請しました") {
		t.Fatalf("grant request = %d %q %q", code, out, stderr)
	}
	id := []string{"", grantID(t, out)}
	if _, stderr, code := cliEnv(t, carol, "", "grant", "approve", id[1]); code != 1 || !strings.Contains(stderr, "You cannot approve your own access grant") {
		t.Errorf("the requester's own approval = %d %q", code, stderr)
	}
	if _, stderr, code := cliEnv(t, carol, "", "account", "get", "acme", "--kind", "data", "--key", "k"); code != 1 || !strings.Contains(stderr, "grant") {
		t.Errorf("a read before approval = %d %q", code, stderr)
	}
	if out, stderr, code := cliEnv(t, dave, "", "grant", "approve", id[1], "--lang", "en"); code != 0 || !strings.Contains(out, "grant approved") {
		t.Fatalf("a second admin's approval = %d %q %q", code, out, stderr)
	}
	if _, stderr, code := cliEnv(t, carol, "", "account", "put", "acme", "--kind", "data", "--key", "k", "--value", "秘密の値"); code != 0 {
		t.Fatalf("account put = %d %q", code, stderr)
	}
	if out, stderr, code := cliEnv(t, carol, "", "account", "get", "acme", "--kind", "data", "--key", "k"); code != 0 || out != "秘密の値" {
		t.Errorf("account get = %d %q %q", code, out, stderr)
	}
	if out, _, code := cliEnv(t, carol, "", "grant", "list", "--account", "acme", "--lang", "en"); code != 0 || !strings.Contains(out, id[1]) || !strings.Contains(out, "active") {
		t.Errorf("grant list = %d %q", code, out)
	}

	// Evidence through the API: the same as the store has.
	_, total, err := m.Store.Evidence.FindEvidence(context.Background(), slokeeper.EvidenceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code = cliEnv(t, dave, "", "evidence", "list", "--limit", "0", "--format", "json")
	if code != 0 || !strings.Contains(out, fmt.Sprintf(`"n": %d`, total)) {
		t.Errorf("evidence list = %d %q %q, want n %d", code, out, stderr, total)
	}

	want := map[string]string{"account.create": "operator:carol token:" + carolTok, "grant.request": "operator:carol token:" + carolTok,
		"grant.approve": "operator:dave token:" + daveTok}
	for _, e := range auditEntries(t, m) {
		if strings.HasPrefix(e.Actor, "local:") || strings.Contains(e.Actor, " via ") {
			t.Errorf("ledger entry %s by %q: a CLI command after login acted on the store directly", e.Action, e.Actor)
		}
		if w, ok := want[e.Action]; ok {
			if e.Actor != w {
				t.Errorf("%s by %q, want %q", e.Action, e.Actor, w)
			}
			delete(want, e.Action)
		}
	}
	if len(want) > 0 {
		t.Errorf("not in the ledger: %v", want)
	}
}

// TestLoginOperatorsThroughAPI: after login the operator commands go
// through the API as the signed-in admin (the ledger names them), show
// passwords and tokens once, and a non-admin is refused.
func TestLoginOperatorsThroughAPI(t *testing.T) {
	m := MustRunMain(t, testConfig())
	carol, carolTok := loginCLI(t, m, "carol")
	run := func(args ...string) (string, string, int) { return cliEnv(t, carol, "", args...) }

	out, stderr, code := run("operator", "add", "--name", "bob", "--role", "support")
	pw := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if code != 0 || pw == nil || !strings.Contains(out, "operator: bob (support)") {
		t.Fatalf("operator add = %d %q %q", code, out, stderr)
	}
	if _, stderr, code := run("operator", "add", "--name", "bad", "--role", "boss"); code != 1 || !strings.Contains(stderr, "boss") {
		t.Errorf("operator add with a bad role = %d %q", code, stderr)
	}
	if _, stderr, code := run("operator", "role", "bob", "--role", "operator"); code != 0 {
		t.Errorf("operator role = %d %q", code, stderr)
	}
	if out, _, code := run("operator", "list"); code != 0 || !regexp.MustCompile(`bob\s+operator`).MatchString(out) {
		t.Errorf("operator list = %d %q", code, out)
	}
	out, stderr, code = run("operator", "token", "create", "--operator", "bob", "--name", "ci", "--scope", "read", "--expires", "30d")
	tok := regexp.MustCompile(`id:\s+(tok_\S+)`).FindStringSubmatch(out)
	if code != 0 || tok == nil || !strings.Contains(out, "token:   sko_") || !strings.Contains(out, "scope:   read") {
		t.Fatalf("token create = %d %q %q", code, out, stderr)
	}
	if out, _, code := run("operator", "token", "list", "--operator", "bob"); code != 0 || !strings.Contains(out, tok[1]) || strings.Contains(out, "sko_") {
		t.Errorf("token list = %d %q", code, out)
	}
	if _, stderr, code := run("operator", "token", "revoke", tok[1]); code != 0 {
		t.Errorf("token revoke = %d %q", code, stderr)
	}
	if out, stderr, code := run("operator", "passwd", "bob"); code != 0 || !strings.HasPrefix(out, "password: ") {
		t.Errorf("operator passwd = %d %q %q", code, out, stderr)
	}
	if _, stderr, code := run("operator", "unlock", "bob"); code != 0 {
		t.Errorf("operator unlock = %d %q", code, stderr)
	}
	if _, stderr, code := run("operator", "disable", "carol"); code != 1 || !strings.Contains(stderr, "cannot disable yourself") {
		t.Errorf("disabling oneself = %d %q", code, stderr)
	}
	if _, stderr, code := run("operator", "disable", "bob"); code != 0 {
		t.Errorf("operator disable = %d %q", code, stderr)
	}
	if out, stderr, code := run("operator", "enable", "bob"); code != 0 || !strings.Contains(out, "enabled bob") {
		t.Errorf("operator enable = %d %q %q", code, out, stderr)
	}
	if _, stderr, code := run("operator", "enable", "bob"); code != 1 || !strings.Contains(stderr, "not disabled") {
		t.Errorf("enabling an active operator = %d %q", code, stderr)
	}
	if _, stderr, code := run("operator", "totp-reset", "carol"); code != 1 || !strings.Contains(stderr, "your own two-factor") {
		t.Errorf("resetting one's own two-factor = %d %q", code, stderr)
	}

	// A support operator signed in is refused the admin's commands.
	sup, err := newOperator("sam", slokeeper.RoleSupport, "a long test password", m.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	sup.MustChangePassword = false
	if err := m.Store.Operators.CreateOperator(context.Background(), sup); err != nil {
		t.Fatal(err)
	}
	sam := map[string]string{"HOME": t.TempDir()}
	if _, stderr, code := cliEnv(t, sam, "a long test password\n\n", "login", "--server", m.HTTP.URL(), "--name", "sam"); code != 0 {
		t.Fatalf("login as sam = %d %q", code, stderr)
	}
	if _, stderr, code := cliEnv(t, sam, "", "operator", "add", "--name", "eve", "--role", "admin"); code != 1 || !strings.Contains(stderr, "needs the role admin") {
		t.Errorf("operator add by support = %d %q", code, stderr)
	}

	want := map[string]bool{"operator.add": true, "operator.role": true, "token.create": true, "token.revoke": true,
		"operator.passwd": true, "operator.unlock": true, "operator.disable": true}
	for _, e := range auditEntries(t, m) {
		if want[e.Action] && e.Target != "operator:carol" {
			if e.Actor != "operator:carol token:"+carolTok {
				t.Errorf("%s %s by %q, want carol's token", e.Action, e.Target, e.Actor)
			}
			delete(want, e.Action)
		}
	}
	if len(want) > 0 {
		t.Errorf("not in the ledger: %v", want)
	}
}

// TestLoginMaintenanceThroughAPI: after login, maintenance windows are
// scheduled, moved and cancelled through the API, as the signed-in
// operator, with the server's validation.
func TestLoginMaintenanceThroughAPI(t *testing.T) {
	m := MustRunMain(t, testConfig())
	carol, carolTok := loginCLI(t, m, "carol")
	run := func(args ...string) (string, string, int) { return cliEnv(t, carol, "", args...) }
	at := func(d time.Duration) string { return m.Clock.Now().Add(d).UTC().Format(time.RFC3339) }

	if _, stderr, code := run("maintenance", "schedule", "--start", at(time.Hour), "--end", at(2*time.Hour), "--title-ja", "作業", "--title-en", "Work"); code != 1 || !strings.Contains(stderr, "notice") {
		t.Errorf("a window without the notice = %d %q", code, stderr)
	}
	out, stderr, code := run("maintenance", "schedule", "--start", at(8*24*time.Hour), "--end", at(8*24*time.Hour+time.Hour), "--title-ja", "作業", "--title-en", "Work")
	id := regexp.MustCompile(`scheduled (\S+):`).FindStringSubmatch(out)
	if code != 0 || id == nil {
		t.Fatalf("maintenance schedule = %d %q %q", code, out, stderr)
	}
	if _, stderr, code := run("maintenance", "reschedule", id[1], "--start", at(9*24*time.Hour), "--end", at(9*24*time.Hour+time.Hour)); code != 0 {
		t.Errorf("maintenance reschedule = %d %q", code, stderr)
	}
	if out, stderr, code := run("maintenance", "cancel", id[1]); code != 0 || !strings.Contains(out, "cancelled "+id[1]) {
		t.Errorf("maintenance cancel = %d %q %q", code, out, stderr)
	}
	n := 0
	for _, e := range auditEntries(t, m) {
		if strings.HasPrefix(e.Action, "maintenance.") {
			n++
			if e.Actor != "operator:carol token:"+carolTok {
				t.Errorf("%s by %q, want carol's token", e.Action, e.Actor)
			}
		}
	}
	if n < 3 {
		t.Errorf("%d maintenance entries in the ledger, want schedule, reschedule and cancel", n)
	}
}

// TestLoginLogsThroughAPI: after login, logs query streams through the API
// as the signed-in support operator, and the ledger names them.
func TestLoginLogsThroughAPI(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	mustAccount(t, cfg.Data, "", "acct-1")
	out, stderr, code := cliRun(t, "source", "add", "--data", cfg.Data, "--kind", "agent", "--account", "acct-1", "--name", "gw")
	src := regexp.MustCompile(`token:  (slk_\S+)\n`).FindStringSubmatch(out)
	if code != 0 || src == nil {
		t.Fatalf("source add = %d %q %q", code, out, stderr)
	}
	m := MustRunMain(t, cfg)
	body := []byte(`{"level":"error","message":"ディスクがいっぱいです"}` + "\n")
	for i := range 1500 { // two of the CLI's pages of 1000
		body = fmt.Appendf(body, `{"level":"info","message":"line %04d"}`+"\n", i)
	}
	if r := post(t, m.HTTP.URL()+"/api/v1/logs", src[1], "application/x-ndjson", body); r.status != 200 {
		t.Fatalf("ingest = %d %s", r.status, r.body)
	}
	sup, err := newOperator("sam", slokeeper.RoleSupport, "a long test password", m.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	sup.MustChangePassword = false
	if err := m.Store.Operators.CreateOperator(context.Background(), sup); err != nil {
		t.Fatal(err)
	}
	sam := map[string]string{"HOME": t.TempDir()}
	if _, stderr, code := cliEnv(t, sam, "a long test password\n\n", "login", "--server", m.HTTP.URL(), "--name", "sam"); code != 0 {
		t.Fatalf("login = %d %q", code, stderr)
	}
	c, _ := readCredentials(func(k string) string { return sam[k] })
	out, stderr, code = cliEnv(t, sam, "", "logs", "query", "--account", "acct-1", "--format", "text")
	if code != 0 || !strings.Contains(out, "error ") || !strings.Contains(out, "ディスクがいっぱいです") {
		t.Fatalf("logs query = %d %q %q", code, out, stderr)
	}
	if out, _, code := cliEnv(t, sam, "", "logs", "query", "--q", "ディスク"); code != 0 || !strings.Contains(out, `"message":"ディスクがいっぱいです"`) {
		t.Errorf("logs query as NDJSON = %d %q", code, out)
	}
	// logs query follows the Link rel="next" pages, each record once.
	for _, tc := range []struct {
		limit string
		lines int
	}{{"0", 1501}, {"1200", 1200}} {
		out, stderr, code := cliEnv(t, sam, "", "logs", "query", "--account", "acct-1", "--limit", tc.limit)
		seen := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if seen[line] {
				t.Errorf("--limit %s: %q twice", tc.limit, line)
			}
			seen[line] = true
		}
		if code != 0 || len(seen) != tc.lines {
			t.Errorf("logs query --limit %s = %d, %d distinct lines, want %d; %q", tc.limit, code, len(seen), tc.lines, stderr)
		}
	}
	var n int
	for _, e := range auditEntries(t, m) {
		if e.Action == "logs.query" {
			n++
			if e.Actor != "operator:sam token:"+c.TokenID {
				t.Errorf("logs.query by %q, want sam's token", e.Actor)
			}
		}
	}
	if n != 6 {
		t.Errorf("%d logs.query entries, want 6 (a page each)", n)
	}
}

// TestLoginComponentsThroughAPI: after login, component apply and remove
// go through the API as the signed-in operator; the server checks the
// probe's target with its own rules.
func TestLoginComponentsThroughAPI(t *testing.T) {
	cfg := testConfig()
	cfg.ProbeAllowTargets = "loopback"
	m := MustRunMain(t, cfg)
	carol, carolTok := loginCLI(t, m, "carol")
	file := filepath.Join(t.TempDir(), "components.yaml")
	os.WriteFile(file, []byte("components:\n  - id: api\n    name_ja: API\n    name_en: API\n    probe: {kind: tcp, target: \"127.0.0.1:9\"}\n  - id: web\n    name_ja: ウェブ\n    name_en: Web\n    probe: {kind: tcp, target: \"127.0.0.1:9\"}\n"), 0o600)
	if out, stderr, code := cliEnv(t, carol, "", "component", "apply", file, "--probe-allow-targets", "loopback"); code != 0 || !strings.Contains(out, "2 components applied") {
		t.Fatalf("component apply = %d %q %q", code, out, stderr)
	}
	if _, stderr, code := cliEnv(t, carol, "", "component", "remove", "web"); code != 0 {
		t.Errorf("component remove = %d %q", code, stderr)
	}
	cs, err := m.Store.Components.FindComponents(context.Background(), slokeeper.ComponentFilter{})
	if err != nil || len(cs) != 1 || cs[0].ID != "api" {
		t.Errorf("components after apply and remove: %v %v", cs, err)
	}
	n := 0
	for _, e := range auditEntries(t, m) {
		if strings.HasPrefix(e.Action, "component.") {
			n++
			if e.Actor != "operator:carol token:"+carolTok {
				t.Errorf("%s by %q, want carol's token", e.Action, e.Actor)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d component entries in the ledger, want 3", n)
	}
}
