package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"slokeeper"

	"github.com/chromedp/chromedp"
)

// TestConsoleAuditorInBrowser: an auditor browses the audit ledger,
// filters it, verifies it and browses the evidence by clause in a real
// browser; none of these pages has a form that changes anything, and
// the console's changing POSTs are refused to the auditor.
func TestConsoleAuditorInBrowser(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ops := signIn(t, m, "ops", "operator")
	if r := postJSON(t, ops, m.HTTP.URL()+"/api/v1/accounts", `{"id":"acct-1","name":"工場A"}`); r.status != 201 {
		t.Fatalf("create account = %d %s", r.status, r.body)
	}
	if r := postJSON(t, ops, m.HTTP.URL()+"/api/v1/grants", `{"account":"acct-1","scope":"all","reason":"ticket #7","duration":"1h"}`); r.status != 201 {
		t.Fatalf("request grant = %d %s", r.status, r.body)
	}
	if err := m.Store.Evidence.RecordEvidence(context.Background(), &slokeeper.Evidence{At: m.Clock.Now(), Clause: "data.system_logs",
		Action: "backup", Subject: "system/2026-12-01", Outcome: slokeeper.OutcomeOK, Detail: "verified"}); err != nil {
		t.Fatal(err)
	}
	audrey := signIn(t, m, "audrey", "auditor")
	if r := get(t, audrey, m.HTTP.URL()+"/admin/audit?lang=ja"); r.status != 200 {
		t.Fatalf("the ledger page = %d\n%s", r.status, r.body)
	}
	do, text := consoleBrowser(t, m, "audrey")
	do(chromedp.Navigate(m.HTTP.URL()+"/admin/audit?lang=ja"), chromedp.WaitVisible(css(`#audit-entries`)))
	if b := text(`#audit-entries`); !strings.Contains(b, "grant.request") || !strings.Contains(b, "operator:ops") {
		t.Errorf("the ledger as the auditor sees it:\n%s", b)
	}
	do(chromedp.SendKeys(css(`#action`), "grant"), chromedp.Click(css(`form[action="/admin/audit"] button`)), chromedp.WaitVisible(css(`#action[value=grant]`)))
	if b := text(`#audit-entries tbody`); !strings.Contains(b, "grant.request") || strings.Contains(b, "account.create") {
		t.Errorf("filtered by action grant:\n%s", b)
	}
	do(chromedp.Click(css(`#verify`)), chromedp.WaitVisible(css(`#verify-result`)))
	if v := text(`#verify-result`); !strings.Contains(v, "改ざんされていません") {
		t.Errorf("verification: %q", v)
	}
	do(chromedp.Navigate(m.HTTP.URL()+"/admin/evidence?lang=en"), chromedp.WaitVisible(css(`#clause`)),
		chromedp.SetValue(css(`#clause`), "data.system_logs"), chromedp.Click(css(`form[action="/admin/evidence"] button`)),
		chromedp.WaitReady(css(`#clause option[selected][value="data.system_logs"]`)), chromedp.WaitVisible(css(`#evidence`)))
	if b := text(`#evidence`); !strings.Contains(b, "system/2026-12-01") || !strings.Contains(b, "backup") {
		t.Errorf("evidence for data.system_logs:\n%s", b)
	}
	for _, path := range []string{"/admin/audit?lang=ja", "/admin/evidence?lang=ja", "/admin/grants?lang=ja"} {
		r := get(t, audrey, m.HTTP.URL()+path)
		if r.status != 200 || strings.Contains(r.body, `method="post"`) {
			t.Errorf("GET %s as the auditor = %d, with a changing form:\n%s", path, r.status, r.body)
		}
	}
	for _, path := range []string{"/admin/grants", "/admin/incidents", "/admin/maintenances", "/admin/accounts/acct-1/delete"} {
		if r := postFormAs(t, audrey, m.HTTP.URL()+path+"?lang=en", nil); r.status != 403 {
			t.Errorf("POST %s as the auditor = %d\n%s", path, r.status, r.body)
		}
	}
	r := get(t, audrey, m.HTTP.URL()+"/admin/audit.ndjson?action=grant")
	if r.status != 200 || strings.Count(r.body, "\n") != 1 || !strings.Contains(r.body, `"chain_hash"`) {
		t.Errorf("export = %d\n%s", r.status, r.body)
	}
	if r := get(t, ops, m.HTTP.URL()+"/admin/audit?lang=en"); r.status != 403 {
		t.Errorf("an operator reading the ledger = %d", r.status)
	}
}
