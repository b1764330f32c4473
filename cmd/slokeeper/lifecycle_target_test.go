package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
)

func TestServeTargetUnreachableSQLite(t *testing.T) {
	testServeTargetUnreachable(t, testConfig())
}

func TestServeTargetUnreachablePostgres(t *testing.T) {
	testServeTargetUnreachable(t, withPostgres(t))
}

// testServeTargetUnreachable: with its S3 target down at start, the server
// starts, ingests and serves the status page; its lifecycle pass records
// the failed backup with the target's own error and goes on.
func testServeTargetUnreachable(t *testing.T, cfg Config) {
	cfg.Data = t.TempDir()
	cfg.BackupTarget = "s3://key:secret-in-url@" + closedPort(t) + "/backups?tls=false"
	args := []string{"--data", cfg.Data}
	if cfg.DB != "" {
		args = append(args, "--db", cfg.DB)
	}
	mustAccount(t, cfg.Data, cfg.DB, "acct-1")
	out, stderr, code := cliRun(t, append([]string{"source", "add", "--kind", "agent", "--account", "acct-1", "--name", "gw"}, args...)...)
	m := regexp.MustCompile(`token:  (slk_\S+)\n`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("source add: exit %d\n%s\n%s", code, out, stderr)
	}
	clock := newTestClock(time.Date(2036, 12, 3, 1, 0, 0, 0, time.UTC))
	sealedDay(t, cfg, clock, "exec", 3) // a day to back up: it starts with the target down too

	cfg.LifecycleInterval = duration(5 * time.Minute)
	srv := NewMain(cfg, io.Discard)
	srv.Clock = clock
	if err := srv.Run(context.Background()); err != nil {
		t.Fatalf("serve with the backup target down: %v", err)
	}
	defer srv.Close(context.Background())
	base := srv.HTTP.URL()
	if r := post(t, base+"/api/v1/logs", m[1], "application/x-ndjson", []byte(`{"message":"target down, logs still in"}`+"\n")); r.status != 200 || !strings.Contains(r.body, `"accepted": 1`) {
		t.Errorf("ingest with the target down = %d %s", r.status, r.body)
	}
	if r := get(t, http.DefaultClient, base+"/"); r.status != 200 {
		t.Errorf("status page with the target down = %d", r.status)
	}
	// The pass on start fails the backup, with the target's error.
	var ev []*slokeeper.Evidence
	for deadline := time.Now().Add(2 * time.Minute); len(ev) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no evidence of the failed backup")
		}
		time.Sleep(50 * time.Millisecond) // waiting for the job queue's pass, not for time to pass
		ev, _, _ = srv.Store.Evidence.FindEvidence(context.Background(), slokeeper.EvidenceFilter{Action: "backup", Outcome: slokeeper.OutcomeFailed})
	}
	if d := ev[0].Detail; !strings.Contains(d, "connection refused") || strings.Contains(d, "secret-in-url") {
		t.Errorf("the failed backup's evidence: %q", d)
	}
	// lifecycle run beside it, once the failed backup's retry is due
	// (backoff: 5 minutes, doubling), has the server run the pass, and says
	// why it failed as the target said it, never "Internal error.".
	clock.Add(time.Hour)
	_, stderr, code = cliRun(t, append([]string{"lifecycle", "run", "--lang", "en", "--wait", "2m", "--backup-target", cfg.BackupTarget}, args...)...)
	if code != 1 || !strings.Contains(stderr, "connection refused") || strings.Contains(stderr, "Internal error") || strings.Contains(stderr, "secret-in-url") {
		t.Errorf("lifecycle run beside the server, target down: exit %d\n%s", code, stderr)
	}
}

// TestCronLifecycleSealsAndBacksUp: a deployment with no lifecycle job
// (lifecycle_interval: 0) and no server running, "lifecycle run" from
// cron: the pass seals the closed day itself, then backs it up.
func TestCronLifecycleSealsAndBacksUp(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	// Records of the day before yesterday, by the real clock the command
	// uses; the server that took them stopped before the day was sealed.
	clock := newTestClock(time.Now().Add(-48 * time.Hour))
	srv := NewMain(cfg, io.Discard)
	srv.Clock = clock
	if err := srv.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	day := clock.Now().In(srv.Policy.Location()).Format(time.DateOnly)
	if _, err := srv.Logs.AppendLogs(context.Background(), "exec", []slokeeper.LogRecord{{SourceKind: "device", SourceID: "dev-1", Message: "cron"}}, ""); err != nil {
		t.Fatal(err)
	}
	srv.Close(context.Background())

	out, stderr, code := cliRun(t, "lifecycle", "run", "--lang", "en", "--data", cfg.Data)
	if code != 0 || !regexp.MustCompile(`seal\s+exec/`+day+`\s+data.exec_logs\s+\S*\s*ok`).MatchString(out) ||
		!regexp.MustCompile(`back up\s+exec/`+day+`\s+data.exec_logs\s+.*ok`).MatchString(out) {
		t.Fatalf("lifecycle run from cron: exit %d\n%s%s", code, out, stderr)
	}
	if out, _, _ := cliRun(t, "backup", "list", "--data", cfg.Data); !strings.Contains(out, "exec") || !strings.Contains(out, day) {
		t.Errorf("backup list after the cron pass:\n%s", out)
	}
}
