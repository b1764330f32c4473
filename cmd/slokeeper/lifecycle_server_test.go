package main

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
)

func TestLifecycleRunBesideServerSQLite(t *testing.T) {
	testLifecycleRunBesideServer(t, testConfig())
}

func TestLifecycleRunBesideServerPostgres(t *testing.T) {
	testLifecycleRunBesideServer(t, withPostgres(t))
}

// testLifecycleRunBesideServer: a server with lifecycle_interval 0 holds
// the log store; "lifecycle run" from cron beside it asks the server for a
// pass through the job queue, waits for it and prints what it did. The
// sealed, unbacked day is backed up and verified.
func testLifecycleRunBesideServer(t *testing.T, cfg Config) {
	cfg.Data = t.TempDir()
	clock := newTestClock(time.Date(2036, 12, 3, 1, 0, 0, 0, time.UTC))
	sealedDay(t, cfg, clock, "exec", 2)

	cfg.LifecycleInterval = 0 // no periodic pass: cron asks for them
	srv := NewMain(cfg, io.Discard)
	srv.Clock = clock
	if err := srv.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	args := []string{"--data", cfg.Data}
	if cfg.DB != "" {
		args = append(args, "--db", cfg.DB)
	}

	out, stderr, code := cliRun(t, append([]string{"lifecycle", "run", "--lang", "en", "--wait", "2m"}, args...)...)
	if code != 0 || !regexp.MustCompile(`back up\s+exec/2036-12-03\s+data.exec_logs\s+2037-01-03 00:00\s+ok`).MatchString(out) ||
		!strings.Contains(stderr, "running server") {
		t.Fatalf("lifecycle run beside a server: exit %d\n%s%s", code, out, stderr)
	}
	recs, err := srv.Store.Backups.FindBackups(context.Background(), slokeeper.BackupFilter{Class: "exec", Day: "2036-12-03"})
	if err != nil || len(recs) != 1 || recs[0].VerifiedAt.IsZero() {
		t.Fatalf("the backup after the server's pass: %+v %v", recs, err)
	}
	// The request is local administration in the ledger.
	if out, _, _ := cliRun(t, append([]string{"audit", "show", "--limit", "0"}, args...)...); !regexp.MustCompile(`local:\S+\s.*lifecycle\.run`).MatchString(out) {
		t.Errorf("audit ledger lacks the request:\n%s", out)
	}
	// A second request finds nothing left to do, and says so.
	if out, stderr, code := cliRun(t, append([]string{"lifecycle", "run", "--lang", "en", "--wait", "2m"}, args...)...); code != 0 || !strings.Contains(out, "Nothing is due") {
		t.Errorf("second lifecycle run: exit %d\n%s%s", code, out, stderr)
	}
}
