package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLoginBackupsThroughAPI: after login, backup list, sets and verify and
// lifecycle plan and run go through the running server as the signed-in operator:
// the verify is in the ledger under the operator's name and token (no
// local actor), with evidence of the outcome.
func TestLoginBackupsThroughAPI(t *testing.T) {
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
	if out, stderr, code := run("backup", "list"); code != 0 || !regexp.MustCompile(id+`\s+exec\s+-\s+2026-12-03`).MatchString(out) {
		t.Errorf("backup list through the API = %d\n%s%s", code, out, stderr)
	}
	if out, stderr, code := run("backup", "sets", "--lang", "en"); code != 0 || !regexp.MustCompile(`exec/2026-12\s+1\s+1`).MatchString(out) {
		t.Errorf("backup sets through the API = %d\n%s%s", code, out, stderr)
	}
	if out, stderr, code := run("backup", "verify", id); code != 0 || !strings.Contains(out, id+" verified: exec/2026-12-03, 50 records") {
		t.Errorf("backup verify through the API = %d\n%s%s", code, out, stderr)
	}
	if _, stderr, code := run("backup", "verify", "bk_nosuch"); code != 1 || !strings.Contains(stderr, "bk_nosuch") {
		t.Errorf("verifying an unknown backup = %d %q", code, stderr)
	}
	if out, stderr, code := run("lifecycle", "plan", "--lang", "en"); code != 0 || !strings.Contains(out, "ACTION") && !strings.Contains(out, "Nothing is due") {
		t.Errorf("lifecycle plan through the API = %d\n%s%s", code, out, stderr)
	}
	if out, stderr, code := run("lifecycle", "run", "--lang", "en", "--wait", "2m"); code != 0 || !strings.Contains(stderr, "The server runs the pass") && !strings.Contains(stderr, "Joining") {
		t.Errorf("lifecycle run through the API = %d\n%s%s", code, out, stderr)
	}
	verified, ran := false, false
	for _, e := range auditEntries(t, m) {
		if e.Action == "lifecycle.run" {
			ran = e.Actor == "operator:carol token:"+carolTok
		}
		if e.Action == "backup.verify" {
			verified = true
			if e.Actor != "operator:carol token:"+carolTok || e.Target != "backup:"+id {
				t.Errorf("backup.verify by %q on %q, want carol's token on backup:%s", e.Actor, e.Target, id)
			}
		}
	}
	if !verified || !ran {
		t.Errorf("the ledger lacks carol's backup.verify (%v) or lifecycle.run (%v)", verified, ran)
	}
	if out, _, _ := cliRun(t, "evidence", "list", "--clause", "data.exec_logs", "--data", cfg.Data); strings.Count(out, "verify") < 2 {
		t.Errorf("evidence lacks the second verify:\n%s", out)
	}
}
