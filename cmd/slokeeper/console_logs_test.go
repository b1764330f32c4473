package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"
	"testing"

	"slokeeper"

	"github.com/chromedp/chromedp"
)

var nextPage = regexp.MustCompile(`<a href="([^"]+)" id="next-page"`)

// TestConsoleLogSearch: support searches the logs in the console by
// account and level, pages through 250 matches 100 at a time, downloads
// them all as NDJSON, and every query is in the audit ledger.
func TestConsoleLogSearch(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	var recs []slokeeper.LogRecord
	for i := range 300 {
		rec := slokeeper.LogRecord{Account: "acct-1", SourceKind: "device", SourceID: "dev-1", Level: "error", Message: fmt.Sprintf("timeout %03d", i)}
		if i%6 == 5 {
			rec.Account = "acct-2" // 50 of another account
		}
		recs = append(recs, rec)
	}
	recs = append(recs, slokeeper.LogRecord{Account: "acct-1", SourceKind: "device", SourceID: "dev-1", Level: "info", Message: "started"})
	if _, err := m.Logs.AppendLogs(context.Background(), slokeeper.LogClassExec, recs, ""); err != nil {
		t.Fatal(err)
	}
	sam := signIn(t, m, "sam", "support")
	base := m.HTTP.URL()

	url := base + "/admin/logs?lang=en&search=1&class=exec&account=acct-1&level=error"
	var rows, pages int
	seen := map[string]bool{}
	var firstNext string
	for url != "" {
		r := get(t, sam, url)
		if r.status != 200 {
			t.Fatalf("GET %s = %d\n%s", url, r.status, r.body)
		}
		pages++
		n := strings.Count(r.body, "timeout ")
		if strings.Contains(r.body, "acct-2") || strings.Contains(r.body, "started") {
			t.Errorf("page %d holds a record the filters exclude", pages)
		}
		if pages == 1 && (n != 100 || !strings.Contains(r.body, "timeout 000")) {
			t.Errorf("first page: %d records", n)
		}
		rows += n
		for _, msg := range regexp.MustCompile(`timeout [0-9a-z]+`).FindAllString(r.body, -1) {
			if seen[msg] {
				t.Errorf("page %d repeats %q", pages, msg)
			}
			seen[msg] = true
		}
		url = ""
		if m := nextPage.FindStringSubmatch(r.body); m != nil {
			url = base + html.UnescapeString(m[1])
			if !strings.Contains(url, "after=c1.") {
				t.Errorf("next page %s carries no cursor", url)
			}
		}
		if pages == 1 {
			// A record that arrives between pages sorts after the cursor
			// (same source, later): it comes once, nothing shifts.
			firstNext = url
			late := []slokeeper.LogRecord{{Account: "acct-1", SourceKind: "device", SourceID: "dev-1", Level: "error", Message: "timeout late"}}
			if _, err := m.Logs.AppendLogs(context.Background(), slokeeper.LogClassExec, late, ""); err != nil {
				t.Fatal(err)
			}
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if rows != 251 || pages != 3 || !seen["timeout late"] {
		t.Errorf("paged through %d records in %d pages, want 251 in 3 (the late one included)", rows, pages)
	}
	if r := get(t, sam, strings.Replace(firstNext, "level=error", "level=info", 1)); r.status != 400 || !strings.Contains(r.body, "other filters") {
		t.Errorf("a cursor from another search = %d\n%s", r.status, r.body)
	}
	if r := get(t, sam, base+"/admin/logs?lang=ja&search=1&class=exec&after=c1.bogus"); r.status != 400 || !strings.Contains(r.body, "カーソルが正しくありません") {
		t.Errorf("a bad cursor = %d\n%s", r.status, r.body)
	}
	r := get(t, sam, base+"/admin/logs.ndjson?class=exec&account=acct-1&level=error")
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" || strings.Count(r.body, "\n") != 251 {
		t.Errorf("download = %d %s, %d lines", r.status, r.header.Get("Content-Type"), strings.Count(r.body, "\n"))
	}
	var audited int
	m.Store.Audit.EachAuditEntry(context.Background(), 1, 0, func(e *slokeeper.AuditEntry) error {
		if e.Action == "logs.query" && e.Actor == "operator:sam" {
			audited++
		}
		return nil
	})
	if audited != 4 {
		t.Errorf("%d log queries in the ledger, want 4 (three pages and the download)", audited)
	}
	if r := get(t, sam, base+"/admin/logs?lang=ja&search=1&from=yesterday"); r.status != 400 || !strings.Contains(r.body, "検索条件を確認してください") {
		t.Errorf("a bad time = %d\n%s", r.status, r.body)
	}
	if r := get(t, signIn(t, m, "audrey", "auditor"), base+"/admin/logs?lang=ja&search=1"); r.status != 403 {
		t.Errorf("an auditor searching logs = %d", r.status)
	}
}

// TestConsoleSupportReadsLogsInBrowser: support searches an account's
// error logs in a real browser and reads them.
func TestConsoleSupportReadsLogsInBrowser(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	recs := []slokeeper.LogRecord{
		{Account: "acct-1", SourceKind: "device", SourceID: "dev-1", Level: "error", Message: "MQTT 接続がタイムアウトしました"},
		{Account: "acct-1", SourceKind: "device", SourceID: "dev-1", Level: "info", Message: "起動しました"},
		{Account: "acct-2", SourceKind: "device", SourceID: "dev-2", Level: "error", Message: "other account"},
	}
	if _, err := m.Logs.AppendLogs(context.Background(), slokeeper.LogClassExec, recs, ""); err != nil {
		t.Fatal(err)
	}
	signIn(t, m, "sam", "support")
	do, text := consoleBrowser(t, m, "sam")
	do(chromedp.Navigate(m.HTTP.URL()+"/admin/logs?lang=ja"), chromedp.WaitVisible(css(`#log-search`)),
		chromedp.SendKeys(css(`#account`), "acct-1"), chromedp.SendKeys(css(`#level`), "error"),
		chromedp.Click(css(`#log-search button`)), chromedp.WaitVisible(css(`#log-results`)))
	if b := text(`#log-results tbody`); !strings.Contains(b, "MQTT 接続がタイムアウトしました") || strings.Contains(b, "起動しました") || strings.Contains(b, "other account") {
		t.Errorf("support's search:\n%s", b)
	}
}
