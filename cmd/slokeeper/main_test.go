package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"slokeeper/internal/httpserver"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/storetest"
	"slokeeper/policy"
)

// TestMain lets the test binary stand in for the slokeeper binary, so the
// signal test runs the real main in a child process without a build step.
func TestMain(m *testing.M) {
	if os.Getenv("SLOKEEPER_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"slokeeper"}, strings.Fields(os.Getenv("SLOKEEPER_TEST_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// MustRunMain starts a Main on a loopback port with a temporary data
// directory and closes it when the test ends.
func MustRunMain(t *testing.T, cfg Config) *Main {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Data == "" {
		cfg.Data = t.TempDir()
	}
	var logs bytes.Buffer
	m := NewMain(cfg, &logs)
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v\nlogs:\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// testConfig is the default configuration for tests, with no data
// directory: MustRunMain gives each test its own temporary one, so no test
// ever writes into the source tree.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Data = ""
	cfg.Listen = "127.0.0.1:0"
	cfg.Node = "e2e-node"
	cfg.LogLevel = "debug"
	cfg.LifecycleInterval = 0 // tests that want the job turn it on
	return cfg
}

// withPostgres is testConfig on a fresh PostgreSQL schema of its own.
func withPostgres(t *testing.T) Config {
	cfg := testConfig()
	cfg.DB = storetest.PostgresDSN(t)
	return cfg
}

type response struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, client *http.Client, url string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(body)}
}

// waitFor polls until cond holds: it waits for asynchronous work (the job
// queue electing a leader and running the self-check), not for time to pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestServeSQLite(t *testing.T) {
	testServe(t, testConfig(), "sqlite")
}

func TestServePostgres(t *testing.T) { testServe(t, withPostgres(t), "postgres") }

