package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlite"
)

// sealedDay runs a server on cfg's data directory at the test clock's
// time, writes n records of a log class ("reading 0", "reading 1", …),
// moves the clock on a day so that the day is sealed, and stops it.
func sealedDay(t *testing.T, cfg Config, clock *testClock, class string, n int) {
	t.Helper()
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := make([]slokeeper.LogRecord, n)
	for i := range recs {
		recs[i] = slokeeper.LogRecord{SourceKind: "device", SourceID: "dev-1", Account: "a", Level: "info", Message: fmt.Sprintf("reading %d", i)}
	}
	m.Logs.AppendLogs(context.Background(), class, recs, "")
	clock.Add(24 * time.Hour)
	if sealed, err := m.Logs.SealDue(context.Background()); err != nil || len(sealed) == 0 {
		t.Fatalf("SealDue = %v %v", sealed, err)
	}
	m.Close(context.Background())
}

func TestBackupCommands(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	sealedDay(t, cfg, newTestClock(time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)), "exec", 500) // 10:00 JST

	run := func(args ...string) (string, string, int) { return cliRun(t, append(args, "--data", cfg.Data)...) }
	out, stderr, code := run("backup", "run", "--class", "exec", "--day", "2026-12-03")
	match := regexp.MustCompile(`backed up and verified exec/2026-12-03 as (bk_\S+): 500 records`).FindStringSubmatch(out)
	if code != 0 || match == nil {
		t.Fatalf("backup run: exit %d\n%s%s", code, out, stderr)
	}
	id := match[1]
	// The manifest beside the object says what it covers and its expiry clocks:
	// a year from the month's set (January 3, the close plus two days).
	mans, _ := filepath.Glob(filepath.Join(cfg.Data, "backups", "manifests", "logs", "exec", "2026-12-03", id+".json"))
	if len(mans) != 1 {
		t.Fatalf("no manifest for %s on the target", id)
	}
	if body, _ := os.ReadFile(mans[0]); !strings.Contains(string(body), `"records": 500`) ||
		!strings.Contains(string(body), `"keep_until": "2028-01-03T00:00:00+09:00"`) || !strings.Contains(string(body), `"erase_by": "2028-01-03T00:00:00+09:00"`) {
		t.Errorf("manifest:\n%s", body)
	}
	if out, _, _ := run("backup", "list"); !regexp.MustCompile(id + `\s+exec\s+-\s+2026-12-03\s+\S+\s+\S+`).MatchString(out) {
		t.Errorf("backup list (verified):\n%s", out)
	}
	if out, stderr, code := run("backup", "verify", id); code != 0 || !strings.Contains(out, "verified") {
		t.Errorf("backup verify: exit %d %s%s", code, out, stderr)
	}
	// December's set: one day of data, backed up and verified; the month is
	// not over, so the set is still being made.
	if out, _, _ := run("backup", "sets", "--lang", "en"); !regexp.MustCompile(`exec/2026-12\s+1\s+1\s+open\s+2027-01-03 00:00\s+2028-01-03 00:00\s+2028-01-03 00:00`).MatchString(out) {
		t.Errorf("backup sets:\n%s", out)
	}
	if out, _, _ := run("backup", "sets"); !regexp.MustCompile(`exec/2026-12\s+1\s+1\s+作成中`).MatchString(out) {
		t.Errorf("backup sets (ja):\n%s", out)
	}
	// Lose the catalog row; the target still has the manifest.
	db, _ := sqlite.Open(context.Background(), filepath.Join(cfg.Data, "slokeeper.db"))
	db.Writer().Exec(`DELETE FROM backups`)
	db.Close()
	if out, _, code := run("backup", "catalog", "rebuild"); code != 0 || !strings.Contains(out, "1 backups added to the catalog") {
		t.Errorf("catalog rebuild: %s", out)
	}
	into := t.TempDir()
	if out, stderr, code := run("backup", "restore", id, "--into", into); code != 0 || !strings.Contains(out, "500 records") || !strings.Contains(stderr, "restoring "+id+": 100%") {
		t.Fatalf("backup restore: exit %d %s%s", code, out, stderr)
	}
	out, _, _ = cliRun(t, "logs", "query", "--data", into, "--format", "text", "--limit", "0")
	if strings.Count(out, "\n") != 500 || !strings.Contains(out, "reading 499") {
		t.Errorf("restored logs: %d lines", strings.Count(out, "\n"))
	}
	if out, _, _ := run("evidence", "list", "--clause", "data.exec_logs"); !strings.Contains(out, "backup") || !strings.Contains(out, "verify") {
		t.Errorf("evidence:\n%s", out)
	}
	if out, _, _ := run("audit", "show", "--limit", "0"); !strings.Contains(out, "backup.run") || !strings.Contains(out, "backup.restore") {
		t.Errorf("audit ledger lacks backup entries")
	}
}

