package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/logstore"
	"slokeeper/internal/sqlite"
)

// localLogs leaves n exec records in DATA/logs, as a node that kept its
// logs on its own disk did.
func localLogs(t *testing.T, data, source string, n int) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "old.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := logstore.Open(ctx, logstore.Config{Dir: filepath.Join(data, "logs"), Catalog: sqlite.NewLogCatalog(db), Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]slokeeper.LogRecord, n)
	for i := range recs {
		recs[i] = slokeeper.LogRecord{SourceKind: slokeeper.SourceDevice, SourceID: source, Level: "info", Message: "old line"}
	}
	if _, err := s.AppendLogs(ctx, slokeeper.LogClassExec, recs, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLogsSharedOnPostgres: a node starting on PostgreSQL moves its local
// partitions into the shared log store, and a CLI on another node's data
// directory reads them.
func TestLogsSharedOnPostgres(t *testing.T) {
	cfg := withPostgres(t)
	cfg.Data = t.TempDir()
	localLogs(t, cfg.Data, "dev-old", 7)
	m := MustRunMain(t, cfg)
	if _, err := os.Stat(filepath.Join(cfg.Data, "logs")); !os.IsNotExist(err) {
		t.Errorf("DATA/logs is still there after the start: %v", err)
	}
	moved, _ := filepath.Glob(filepath.Join(cfg.Data, "logs.migrated-*"))
	if len(moved) != 1 {
		t.Errorf("local copy kept aside: %v, want one logs.migrated-* directory", moved)
	}
	if _, err := m.Logs.AppendLogs(context.Background(), slokeeper.LogClassExec, []slokeeper.LogRecord{{SourceID: "dev-new", Message: "new line"}}, ""); err != nil {
		t.Fatal(err)
	}

	other := t.TempDir() // another node: nothing of its own on disk
	out, stderr, code := cliRun(t, "logs", "query", "--data", other, "--db", cfg.DB, "--source", "dev-old", "--format", "text")
	if code != 0 || strings.Count(out, "old line") != 7 {
		t.Errorf("logs query on another node: exit %d, %d old lines\n%s%s", code, strings.Count(out, "old line"), out, stderr)
	}
	out, stderr, code = cliRun(t, "logs", "partitions", "--data", other, "--db", cfg.DB)
	if code != 0 || !strings.Contains(out, "exec") {
		t.Errorf("logs partitions: exit %d\n%s%s", code, out, stderr)
	}
	var records int64
	ps, _ := m.Logs.LogPartitions(context.Background())
	for _, p := range ps {
		if p.Class == slokeeper.LogClassExec {
			records += p.Records
		}
	}
	if records != 8 {
		t.Errorf("exec partitions hold %d records, want 7 migrated + 1 new", records)
	}

	// logs migrate by hand: another node's directory, then nothing left.
	localLogs(t, other, "dev-other", 5)
	if out, stderr, code := cliRun(t, "logs", "migrate", "--data", other, "--db", cfg.DB); code != 0 || !strings.Contains(out, "5 records") {
		t.Errorf("logs migrate: exit %d\n%s%s", code, out, stderr)
	}
	if out, _, code := cliRun(t, "logs", "migrate", "--data", other, "--db", cfg.DB); code != 0 || !strings.Contains(out, "nothing to migrate") {
		t.Errorf("logs migrate again: exit %d\n%s", code, out)
	}
	if out, _, _ := cliRun(t, "logs", "query", "--data", cfg.Data, "--db", cfg.DB, "--source", "dev-other"); strings.Count(out, "\n") != 5 {
		t.Errorf("after migrating the other node, query shows:\n%s", out)
	}
}

func TestLogsMigrateNeedsPostgres(t *testing.T) {
	_, stderr, code := cliRun(t, "logs", "migrate", "--data", t.TempDir())
	if code == 0 || !strings.Contains(stderr, "postgres://") {
		t.Errorf("logs migrate on SQLite: exit %d, %s", code, stderr)
	}
}

// TestTwoNodesShareLogs: two servers on one PostgreSQL; a line ingested
// over HTTP on one is in the other's query and partition counts.
func TestTwoNodesShareLogs(t *testing.T) {
	cfg := withPostgres(t)
	cfgA, cfgB := cfg, cfg
	cfgA.Node, cfgB.Node = "node-a", "node-b"
	cfgA.Data, cfgB.Data = t.TempDir(), t.TempDir()
	cfgB.MasterKey = filepath.Join(cfgA.Data, "master.key") // the cluster's one key, created by node a
	mustAccount(t, cfgA.Data, cfg.DB, "acct-1")
	out, _, _ := cliRun(t, "source", "add", "--data", cfgA.Data, "--db", cfg.DB, "--kind", "agent", "--account", "acct-1", "--name", "gw")
	m := regexp.MustCompile(`source: (src_\w+)\ntoken:  (slk_\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("source add:\n%s", out)
	}
	sourceID, token := m[1], m[2]
	a, b := MustRunMain(t, cfgA), MustRunMain(t, cfgB)
	if r := post(t, a.HTTP.URL()+"/api/v1/logs", token, "application/x-ndjson", []byte("{\"message\":\"on a\"}\n{\"message\":\"also on a\"}\n")); r.status != 200 {
		t.Fatalf("ingest on node a = %d %s", r.status, r.body)
	}
	if r := post(t, b.HTTP.URL()+"/api/v1/logs", token, "application/x-ndjson", []byte(`{"message":"on b"}`)); r.status != 200 {
		t.Fatalf("ingest on node b = %d %s", r.status, r.body)
	}
	for name, n := range map[string]*Main{"a": a, "b": b} {
		r := get(t, signIn(t, n, "sre-"+name, "operator"), n.HTTP.URL()+"/api/v1/logs?source="+sourceID)
		if r.status != 200 || strings.Count(r.body, "\n") != 3 || !strings.Contains(r.body, "on a") || !strings.Contains(r.body, "on b") {
			t.Errorf("query on node %s = %d\n%s\nwant both nodes' 3 lines", name, r.status, r.body)
		}
		var exec int64
		ps, err := n.Logs.LogPartitions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Class == slokeeper.LogClassExec {
				exec += p.Records
			}
		}
		if exec != 3 {
			t.Errorf("node %s counts %d exec records, want the cluster's 3", name, exec)
		}
	}

	// A client that sends a batch again with its Idempotency-Key (its first
	// answer lost, say in a failover) has it stored once, whichever node
	// the retry reaches; another key is another batch.
	batch := []byte("{\"message\":\"retried 1\"}\n{\"message\":\"retried 2\"}\n")
	if r := post(t, a.HTTP.URL()+"/api/v1/logs", token, "application/x-ndjson", batch, "Idempotency-Key", "batch-7"); r.status != 200 || !strings.Contains(r.body, `"accepted": 2`) {
		t.Fatalf("keyed batch on node a = %d %s", r.status, r.body)
	}
	if r := post(t, b.HTTP.URL()+"/api/v1/logs", token, "application/x-ndjson", batch, "Idempotency-Key", "batch-7"); r.status != 200 || !strings.Contains(r.body, `"duplicate": true`) || !strings.Contains(r.body, `"accepted": 0`) {
		t.Errorf("the same batch and key on node b = %d %s, want a duplicate", r.status, r.body)
	}
	if r := post(t, b.HTTP.URL()+"/api/v1/logs", token, "application/x-ndjson", batch, "Idempotency-Key", strings.Repeat("k", 256)); r.status != 400 {
		t.Errorf("a 256-byte Idempotency-Key = %d %s, want 400", r.status, r.body)
	}
	r := get(t, signIn(t, a, "sre-a2", "operator"), a.HTTP.URL()+"/api/v1/logs?source="+sourceID+"&q=retried")
	if r.status != 200 || strings.Count(r.body, "\n") != 2 {
		t.Errorf("the keyed batch is stored %d times over:\n%s\nwant its 2 lines once", strings.Count(r.body, "\n"), r.body)
	}
}
