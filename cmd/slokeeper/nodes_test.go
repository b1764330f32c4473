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
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// runMainErr runs a Main and returns its start error (closing it when it
// started).
func runMainErr(t *testing.T, cfg Config) error {
	t.Helper()
	var logs bytes.Buffer
	m := NewMain(cfg, &logs)
	err := m.Run(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := m.Close(ctx); err == nil && cerr != nil {
		t.Errorf("Close: %v", cerr)
	}
	return err
}

func TestMasterKeyCheckSQLite(t *testing.T) {
	cfg := testConfig()
	cfg.DB = "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	testMasterKeyCheck(t, cfg)
}

func TestMasterKeyCheckPostgres(t *testing.T) { testMasterKeyCheck(t, withPostgres(t)) }

// testMasterKeyCheck: two nodes on one database. The second, with a
// master key of its own, refuses to start and says what to do; with the
// first's key it starts. After "keys rotate" on the first, the second's
// stale copy is refused again, the rotated one accepted.
func testMasterKeyCheck(t *testing.T, base Config) {
	a, b := base, base
	a.Data, a.Node = t.TempDir(), "node-a"
	b.Data, b.Node = t.TempDir(), "node-b"
	if err := runMainErr(t, a); err != nil {
		t.Fatalf("first node: %v", err)
	}
	err := runMainErr(t, b)
	if err == nil {
		t.Fatal("a node with another master key started")
	}
	for _, want := range []string{"master key", "is not the cluster's", "Copy the master key file", "マスターキー", "コピーしてください"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	copyFile(t, filepath.Join(a.Data, "master.key"), filepath.Join(b.Data, "master.key"))
	if err := runMainErr(t, b); err != nil {
		t.Fatalf("second node with the cluster's master key: %v", err)
	}

	dbArgs := []string{"--data", a.Data}
	if base.DB != "" {
		dbArgs = append(dbArgs, "--db", base.DB)
	}
	if out, stderr, code := cliRun(t, append([]string{"keys", "rotate"}, dbArgs...)...); code != 0 {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, stderr)
	}
	if err := runMainErr(t, b); err == nil || !strings.Contains(err.Error(), "is not the cluster's") {
		t.Fatalf("second node with the master key from before the rotation: %v, want a refusal", err)
	}
	if err := runMainErr(t, a); err != nil {
		t.Fatalf("first node after its rotation: %v", err)
	}
	copyFile(t, filepath.Join(a.Data, "master.key"), filepath.Join(b.Data, "master.key"))
	if err := runMainErr(t, b); err != nil {
		t.Fatalf("second node with the rotated master key: %v", err)
	}
	// A rotation from a node whose key is not the cluster's is refused too.
	c := base
	c.Data = t.TempDir()
	cArgs := []string{"keys", "rotate", "--data", c.Data}
	if base.DB != "" {
		cArgs = append(cArgs, "--db", base.DB)
	}
	if _, stderr, code := cliRun(t, cArgs...); code == 0 || !strings.Contains(stderr, "is not the cluster's") {
		t.Fatalf("keys rotate with a foreign master key: exit %d, %s", code, stderr)
	}
}

// TestNodesHeartbeats: two nodes serve on one PostgreSQL. Each beats and
// checks itself; when b stops, a records "node b stopped" once, raises
// the cluster's alert (the policy asks for 2), and staff see both in
// GET /api/v1/nodes, the console and "slokeeper nodes". b's return is
// evidence too.
func TestNodesHeartbeats(t *testing.T) {
	base := withPostgres(t)
	base.HeartbeatInterval = duration(5 * time.Second)
	clock := newTestClock(time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC))
	a, b := base, base
	a.Data, a.Node = t.TempDir(), "node-a"
	b.Data, b.Node = t.TempDir(), "node-b"
	start := func(cfg Config) *Main {
		t.Helper()
		m := NewMain(cfg, io.Discard)
		m.Clock = clock
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return m
	}
	stop := func(m *Main) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Close(ctx)
	}
	ma := start(a)
	defer stop(ma)
	copyFile(t, filepath.Join(a.Data, "master.key"), filepath.Join(b.Data, "master.key"))
	mb := start(b)
	evidence := func(action string) []*slokeeper.Evidence {
		es, _, err := ma.Store.Evidence.FindEvidence(context.Background(), slokeeper.EvidenceFilter{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	waitFor(t, "both nodes' self-checks", func() bool {
		by := map[string]bool{}
		for _, e := range evidence("self_check") {
			by[e.Node] = true
		}
		return by["node-a"] && by["node-b"]
	})
	stop(mb)
	clock.Add(time.Minute)
	waitFor(t, "node b found stopped", func() bool { return len(evidence("node_stopped")) > 0 })
	waitFor(t, "the cluster's alert", func() bool { return len(evidence("nodes_below_policy")) > 0 })
	if es := evidence("node_stopped"); len(es) != 1 || es[0].Subject != "node:node-b" || es[0].Node != "node-a" {
		t.Fatalf("node_stopped evidence = %+v", es)
	}
	staff := signIn(t, ma, "sre", "operator")
	r := get(t, staff, ma.HTTP.URL()+"/api/v1/nodes")
	if r.status != 200 || !strings.Contains(r.body, `"name": "node-b"`) || !strings.Contains(r.body, `"serving": 1,`) || !strings.Contains(r.body, `1 of 2 nodes serving (node-a)`) {
		t.Errorf("GET /api/v1/nodes = %d %s", r.status, r.body)
	}
	if r := get(t, http.DefaultClient, ma.HTTP.URL()+"/api/v1/nodes"); r.status != 401 {
		t.Errorf("GET /api/v1/nodes without signing in = %d, want 401", r.status)
	}
	con := get(t, staff, ma.HTTP.URL()+"/admin/status?lang=ja")
	if !strings.Contains(con.body, "稼働中のノードは1台です。ポリシーでは2台での稼働が必要です(稼働中: node-a)。") || !strings.Contains(con.body, "停止したノード: node-b") {
		t.Errorf("console lacks the cluster's alert:\n%s", con.body)
	}
	out, stderr, code := cliRun(t, "nodes", "--db", base.DB, "--data", a.Data)
	if code != 0 || !regexp.MustCompile(`node-b\s+stopped`).MatchString(out) || !strings.Contains(out, "ALERT since") {
		t.Errorf("slokeeper nodes: exit %d\n%s%s", code, out, stderr)
	}
	mb = start(b)
	defer stop(mb)
	waitFor(t, "node b back", func() bool { return len(evidence("node_back")) == 1 })
	waitFor(t, "the alert cleared", func() bool { return len(evidence("nodes_restored")) == 1 })
}