// TestAccountBackupCommands: an operator snapshots an account, the
// customer's data changes, and the snapshot brings it back.
func TestAccountBackupCommands(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	tokens := map[string]string{} // each operator's own API token
	for _, o := range []struct{ name, role string }{{"ops", "operator"}, {"bob", "admin"}, {"sam", "support"}} {
		tokens[o.name] = mustOperatorToken(t, []string{"--data", cfg.Data}, o.name, o.role, "write")
	}
	run := func(args ...string) (string, string, int) { return cliRun(t, append(args, "--data", cfg.Data)...) }
	runAs := func(name string, args ...string) (string, string, int) {
		return cliRunToken(t, tokens[name], append(args, "--data", cfg.Data)...)
	}
	runAs("ops", "account", "create", "--id", "acct-7", "--name", "Farm D")
	runAs("ops", "account", "put", "acct-7", "--kind", "data", "--key", "threshold", "--value", "42")
	runAs("ops", "account", "put", "acct-7", "--kind", "document", "--key", "flow-1", "--value", `{"nodes":[]}`)

	out, stderr, code := run("backup", "run", "--account", "acct-7")
	match := regexp.MustCompile(`took and verified a snapshot of account acct-7 as (bk_\S+): 2 items`).FindStringSubmatch(out)
	if code != 0 || match == nil {
		t.Fatalf("backup run --account: exit %d\n%s%s", code, out, stderr)
	}
	id := match[1]
	if out, _, _ := run("backup", "list", "--account", "acct-7"); !regexp.MustCompile(id + `\s+user\s+acct-7\s+\d{4}-\d\d-\d\d\s+\S+\s+\S+`).MatchString(out) {
		t.Errorf("backup list --account:\n%s", out)
	}
	if out, stderr, code := run("backup", "verify", id); code != 0 || !strings.Contains(out, "account acct-7") || !strings.Contains(out, "2 items") {
		t.Errorf("backup verify: exit %d %s%s", code, out, stderr)
	}

	runAs("ops", "account", "put", "acct-7", "--kind", "data", "--key", "threshold", "--value", "99")
	runAs("ops", "account", "put", "acct-7", "--kind", "data", "--key", "later", "--value", "x")
	if _, stderr, code := run("backup", "restore", id); code != 1 || !strings.HasPrefix(stderr, "slokeeper: Restoring backup") || !strings.Contains(stderr, "Pass --replace") {
		t.Errorf("restore without --replace: exit %d %s", code, stderr)
	}
	if _, stderr, code := run("backup", "restore", id, "--into", t.TempDir()); code != 1 || !strings.Contains(stderr, "into the account itself") {
		t.Errorf("restore of an account into a directory: exit %d %s", code, stderr)
	}
	out, stderr, code = run("backup", "restore", id, "--replace")
	if code != 0 || !strings.Contains(out, "restored account acct-7") || !strings.Contains(stderr, "restoring "+id+": 100%") {
		t.Fatalf("backup restore --replace: exit %d %s%s", code, out, stderr)
	}
	gid := grantID(t, func() string {
		out, _, _ := runAs("sam", "grant", "request", "--account", "acct-7", "--scope", "data", "--reason", "restore check", "--duration", "1h")
		return out
	}())
	runAs("bob", "grant", "approve", gid)
	if out, stderr, code := runAs("sam", "account", "get", "acct-7", "--kind", "data", "--key", "threshold"); code != 0 || out != "42" {
		t.Errorf("after the restore, threshold = %q (exit %d %s), want 42", out, code, stderr)
	}
	if _, stderr, code := runAs("sam", "account", "get", "acct-7", "--kind", "data", "--key", "later"); code != 1 || !strings.Contains(stderr, `has no data "later"`) {
		t.Errorf("an item written after the snapshot survived the restore: exit %d %s", code, stderr)
	}
	if out, _, _ := run("evidence", "list", "--clause", "data.user_data"); !strings.Contains(out, "restore") || !strings.Contains(out, "account:acct-7") {
		t.Errorf("evidence:\n%s", out)
	}
	if out, _, _ := run("audit", "show", "--limit", "0"); !strings.Contains(out, "account:acct-7") || !strings.Contains(out, "backup.restore") {
		t.Errorf("audit ledger lacks the restore")
	}
}

