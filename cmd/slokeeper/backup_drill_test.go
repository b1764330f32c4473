package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBackupDrillThroughAPI: after login, backup drill restores a seeded
// sample into the server's scratch area and prints each backup with its
// outcome and duration; the ledger records who asked, the evidence the
// drill, and the scratch area is left empty.
func TestBackupDrillThroughAPI(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	sealedDay(t, cfg, newTestClock(time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)), "exec", 50)
	out, stderr, code := cliRun(t, "backup", "run", "--class", "exec", "--day", "2026-12-03", "--data", cfg.Data)
	match := regexp.MustCompile(`as (bk_\S+):`).FindStringSubmatch(out)
	if code != 0 || match == nil {
		t.Fatalf("backup run: exit %d\n%s%s", code, out, stderr)
	}
	id := match[1]

	m := MustRunMain(t, cfg)
	carol, carolTok := loginCLI(t, m, "carol")
	run := func(args ...string) (string, string, int) { return cliEnv(t, carol, "", args...) }
	out, stderr, code = run("backup", "drill", "--class", "exec", "--sample", "1", "--seed", "7", "--lang", "en")
	if code != 0 || !regexp.MustCompile(`exec\s+exec/2026-12-03 `+id+`\s+ok\s+50\s+\S+\s+7`).MatchString(out) {
		t.Errorf("backup drill through the API = %d\n%s%s", code, out, stderr)
	}
	if _, stderr, code := run("backup", "drill", "--class", "audio"); code != 1 || !strings.Contains(stderr, "audio") {
		t.Errorf("drill of class audio = %d %q, want a clear refusal", code, stderr)
	}
	drilled := false
	for _, e := range auditEntries(t, m) {
		drilled = drilled || e.Action == "backup.drill" && e.Actor == "operator:carol token:"+carolTok
	}
	if !drilled {
		t.Error("the ledger lacks carol's backup.drill")
	}
	if out, _, _ := cliRun(t, "evidence", "list", "--clause", "data.exec_logs", "--data", cfg.Data); !strings.Contains(out, "restore_drill") {
		t.Errorf("evidence lacks the restore drill:\n%s", out)
	}
}
