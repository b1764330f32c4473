package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMaintenance: a planned window with too little notice is refused,
// saying the earliest start; with enough, and an emergency with a reason,
// it is scheduled; from the command line and the API alike.
func TestMaintenance(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	run := func(args ...string) (string, string, int) { return cliRun(t, append(args, "--data", cfg.Data)...) }
	at := func(d time.Duration) string { return time.Now().Add(d).Truncate(time.Minute).Format(time.RFC3339) }
	day := 24 * time.Hour
	schedule := func(start time.Duration, extra ...string) (string, string, int) {
		return run(append([]string{"maintenance", "schedule", "--start", at(start), "--end", at(start + 2*time.Hour),
			"--title-ja", "データベースの更新", "--title-en", "Database upgrade"}, extra...)...)
	}
	if _, stderr, code := schedule(6 * day); code != 1 || !strings.Contains(stderr, "at least 7 days before it starts") ||
		!strings.Contains(stderr, "最も早い開始は") || !regexp.MustCompile(`\d{4}年\d+月\d+日\(.\) \d\d:\d\d JST`).MatchString(stderr) {
		t.Errorf("six days ahead: exit %d %s", code, stderr)
	}
	out, stderr, code := schedule(8 * day)
	m := regexp.MustCompile(`scheduled (mt_\S+): `).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("eight days ahead: exit %d %s%s", code, out, stderr)
	}
	if _, stderr, code := schedule(10*time.Minute, "--emergency"); code != 1 || !strings.Contains(stderr, "needs a reason") {
		t.Errorf("an emergency without a reason: exit %d %s", code, stderr)
	}
	if out, stderr, code := schedule(10*time.Minute, "--emergency", "--reason", "脆弱性の緊急修正"); code != 0 || !strings.HasPrefix(out, "scheduled mt_") {
		t.Errorf("an emergency: exit %d %s%s", code, out, stderr)
	}
	if _, stderr, code := schedule(8*day, "--components", "ghost"); code != 1 || !strings.Contains(stderr, `No component "ghost"`) {
		t.Errorf("an unknown component: exit %d %s", code, stderr)
	}
	if _, stderr, code := run("maintenance", "reschedule", m[1], "--start", at(5*day), "--end", at(5*day+time.Hour)); code != 1 || !strings.Contains(stderr, "at least 7 days") {
		t.Errorf("rescheduled too soon: exit %d %s", code, stderr)
	}
	if out, _, code := run("maintenance", "reschedule", m[1], "--start", at(9*day), "--end", at(9*day+time.Hour)); code != 0 || !strings.Contains(out, "rescheduled") {
		t.Errorf("rescheduled later: exit %d %s", code, out)
	}
	out, _, _ = run("maintenance", "list")
	if !regexp.MustCompile(m[1]+`\s+scheduled\s+\d{4}年`).MatchString(out) || !strings.Contains(out, "[emergency: 脆弱性の緊急修正]") {
		t.Errorf("list:\n%s", out)
	}
	if out, _, code := run("maintenance", "cancel", m[1]); code != 0 || !strings.Contains(out, "cancelled") {
		t.Errorf("cancel: exit %d %s", code, out)
	}
	if _, stderr, code := run("maintenance", "cancel", m[1]); code != 1 || !strings.Contains(stderr, "already cancelled") {
		t.Errorf("cancel twice: exit %d %s", code, stderr)
	}
	if out, _, _ := run("audit", "show", "--limit", "0"); !strings.Contains(out, "maintenance.schedule") || !strings.Contains(out, "maintenance.cancel") {
		t.Error("the ledger lacks the maintenance changes")
	}

	// The API.
	srv := MustRunMain(t, cfg)
	ops, sam := signIn(t, srv, "ops", "operator"), signIn(t, srv, "sam", "support")
	body := func(start time.Duration) string {
		return `{"title_ja":"ネットワーク機器の交換","title_en":"Network equipment replacement","start":"` + at(start) + `","end":"` + at(start+time.Hour) + `"}`
	}
	if r := postJSON(t, sam, srv.HTTP.URL()+"/api/v1/maintenances", body(8*day)); r.status != 403 {
		t.Errorf("support scheduling = %d", r.status)
	}
	if r := postJSON(t, ops, srv.HTTP.URL()+"/api/v1/maintenances", body(6*day)); r.status != 400 || !strings.Contains(r.body, "earliest start") {
		t.Errorf("six days ahead = %d %s", r.status, r.body)
	}
	if r := postJSON(t, ops, srv.HTTP.URL()+"/api/v1/maintenances", body(8*day)); r.status != 201 || !strings.Contains(r.body, `"state": "scheduled"`) {
		t.Errorf("eight days ahead = %d %s", r.status, r.body)
	}
	if r := get(t, http.DefaultClient, srv.HTTP.URL()+"/api/v1/maintenances"); r.status != 200 || !strings.Contains(r.body, "ネットワーク機器の交換") || strings.Contains(r.body, `"state": "cancelled"`) {
		t.Errorf("public list = %d %s", r.status, r.body)
	}
	srv.Close(context.Background())
}