// TestRestoreAllCommand: the data directory is lost but its backups and
// keys are not; everything comes back into a new one.
func TestRestoreAllCommand(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	sealedDay(t, cfg, newTestClock(time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)), "exec", 300)

	tokens := map[string]string{} // each operator's own API token, per data directory
	for _, o := range []struct{ name, role string }{{"ops", "operator"}, {"bob", "admin"}, {"sam", "support"}} {
		tokens[o.name+cfg.Data] = mustOperatorToken(t, []string{"--data", cfg.Data}, o.name, o.role, "write")
	}
	run := func(data string, args ...string) (string, string, int) {
		return cliRun(t, append(args, "--data", data)...)
	}
	runAs := func(name, data string, args ...string) (string, string, int) {
		return cliRunToken(t, tokens[name+data], append(args, "--data", data)...)
	}
	runAs("ops", cfg.Data, "account", "create", "--id", "farm", "--name", "農場 E")
	runAs("ops", cfg.Data, "account", "put", "farm", "--kind", "credential", "--key", "mqtt", "--value", "s3cret-過去")
	run(cfg.Data, "backup", "run", "--class", "exec", "--day", "2026-11-20")
	run(cfg.Data, "backup", "run", "--account", "farm")

	into := filepath.Join(t.TempDir(), "new")
	if _, stderr, code := run(cfg.Data, "backup", "restore", "--all"); code != 2 || !strings.Contains(stderr, "--into DIR") {
		t.Errorf("--all without --into: exit %d %s", code, stderr)
	}
	out, stderr, code := run(cfg.Data, "backup", "restore", "--all", "--into", into)
	if code != 0 || !strings.Contains(out, "restored 1 log days (300 records) and 1 accounts (1 items)") || !strings.Contains(out, "copy keys.db and master.key") {
		t.Fatalf("restore --all: exit %d\n%s%s", code, out, stderr)
	}
	if _, stderr, code := run(cfg.Data, "backup", "restore", "--all", "--into", into); code != 1 || !strings.Contains(stderr, "not empty") {
		t.Errorf("a second restore into the same directory: exit %d %s", code, stderr)
	}
	out, _, _ = cliRun(t, "logs", "query", "--data", into, "--format", "text", "--limit", "0")
	if strings.Count(out, "\n") != 300 {
		t.Errorf("restored logs: %d lines", strings.Count(out, "\n"))
	}
	// With the keys beside it, the new directory reads the account's data.
	for _, f := range []string{"keys.db", "master.key"} {
		b, err := os.ReadFile(filepath.Join(cfg.Data, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(into, f), b, 0o600)
	}
	for _, o := range []struct{ name, role string }{{"bob", "admin"}, {"sam", "support"}} {
		tokens[o.name+into] = mustOperatorToken(t, []string{"--data", into}, o.name, o.role, "write")
	}
	gout, _, _ := runAs("sam", into, "grant", "request", "--account", "farm", "--scope", "credential", "--reason", "disaster recovery check", "--duration", "1h")
	runAs("bob", into, "grant", "approve", grantID(t, gout))
	if out, stderr, code := runAs("sam", into, "account", "get", "farm", "--kind", "credential", "--key", "mqtt"); code != 0 || out != "s3cret-過去" {
		t.Errorf("the restored account's credential = %q (exit %d %s)", out, code, stderr)
	}
}

