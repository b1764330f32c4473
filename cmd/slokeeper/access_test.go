package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/storetest"
)

func put(t *testing.T, c *http.Client, url, body string) response {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func TestAccessGrantsSQLite(t *testing.T) { testAccessGrants(t, testConfig()) }

func TestAccessGrantsPostgres(t *testing.T) {
	cfg := testConfig()
	cfg.DB = storetest.PostgresDSN(t)
	cfg.KeysDB = storetest.PostgresDSN(t) // a database of its own, as several nodes need
	testAccessGrants(t, cfg)
}

// testAccessGrants drives the access rules over HTTP as staff would.
func testAccessGrants(t *testing.T, cfg Config) {
	cfg.Data = t.TempDir()
	clock := newTestClock(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	base := m.HTTP.URL() + "/api/v1"
	ops, alice, bob, sam := signIn(t, m, "ops", "operator"), signIn(t, m, "alice", "admin"), signIn(t, m, "bob", "admin"), signIn(t, m, "sam", "support")

	if r := postJSON(t, ops, base+"/accounts", `{"id":"acct-1","name":"工場A"}`); r.status != 201 {
		t.Fatalf("create account = %d %s", r.status, r.body)
	}
	if r := put(t, ops, base+"/accounts/acct-1/credentials/mqtt", "mqtt-pass-7f3e"); r.status != 200 {
		t.Fatalf("put credential = %d %s", r.status, r.body)
	}
	// No grant: 403, saying how to get one.
	if r := get(t, sam, base+"/accounts/acct-1/credentials/mqtt"); r.status != 403 || !strings.Contains(r.body, "POST /api/v1/grants") {
		t.Errorf("without a grant = %d %s", r.status, r.body)
	}
	r := postJSON(t, sam, base+"/grants", `{"account":"acct-1","scope":"credential","reason":"ticket #42","duration":"1h"}`)
	if r.status != 201 {
		t.Fatalf("request grant = %d %s", r.status, r.body)
	}
	id := grantID(t, r.body)
	own := grantID(t, postJSON(t, alice, base+"/grants", `{"account":"acct-1","scope":"all","reason":"incident review","duration":"1h"}`).body)
	if r := postJSON(t, alice, base+"/grants/"+own+"/approve", ``); r.status != 403 {
		t.Errorf("approving one's own grant = %d %s", r.status, r.body)
	}
	if r := postJSON(t, bob, base+"/grants/"+id+"/approve", ``); r.status != 200 {
		t.Fatalf("approve = %d %s", r.status, r.body)
	}
	if r := get(t, sam, base+"/accounts/acct-1/credentials/mqtt"); r.status != 200 || r.body != "mqtt-pass-7f3e" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("with a grant = %d %q", r.status, r.body)
	}
	// The read is in the audit ledger, with the grant that allowed it.
	var reads int
	m.Store.Audit.EachAuditEntry(context.Background(), 1, 0, func(e *slokeeper.AuditEntry) error {
		if e.Action == "data.read" && e.Actor == "operator:sam" && strings.HasSuffix(e.Detail, "under grant "+id) {
			reads++
		}
		return nil
	})
	if reads != 1 {
		t.Errorf("%d reads under grant %s in the ledger, want 1", reads, id)
	}
	if r := postJSON(t, sam, base+"/grants/"+id+"/revoke", ``); r.status != 204 {
		t.Errorf("revoke = %d", r.status)
	}
	if r := get(t, sam, base+"/accounts/acct-1/credentials/mqtt"); r.status != 403 {
		t.Errorf("after revoking = %d", r.status)
	}
	id2 := grantID(t, postJSON(t, sam, base+"/grants", `{"account":"acct-1","scope":"credential","reason":"ticket #43","duration":"30m"}`).body)
	postJSON(t, bob, base+"/grants/"+id2+"/approve", ``)
	clock.Add(31 * time.Minute)
	if r := get(t, sam, base+"/accounts/acct-1/credentials/mqtt"); r.status != 403 {
		t.Errorf("after the grant expired = %d", r.status)
	}

	// Deletion: disabled at once, cancellable, then erased for good.
	if r := postJSON(t, sam, base+"/accounts/acct-1/cancel-deletion", ``); r.status != 403 {
		t.Errorf("support cancelling = %d", r.status)
	}
	req, _ := http.NewRequest("DELETE", base+"/accounts/acct-1", nil)
	if resp, err := alice.Do(req); err != nil || resp.StatusCode != 202 {
		t.Fatalf("delete account: %v %v", resp, err)
	}
	if r := put(t, ops, base+"/accounts/acct-1/credentials/other", "x"); r.status != 409 {
		t.Errorf("writing while deleting = %d %s", r.status, r.body)
	}
	clock.Add(7*24*time.Hour + time.Minute)
	// The lifecycle pass erases it: its data, then its key.
	results, err := m.Lifecycle.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var done []string
	for _, r := range results {
		if r.Account == "acct-1" && r.Outcome == slokeeper.OutcomeOK && (r.Kind == "erase_account" || r.Kind == "destroy_key") {
			done = append(done, r.Kind)
		}
	}
	if strings.Join(done, " ") != "destroy_key erase_account" {
		t.Fatalf("the pass after the window did %v, want the key destroyed and the data erased", done)
	}
	sam, bob = loginAs(t, m, "sam"), loginAs(t, m, "bob") // a week later: new sessions
	id3 := grantID(t, postJSON(t, sam, base+"/grants", `{"account":"acct-1","scope":"all","reason":"after deletion","duration":"1h"}`).body)
	postJSON(t, bob, base+"/grants/"+id3+"/approve", ``)
	if r := get(t, sam, base+"/accounts/acct-1/credentials/mqtt"); r.status != 404 {
		t.Errorf("reading an erased account = %d %s", r.status, r.body)
	}
}

// grantID returns the grant ID that grant request printed (its first
// line ends with it) or that an API response holds.
func grantID(t *testing.T, body string) string {
	t.Helper()
	if i := strings.Index(body, `"id": "`); i >= 0 {
		rest := body[i+7:]
		return rest[:strings.Index(rest, `"`)]
	}
	m := regexp.MustCompile(`\bgr_[A-Za-z0-9_-]+`).FindString(body)
	if m == "" {
		t.Fatalf("no grant in %s", body)
	}
	return m
}

// TestAccessCLI: the same rules from the command line, and the review.
func TestAccessCLI(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	tokens := map[string]string{} // each operator's own API token
	for _, o := range []struct{ name, role string }{{"ops", "operator"}, {"alice", "admin"}, {"bob", "admin"}, {"sam", "support"}} {
		tokens[o.name] = mustOperatorToken(t, []string{"--data", cfg.Data}, o.name, o.role, "write")
	}
	run := func(args ...string) (string, string, int) { return cliRun(t, append(args, "--data", cfg.Data)...) }
	runAs := func(name string, args ...string) (string, string, int) {
		return cliRunToken(t, tokens[name], append(args, "--data", cfg.Data)...)
	}
	if _, stderr, code := runAs("ops", "account", "create", "--id", "acct-7", "--name", "Farm D"); code != 0 {
		t.Fatalf("account create: %s", stderr)
	}
	if _, stderr, code := runAs("ops", "account", "put", "acct-7", "--kind", "data", "--key", "threshold", "--value", "42"); code != 0 {
		t.Fatalf("account put: %s", stderr)
	}
	if _, stderr, code := runAs("sam", "account", "get", "acct-7", "--kind", "data", "--key", "threshold"); code != 1 || !strings.Contains(stderr, "needs an access grant") {
		t.Errorf("get without a grant: exit %d %s", code, stderr)
	}
	out, _, _ := runAs("sam", "grant", "request", "--account", "acct-7", "--scope", "data", "--reason", "sensor question", "--duration", "1h30m")
	id := grantID(t, out)
	// Names and durations as people say them, never operator IDs or
	// nanoseconds.
	for _, want := range []string{`アクセス権を申請しました: ` + id + `\n`, `申請者:\s+sam\n`, `アカウント:\s+Farm D（acct-7）\n`, `期間:\s+1時間30分\n`, `状態:\s+承認待ち\n`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("grant request output lacks %s:\n%s", want, out)
		}
	}
	if _, stderr, code := runAs("sam", "grant", "approve", id); code != 1 || !strings.Contains(stderr, "Only an admin") {
		t.Errorf("support approving: exit %d %s", code, stderr)
	}
	if out, stderr, code := runAs("bob", "grant", "approve", id, "--lang", "en"); code != 0 || !regexp.MustCompile(`grant approved: `+id+`\n(?s:.*)operator:\s+sam\n(?s:.*)duration:\s+1h30m\n\s+state:\s+active\n\s+approver:\s+bob\n`).MatchString(out) {
		t.Errorf("grant approve --lang en: exit %d %s\n%s", code, stderr, out)
	}
	if out, _, code := run("grant", "list", "--lang", "en"); code != 0 || !regexp.MustCompile(id+`\s+sam\s+Farm D \(acct-7\)\s+data\s+1h30m\s+active\s+bob\s`).MatchString(out) || strings.Contains(out, "op_") {
		t.Errorf("grant list --lang en:\n%s", out)
	}
	if out, stderr, code := runAs("sam", "account", "get", "acct-7", "--kind", "data", "--key", "threshold"); code != 0 || out != "42" {
		t.Errorf("get with a grant: exit %d %q %s", code, out, stderr)
	}
	out, _, code := run("access", "review")
	if code != 0 || !strings.Contains(out, "Access review") || !strings.Contains(out, id) || !regexp.MustCompile(id+`\s+sam\s+Farm D（acct-7）\s+data\s+1時間30分\s+有効\s+bob\s+\S+\s+1\s+sensor question`).MatchString(out) {
		t.Errorf("access review:\n%s", out)
	}
}

// TestSecretNeverOnDisk writes a known secret through the API to a server
// logging at debug level, then scans every file in the data directory:
// databases, WALs, the key store, the log store (slokeeper's own logs
// included) and the ledger's files.
func TestSecretNeverOnDisk(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := MustRunMain(t, cfg)
	base := m.HTTP.URL() + "/api/v1"
	ops := signIn(t, m, "ops", "operator")
	postJSON(t, ops, base+"/accounts", `{"id":"acct-s","name":"Secret Co"}`)
	secret := "canary-SECRET-5f1e2d3c-資格情報"
	for _, kind := range []string{"credentials", "data", "documents"} {
		if r := put(t, ops, base+"/accounts/acct-s/"+kind+"/k", `{"v":"`+secret+`"}`); r.status != 200 {
			t.Fatalf("put %s = %d %s", kind, r.status, r.body)
		}
	}
	m.Close(context.Background()) // flush slokeeper's own logs, checkpoint the ledger
	var files int
	filepath.Walk(cfg.Data, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		files++
		if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("5f1e2d3c")) {
			t.Errorf("%s holds the secret in plaintext", path)
		}
		return nil
	})
	if files < 8 {
		t.Errorf("scanned only %d files", files)
	}
}
