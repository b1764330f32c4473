package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
)

// metric reads one unlabelled metric from /metrics (0 when absent).
func metric(t *testing.T, m *Main, name string) float64 {
	t.Helper()
	body := get(t, http.DefaultClient, m.HTTP.URL()+"/metrics").body
	match := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if match == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(match[1], 64)
	return v
}

// concurrently runs n requests at once and returns their responses.
func concurrently(n int, do func(i int) response) []response {
	out := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() { <-start; out[i] = do(i) })
	}
	close(start)
	wg.Wait()
	return out
}

func statusCounts(rs []response) map[int]int {
	c := map[int]int{}
	for _, r := range rs {
		c[r.status]++
	}
	return c
}

// ledger returns the audit ledger's entries.
func auditEntries(t *testing.T, m *Main) []*slokeeper.AuditEntry {
	t.Helper()
	var out []*slokeeper.AuditEntry
	if err := m.Store.Audit.EachAuditEntry(context.Background(), 1, 0, func(e *slokeeper.AuditEntry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// login posts a sign-in with headers (X-Forwarded-For).
func login(t *testing.T, m *Main, name, password, totp string, header ...string) response {
	t.Helper()
	return postJSON(t, newJarClient(), m.HTTP.URL()+"/api/v1/auth/login", fmt.Sprintf(`{"name":%q,"password":%q,"totp":%q}`, name, password, totp), header...)
}

func TestSignInConcurrentSQLite(t *testing.T)   { testSignInConcurrent(t, testConfig()) }
func TestSignInConcurrentPostgres(t *testing.T) { testSignInConcurrent(t, withPostgres(t)) }

// testSignInConcurrent: 30 wrong passwords at once for one name are not
// all checked, and the right one is refused once the name is locked;
// one TOTP code sent by several requests at once opens one session.
func testSignInConcurrent(t *testing.T, cfg Config) {
	cfg.Data = t.TempDir()
	m := MustRunMain(t, cfg)
	signIn(t, m, "carol", "support")
	checks := metric(t, m, "slokeeper_password_checks_total")
	rs := concurrently(30, func(i int) response { return login(t, m, "carol", fmt.Sprintf("wrong %d", i), "") })
	got := statusCounts(rs)
	if got[401] != 5 || got[401]+got[429]+got[503] != 30 {
		t.Errorf("30 concurrent wrong passwords: %v; want 5 checked (401), the others refused (429, or 503 past the hashing queue)", got)
	}
	if n := metric(t, m, "slokeeper_password_checks_total") - checks; n > 5 {
		t.Errorf("%v password checks for 30 concurrent attempts, want at most 5", n)
	}
	if r := login(t, m, "carol", "a long test password", ""); r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("the right password once locked = %d %q %s, want 429 with Retry-After", r.status, r.header.Get("Retry-After"), r.body)
	}

	// One TOTP code, eight requests at once: one session.
	signIn(t, m, "dave", "operator")
	code, _ := auth.TOTPCode(enrolStored(t, m, "dave"), m.Clock.Now())
	rs = concurrently(8, func(int) response { return login(t, m, "dave", "a long test password", code) })
	if got := statusCounts(rs); got[200] != 1 {
		t.Errorf("one TOTP code sent 8 times at once: %v, want exactly one 200", got)
	}
}

// TestSignInHashBound: 60 sign-ins at once for names that do not exist
// never run more password hashes at once than the bound; those past the
// queue get 503 with Retry-After.
func TestSignInHashBound(t *testing.T) {
	cfg := testConfig()
	cfg.LoginHashConcurrency = 2
	m := MustRunMain(t, cfg)
	rs := concurrently(60, func(i int) response { return login(t, m, fmt.Sprintf("nobody%d", i), "guess", "") })
	got := statusCounts(rs)
	if got[401]+got[503] != 60 || got[503] == 0 {
		t.Errorf("60 concurrent sign-ins: %v; want 401s, and 503s past the queue", got)
	}
	for _, r := range rs {
		if r.status == 503 && r.header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After: %s", r.body)
			break
		}
	}
	if peak := metric(t, m, "slokeeper_password_checks_peak"); peak < 1 || peak > 2 {
		t.Errorf("peak password hashes at once = %v, want 1 to 2 (the bound)", peak)
	}
	if n := metric(t, m, "slokeeper_password_checks_total"); n != float64(got[401]) {
		t.Errorf("%v password checks for %d answered 401", n, got[401])
	}
}

// TestLockoutPerAddress: behind a trusted proxy, failures from one client
// address lock the name for that address only, with a doubling lock;
// without one, X-Forwarded-For is not believed. An admin unlocks a name
// over the API and on the command line, both audited.
func TestLockoutPerAddress(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.TrustedProxies = "127.0.0.1/32, ::1"
	clock := newTestClock(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	signIn(t, m, "carol", "support")
	const pw = "a long test password"
	attacker, colleague := []string{"X-Forwarded-For", "198.51.100.66, 203.0.113.5"}, []string{"X-Forwarded-For", "198.51.100.7"}
	fail := func(n int) {
		t.Helper()
		for i := range n {
			if r := login(t, m, "carol", "wrong", "", attacker...); r.status != 401 {
				t.Fatalf("failure %d = %d %s", i+1, r.status, r.body)
			}
		}
	}
	fail(5)
	if r := login(t, m, "carol", pw, "", attacker...); r.status != 429 || r.header.Get("Retry-After") != "61" {
		t.Errorf("locked: %d Retry-After %q, want 429 and 61", r.status, r.header.Get("Retry-After"))
	}
	if r := login(t, m, "carol", pw, "", colleague...); r.status != 200 {
		t.Errorf("the same name from another client = %d %s, want 200", r.status, r.body)
	}
	clock.Add(61 * time.Second)
	fail(5) // the lock passed; five more failures: a lock twice as long
	clock.Add(61 * time.Second)
	if r := login(t, m, "carol", pw, "", attacker...); r.status != 429 {
		t.Errorf("second lock after 61 s = %d, want 429 (2 minutes)", r.status)
	}
	clock.Add(60 * time.Second)
	if r := login(t, m, "carol", pw, "", attacker...); r.status != 200 {
		t.Errorf("second lock after 121 s = %d %s, want 200", r.status, r.body)
	}

	// An admin unlocks.
	admin, sam := signIn(t, m, "alice", "admin"), signIn(t, m, "sam", "support")
	fail(5)
	if r := postJSON(t, sam, m.HTTP.URL()+"/api/v1/operators/carol/unlock", ""); r.status != 403 {
		t.Errorf("support unlocking = %d", r.status)
	}
	if r := postJSON(t, admin, m.HTTP.URL()+"/api/v1/operators/carol/unlock", ""); r.status != 200 || !strings.Contains(r.body, `"locked_addresses": 1`) {
		t.Errorf("admin unlocking = %d %s", r.status, r.body)
	}
	if r := login(t, m, "carol", pw, "", attacker...); r.status != 200 {
		t.Errorf("after the unlock = %d %s", r.status, r.body)
	}
	fail(5)
	if out, stderr, code := cliRun(t, "operator", "unlock", "carol", "--data", cfg.Data); code != 0 || !strings.Contains(out, "unlocked carol") {
		t.Errorf("operator unlock: exit %d %s %s", code, out, stderr)
	}
	if r := login(t, m, "carol", pw, "", attacker...); r.status != 200 {
		t.Errorf("after the CLI unlock = %d %s", r.status, r.body)
	}
	var unlocks []string
	for _, e := range auditEntries(t, m) {
		if e.Action == "operator.unlock" {
			unlocks = append(unlocks, e.Actor)
		}
	}
	if len(unlocks) != 2 || unlocks[0] != "operator:alice" || !strings.HasPrefix(unlocks[1], "local:") {
		t.Errorf("unlocks in the ledger: %q", unlocks)
	}

	// A server that trusts no proxy ignores X-Forwarded-For.
	cfg2 := testConfig()
	m2 := MustRunMain(t, cfg2)
	signIn(t, m2, "carol", "support")
	for i := range 5 {
		login(t, m2, "carol", "wrong", "", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
	}
	if r := login(t, m2, "carol", pw, "", colleague...); r.status != 429 {
		t.Errorf("an X-Forwarded-For from an untrusted peer was believed: %d", r.status)
	}
}

// TestPasswordChangeSessions: a password change ends the operator's other
// sessions and keeps the one it came from; wrong current passwords count
// toward the lockout and are in the ledger.
func TestPasswordChangeSessions(t *testing.T) {
	m := MustRunMain(t, testConfig())
	first := signIn(t, m, "alice", "operator")
	second := loginAs(t, m, "alice")
	if r := postJSON(t, first, m.HTTP.URL()+"/api/v1/auth/password", `{"old":"a long test password","new":"another long password"}`); r.status != 204 {
		t.Fatalf("password change = %d %s", r.status, r.body)
	}
	if r := get(t, second, m.HTTP.URL()+"/api/v1/auth/me"); r.status != 401 {
		t.Errorf("the other session after a password change = %d, want 401", r.status)
	}
	if r := get(t, first, m.HTTP.URL()+"/api/v1/auth/me"); r.status != 200 {
		t.Errorf("the session that changed it = %d, want 200", r.status)
	}
	for i := range 5 {
		if r := postJSON(t, first, m.HTTP.URL()+"/api/v1/auth/password", `{"old":"wrong","new":"a third long password"}`); r.status != 401 {
			t.Errorf("wrong current password %d = %d", i+1, r.status)
		}
	}
	if r := postJSON(t, first, m.HTTP.URL()+"/api/v1/auth/password", `{"old":"another long password","new":"a third long password"}`); r.status != 429 {
		t.Errorf("the right current password after 5 wrong ones = %d, want 429", r.status)
	}
	if r := login(t, m, "alice", "another long password", ""); r.status != 429 {
		t.Errorf("signing in after 5 wrong current passwords = %d, want 429 (the same lock)", r.status)
	}
	found := false
	for _, e := range auditEntries(t, m) {
		found = found || (e.Action == "operator.password.failed" && e.Target == "operator:alice")
	}
	if !found {
		t.Error("no operator.password.failed in the ledger")
	}
}

func TestSignInFailuresAggregatedSQLite(t *testing.T) { testSignInFailuresAggregated(t, testConfig()) }
func TestSignInFailuresAggregatedPostgres(t *testing.T) {
	testSignInFailuresAggregated(t, withPostgres(t))
}

// testSignInFailuresAggregated: 1000 failed sign-ins add a bounded number
// of ledger entries, and their count is recorded, none lost.
func testSignInFailuresAggregated(t *testing.T, cfg Config) {
	cfg.Data = t.TempDir()
	clock := newTestClock(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	before := len(auditEntries(t, m))
	for range 1000 {
		if r := login(t, m, "carol", "wrong", ""); r.status != 401 && r.status != 429 {
			t.Fatalf("sign-in = %d %s", r.status, r.body)
		}
	}
	if n := len(auditEntries(t, m)) - before; n > 3 {
		t.Errorf("1000 failed sign-ins added %d ledger entries, want at most 3 before the window ends", n)
	}
	clock.Add(16 * time.Minute)
	login(t, m, "dave", "wrong", "") // any attempt records the windows that are over
	failed, refused, entries := 0, 0, 0
	count := regexp.MustCompile(`^(\d+) more failed, (\d+) refused while locked`)
	for _, e := range auditEntries(t, m)[before:] {
		if e.Target != "operator:carol" {
			continue
		}
		entries++
		switch c := count.FindStringSubmatch(e.Detail); {
		case e.Action == "login.failed" && c == nil:
			failed++ // the first of the window, with its reason
		case c != nil:
			f, _ := strconv.Atoi(c[1])
			r, _ := strconv.Atoi(c[2])
			failed, refused = failed+f, refused+r
		default:
			t.Errorf("unexpected entry %s %q", e.Action, e.Detail)
		}
	}
	if failed != 5 || refused != 995 || entries > 3 {
		t.Errorf("the ledger has %d failed and %d refused sign-ins in %d entries; want 5 and 995 in at most 3", failed, refused, entries)
	}
}