func TestLifecycleCommands(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	// Far enough ahead that the real clock, which the commands use, never
	// makes an erasure due.
	sealedDay(t, cfg, newTestClock(time.Date(2036, 12, 3, 1, 0, 0, 0, time.UTC)), "exec", 1)
	run := func(args ...string) (string, string, int) { return cliRun(t, append(args, "--data", cfg.Data)...) }

	out, stderr, code := run("lifecycle", "plan")
	if code != 0 || !regexp.MustCompile(`バックアップ\s+exec/2036-12-03\s+data.exec_logs\s+2037-01-03 00:00\s+予定\s+封印済み`).MatchString(out) {
		t.Fatalf("plan: exit %d\n%s%s", code, out, stderr)
	}
	if out, _, _ := run("lifecycle", "run", "--lang", "en"); !regexp.MustCompile(`back up\s+exec/2036-12-03\s+data.exec_logs\s+2037-01-03 00:00\s+ok`).MatchString(out) {
		t.Fatalf("run:\n%s", out)
	}
	if out, _, _ := run("lifecycle", "plan"); !strings.Contains(out, "実行すべき処理はありません") {
		t.Errorf("plan after the pass:\n%s", out)
	}
	out, _, _ = run("lifecycle", "plan", "--at", "2037-01-04T00:00:00+09:00", "--lang", "en")
	if !regexp.MustCompile(`erase original\s+exec/2036-12-03\s+data.exec_logs\s+2037-01-05 00:00\s+due\s+1 month`).MatchString(out) {
		t.Errorf("plan a month on:\n%s", out)
	}
	if _, stderr, code := run("lifecycle", "plan", "--at", "soon"); code != 2 || !strings.Contains(stderr, "neither RFC 3339") {
		t.Errorf("bad --at: exit %d %s", code, stderr)
	}
	if out, _, _ := run("audit", "show", "--limit", "0"); !strings.Contains(out, "lifecycle.run") {
		t.Errorf("audit ledger lacks the pass")
	}
}

// TestServerRunsLifecycle: a server starting on a sealed, unbacked day
// backs it up by itself (the lifecycle job runs on start).
func TestServerRunsLifecycle(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	clock := newTestClock(time.Date(2036, 12, 3, 1, 0, 0, 0, time.UTC))
	sealedDay(t, cfg, clock, "system", 1)

	cfg.LifecycleInterval = duration(5 * time.Minute)
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	waitFor(t, "the lifecycle job's backup", func() bool {
		recs, err := m.Store.Backups.FindBackups(context.Background(), slokeeper.BackupFilter{Class: "system", Day: "2036-12-03"})
		return err == nil && len(recs) == 1 && !recs[0].VerifiedAt.IsZero()
	})
}

func TestSimulateCommand(t *testing.T) {
	out, stderr, code := cliRun(t, "simulate", "--years", "1", "--lang", "en", "--records", "10", "--accounts", "2", "--fail", "backup@2027-03")
	if code != 0 || !regexp.MustCompile(`(?m)^\s+2027-03(\s+\d+){10}\s*$`).MatchString(out) || !strings.Contains(out, "Every data clause held") {
		t.Fatalf("simulate: exit %d\n%s%s", code, out, stderr)
	}
	if _, stderr, code := cliRun(t, "simulate", "--fail", "disk@2027-03"); code != 2 || !strings.Contains(stderr, "backup@YYYY-MM") {
		t.Errorf("bad --fail: exit %d %s", code, stderr)
	}
}