func testServe(t *testing.T, cfg Config, engine string) {
	m := MustRunMain(t, cfg)
	base, c := m.HTTP.URL(), http.DefaultClient

	if r := get(t, c, base+"/healthz"); r.status != 200 || !strings.Contains(r.body, `"ok"`) {
		t.Errorf("/healthz = %d %s", r.status, r.body)
	}
	if r := get(t, c, base+"/readyz"); r.status != 200 || !strings.Contains(r.body, `"ready"`) {
		t.Errorf("/readyz = %d %s", r.status, r.body)
	}

	// The periodic self-check goes through River end to end and leaves
	// evidence, which staff read.
	auditor := signIn(t, m, "olga", "auditor")
	var listed struct {
		Evidence []struct{ Clause, Action, Outcome, Node string }
		N        int
	}
	waitFor(t, "self-check evidence", func() bool {
		r := get(t, auditor, base+"/api/v1/evidence?action=self_check")
		if err := json.Unmarshal([]byte(r.body), &listed); err != nil {
			t.Fatalf("evidence JSON: %v: %s", err, r.body)
		}
		return listed.N > 0
	})
	if e := listed.Evidence[0]; e.Clause != "availability" || e.Outcome != "ok" || e.Node != "e2e-node" {
		t.Errorf("self-check evidence = %+v", e)
	}

	r := get(t, c, base+"/metrics")
	for _, want := range []string{`slokeeper_build_info{engine="` + engine + `"`, "go_goroutines", `slokeeper_http_requests_total{code="200",method="GET",route="GET /healthz"} 1`, "process_resident_memory_bytes"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	var pol struct {
		Maintenance struct{ Notice string }
		Service     struct{ Timezone string }
	}
	r = get(t, c, base+"/api/v1/policy")
	if err := json.Unmarshal([]byte(r.body), &pol); err != nil || pol.Maintenance.Notice != "7d" || pol.Service.Timezone != "Asia/Tokyo" {
		t.Errorf("/api/v1/policy: %v %+v", err, pol)
	}

	for _, tt := range []struct {
		path   string
		status int
		code   string
	}{
		{"/no/such/page", 404, "not_found"},
		{"/api/v1/evidence?since=yesterday", 400, "invalid"},
		{"/api/v1/evidence?limit=5000", 400, "invalid"},
	} {
		r := get(t, auditor, base+tt.path)
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.status != tt.status || e.Error.Code != tt.code || e.Error.Message == "" {
			t.Errorf("GET %s = %d %s, want %d with code %s", tt.path, r.status, r.body, tt.status, tt.code)
		}
	}

	// The page speaks the reader's language.
	if r := get(t, c, base+"/", "Accept-Language", "en-US,en;q=0.9"); !strings.Contains(r.body, `<html lang="en">`) || !strings.Contains(r.body, "Service level objectives") {
		t.Errorf("English index page:\n%s", r.body)
	}
	if r := get(t, c, base+"/"); !strings.Contains(r.body, `<html lang="ja">`) || !strings.Contains(r.body, "サービスレベル目標") {
		t.Errorf("Japanese index page:\n%s", r.body)
	}

	// slokeeper's own logs are system logs; reading them takes an operator.
	if r := get(t, c, base+"/api/v1/logs?class=system"); r.status != 401 {
		t.Errorf("log query without signing in = %d", r.status)
	}
	staff := signIn(t, m, "sre", "operator")
	waitFor(t, "slokeeper's own logs in the log store", func() bool {
		return strings.Contains(get(t, staff, base+"/api/v1/logs?class=system&source=slokeeper/e2e-node").body, `"class":"system"`)
	})

	// An administration command reads the same store while the server runs.
	args := []string{"evidence", "list", "--action", "self_check", "--format", "json", "--data", m.Config.Data}
	if cfg.DB != "" {
		args = append(args, "--db", cfg.DB)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, noEnv, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), `"self_check"`) {
		t.Errorf("evidence list while serving: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
}

func noEnv(string) string { return "" }

func TestServeRefusesPlainHTTPOffLoopback(t *testing.T) {
	cfg := testConfig()
	cfg.Listen = "0.0.0.0:0"
	cfg.Data = t.TempDir()
	m := NewMain(cfg, io.Discard)
	err := m.Run(context.Background())
	if !errors.Is(err, httpserver.ErrPlainHTTPExposed) || !strings.Contains(err.Error(), "--insecure-http") || !strings.Contains(err.Error(), "--tls-cert") {
		t.Fatalf("Run on 0.0.0.0 without TLS = %v, want a refusal naming --tls-cert and --insecure-http", err)
	}
	if entries, _ := os.ReadDir(cfg.Data); len(entries) > 0 {
		t.Errorf("a refused start left files in the data directory: %v", entries)
	}
	// The command line says the same and exits 1.
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--data", t.TempDir(), "--listen", "0.0.0.0:8443"}, noEnv, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "refusing to serve plain HTTP on 0.0.0.0:8443") {
		t.Errorf("serve --listen 0.0.0.0:8443: exit %d, stderr %q", code, stderr.String())
	}

	cfg.InsecureHTTP = true
	m = MustRunMain(t, cfg)
	if !strings.HasPrefix(m.HTTP.URL(), "http://") {
		t.Errorf("URL = %s, want plain http", m.HTTP.URL())
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(m.HTTP.URL(), "http://"))
	if r := get(t, http.DefaultClient, "http://127.0.0.1:"+port+"/healthz"); r.status != 200 {
		t.Errorf("--insecure-http /healthz = %d", r.status)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slokeeper test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	cfg := testConfig()
	cfg.Listen = "0.0.0.0:0" // TLS makes a reachable address acceptable
	var pool *x509.CertPool
	cfg.TLSCert, cfg.TLSKey, pool = writeCert(t)
	m := MustRunMain(t, cfg)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(m.HTTP.URL(), "https://"))
	url := "https://127.0.0.1:" + port

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	r := get(t, client, url+"/healthz")
	if r.status != 200 || r.header.Get("Strict-Transport-Security") == "" {
		t.Errorf("HTTPS /healthz = %d, HSTS %q", r.status, r.header.Get("Strict-Transport-Security"))
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(url + "/healthz"); err == nil {
		t.Error("a TLS 1.1 client was served; want TLS 1.2 or newer only")
	}
	if resp, err := http.Get("http://127.0.0.1:" + port + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP was served on the TLS port")
	}

	t.Run("ErrKeyMissing", func(t *testing.T) {
		cfg := testConfig()
		cfg.Data, cfg.TLSCert = t.TempDir(), filepath.Join(t.TempDir(), "cert.pem")
		if err := NewMain(cfg, io.Discard).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--tls-key") {
			t.Errorf("Run with a certificate but no key = %v", err)
		}
	})
}

// TestSIGTERM runs slokeeper serve as a real process, and checks that
// SIGTERM stops it cleanly, with exit status 0.
func TestSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SLOKEEPER_TEST_RUN_MAIN=1",
		"SLOKEEPER_TEST_ARGS=serve --listen 127.0.0.1:0 --data "+t.TempDir()+" --log-format json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var url string
	var log strings.Builder
	for url == "" {
		line, ok := <-lines
		if !ok {
			t.Fatalf("serve exited before serving:\n%s", log.String())
		}
		log.WriteString(line + "\n")
		var rec struct{ Msg, URL string }
		json.Unmarshal([]byte(line), &rec)
		if rec.Msg == "slokeeper serving" {
			url = rec.URL
		}
	}
	if r := get(t, http.DefaultClient, url+"/healthz"); r.status != 200 {
		t.Fatalf("/healthz = %d", r.status)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() {
		for line := range lines {
			log.WriteString(line + "\n")
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, log.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not exit within 15s of SIGTERM\n%s", log.String())
	}
	if !strings.Contains(log.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", log.String())
	}
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	src := strings.Replace(string(policy.DefaultYAML()), "  notice: 7d", "  notice: 7d\n  notcie: 7d", 1)
	src = strings.Replace(src, "grant_max: 8h", "grant_max: -8h", 1)
	os.WriteFile(broken, []byte(src), 0o644)
	lineOf := func(s string) string {
		return strconv.Itoa(strings.Count(src[:strings.Index(src, s)], "\n") + 1)
	}
	configured := filepath.Join(dir, "slokeeper.yaml")
	os.WriteFile(configured, []byte("policy: broken.yaml\n"), 0o644)

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // regexp
		stderr string // regexp
	}{
		{"Version", []string{"--version"}, 0, `^slokeeper \S+\n$`, `^$`},
		{"NoArgs", nil, 2, `^$`, `Usage:`},
		{"Unknown", []string{"frobnicate"}, 2, `^$`, `unknown command "frobnicate"`},
		{"ServeHelp", []string{"serve", "--help"}, 0, `^$`, `-insecure-http\n.*plain HTTP`},
		{"ServeBadFlag", []string{"serve", "--no-such-flag"}, 2, `^$`, `flag provided but not defined`},
		{"PolicyCheckDefault", []string{"policy", "check"}, 0, `^\(default policy\): valid, 1 warning\n$`,
			`^\(default policy\):\d+:\d+: warning: System logs: .*conflict window is 2d to 33d.*precedence "erase" the erase ceiling wins`},
		{"PolicyCheckBroken", []string{"policy", "check", "--file", broken}, 1, `^$`,
			`^` + regexp.QuoteMeta(broken) + `:` + lineOf("  notcie") + `:3: unknown key "notcie" in maintenance \(did you mean "notice"\?\)\n` +
				regexp.QuoteMeta(broken) + `:` + lineOf("grant_max: -8h") + `:14: access.grant_max: duration "-8h" is negative; durations count forward\n$`},
		{"PolicyCheckViaConfig", []string{"policy", "check", "--config", configured}, 1, `^$`, `broken\.yaml:\d+:\d+: unknown key "notcie"`},
		{"PolicyCheckMissingFile", []string{"policy", "check", "--file", filepath.Join(dir, "none.yaml")}, 1, `^$`, `read policy: .*no such file`},
		{"PolicyShowJA", []string{"policy", "show"}, 0, `・計画メンテナンスの事前通知:開始の7日前まで`, `^$`},
		{"PolicyShowEN", []string{"policy", "show", "--lang", "en"}, 0, `- Notice of planned maintenance: at least 7 days before the start`, `^$`},
		{"PolicyShowJSON", []string{"policy", "show", "--format", "json"}, 0, `"notice": "7d"`, `^$`},
		{"PolicyShowBadLang", []string{"policy", "show", "--lang", "fr"}, 2, `^$`, `--lang "fr" is not ja or en`},
		{"PolicyShowBroken", []string{"policy", "show", "--file", broken}, 1, `^$`, `unknown key "notcie"`},
		{"PolicyInit", []string{"policy", "init"}, 0, `^# slokeeper policy`, `^$`},
		{"EvidenceBadTime", []string{"evidence", "list", "--since", "yesterday"}, 2, `^$`, `--since "yesterday" is not an RFC 3339 time`},
		{"EvidenceEmpty", []string{"evidence", "list", "--data", filepath.Join(dir, "data")}, 0, `^ID\s+AT\s+CLAUSE`, `0 of 0 shown`},
		{"EvidenceBadDB", []string{"evidence", "list", "--data", filepath.Join(dir, "bad"), "--db", "mysql://u:pw@h/db"}, 1, `^$`, `unknown database kind "mysql"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, noEnv, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			if !regexp.MustCompile(tt.stdout).MatchString(stdout.String()) {
				t.Errorf("stdout does not match %q:\n%s", tt.stdout, stdout.String())
			}
			if !regexp.MustCompile(tt.stderr).MatchString(stderr.String()) {
				t.Errorf("stderr does not match %q:\n%s", tt.stderr, stderr.String())
			}
		})
	}

	t.Run("PolicyInitRoundTrip", func(t *testing.T) {
		var out bytes.Buffer
		run(context.Background(), []string{"policy", "init"}, noEnv, &out, io.Discard)
		if !bytes.Equal(out.Bytes(), policy.DefaultYAML()) {
			t.Fatal("policy init does not print the embedded default")
		}
		file := filepath.Join(t.TempDir(), "slo.yaml")
		os.WriteFile(file, out.Bytes(), 0o644)
		var a, b bytes.Buffer
		run(context.Background(), []string{"policy", "show", "--format", "json", "--file", file}, noEnv, &a, io.Discard)
		run(context.Background(), []string{"policy", "show", "--format", "json"}, noEnv, &b, io.Discard)
		if a.Len() == 0 || !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Error("the file policy init writes does not read back as the default")
		}
	})
	if t.Failed() {
		t.Logf("broken policy:\n%s", src)
	}
}

// TestAuditLedger: sensitive actions land in the ledger, the server signs
// checkpoints, audit verify passes, and fails naming the entry once the
// database is tampered with.
func TestAuditLedger(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cliRun(t, "source", "add", "--data", cfg.Data, "--kind", "app", "--name", "api servers")
	m := NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	get(t, signIn(t, m, "sre", "operator"), m.HTTP.URL()+"/api/v1/logs?source=src_x")
	m.Close(context.Background()) // signs a last checkpoint

	out, stderr, _ := cliRun(t, "audit", "show", "--data", cfg.Data)
	for _, want := range []string{"audit.key.register", "source.add", "policy.load", "operator.bootstrap", "login", "logs.query"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit show lacks %s:\n%s%s", want, out, stderr)
		}
	}
	if out, _, code := cliRun(t, "audit", "verify", "--data", cfg.Data); code != 0 || !regexp.MustCompile(`verified: 6 entries, 1 signed checkpoints, 1 trusted keys\n  key of node \S+ \(registered in entry 1\)`).MatchString(out) {
		t.Fatalf("audit verify: exit %d\n%s", code, out)
	}
	if out, _, _ := cliRun(t, "audit", "export", "--data", cfg.Data); !strings.Contains(out, `"type":"verifier_key"`) || strings.Count(out, `"type":"entry"`) != 6 {
		t.Errorf("audit export:\n%s", out)
	}

	// Someone with the database file edits an entry.
	store, err := OpenStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := store.Audit.(interface{ DB() *sqlite.DB }).DB()
	for _, s := range []string{"DROP TRIGGER audit_entries_no_update", "UPDATE audit_entries SET actor = 'cli:nobody' WHERE seq = 1"} {
		if _, err := db.Writer().Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	out, _, code := cliRun(t, "audit", "verify", "--data", cfg.Data)
	if code != 1 || !strings.Contains(out, "entry 1: entry 1 was modified") {
		t.Errorf("audit verify after tampering: exit %d\n%s", code, out)
	}
}

func TestKeysRotate(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := MustRunMain(t, cfg)
	ct, err := m.Keys.Encrypt(context.Background(), "acct-1", []byte("token-for-mqtt"), []byte("credential:1"))
	if err != nil {
		t.Fatal(err)
	}
	// Rotate from the command line while the server runs.
	out, stderr, code := cliRun(t, "keys", "rotate", "--data", cfg.Data)
	if code != 0 || !strings.Contains(out, "1 account keys rewrapped") {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, stderr)
	}
	if pt, err := m.Keys.Decrypt(context.Background(), "acct-1", ct, []byte("credential:1")); err != nil || string(pt) != "token-for-mqtt" {
		t.Errorf("the running server after rotation: %q, %v", pt, err)
	}
	if out, _, _ := cliRun(t, "audit", "show", "--data", cfg.Data); !strings.Contains(out, "keys.rotate") {
		t.Errorf("rotation not in the audit ledger:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(cfg.Data, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("master key file: %v %v", fi, err)
	}
}

// signIn creates an operator with the given role and signs in over HTTP,
// returning a client that carries the session cookie.
func signIn(t *testing.T, m *Main, name, role string) *http.Client {
	t.Helper()
	op, err := newOperator(name, role, "a long test password", m.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	op.MustChangePassword = false
	if err := m.Store.Operators.CreateOperator(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	return loginAs(t, m, name)
}

// loginAs signs an operator made by signIn in again (a session lasts 12 h).
func loginAs(t *testing.T, m *Main, name string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Post(m.HTTP.URL()+"/api/v1/auth/login", "application/json", strings.NewReader(`{"name":"`+name+`","password":"a long test password"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in as %s: HTTP %d", name, resp.StatusCode)
	}
	return c
}

// TestNoTestWritesIntoTheSourceTree guards against a test run leaving a
// data directory (databases, keys) beside the code.
func TestNoTestWritesIntoTheSourceTree(t *testing.T) {
	if _, err := os.Stat("slokeeper-data"); err == nil {
		t.Fatal("a test created cmd/slokeeper/slokeeper-data: give it a t.TempDir()")
	}
}
