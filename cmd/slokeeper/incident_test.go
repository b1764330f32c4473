package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlite"
)

// TestIncidents: a component of the running server goes down; after its
// confirmed failures an incident is open on the status API, announced
// within the policy's bound (evidence). Staff then write its timeline,
// resolve it and add the postmortem.
func TestIncidents(t *testing.T) {
	var failing atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
		}
	}))
	defer target.Close()
	cfg := testConfig()
	cfg.Data, cfg.Listen = t.TempDir(), "127.0.0.1:0"
	cfg.ProbeAllowTargets = "loopback" // the probed servers listen on loopback
	clock := newTestClock(time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC))
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx := context.Background()
	m.Store.Components.PutComponent(ctx, &slokeeper.Component{ID: "runtime", NameJA: "クラウド実行環境", NameEN: "Cloud runtime",
		Interval: slokeeper.Duration(10 * time.Second), Failures: 2, Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: target.URL}})
	checks := func(n int) {
		t.Helper()
		waitFor(t, "the server's checks", func() bool {
			rs, _ := m.Store.Components.FindCheckResults(ctx, "runtime", clock.Now().Add(-time.Hour), clock.Now().Add(time.Hour))
			return len(rs) >= n
		})
	}
	checks(1)
	failing.Store(true)
	clock.Add(10 * time.Second) // the first failure: detected here
	checks(2)
	clock.Add(10 * time.Second) // the second, confirming it
	checks(3)
	var body string
	waitFor(t, "the incident", func() bool {
		body = get(t, http.DefaultClient, m.HTTP.URL()+"/api/v1/incidents").body
		return strings.Contains(body, "クラウド実行環境で障害が発生しています")
	})
	if !strings.Contains(body, `"status": "investigating"`) || !strings.Contains(body, `"detected_at": "2026-12-03T01:00:10Z"`) {
		t.Errorf("incident = %s", body)
	}
	var ev []*slokeeper.Evidence
	waitFor(t, "the notice's evidence", func() bool { // recorded just after the incident opens
		ev, _, _ = m.Store.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "incident.notice"})
		return len(ev) > 0
	})
	if len(ev) != 1 || ev[0].Outcome != slokeeper.OutcomeOK || !strings.Contains(ev[0].Detail, "10s after detection") {
		t.Errorf("notice evidence = %+v", ev)
	}

	// The status page shows it, in Japanese and in English, with the bars.
	page := get(t, http.DefaultClient, m.HTTP.URL()+"/").body
	if !strings.Contains(page, "サービスで障害が発生しています") || !strings.Contains(page, "障害のお知らせ") || !strings.Contains(page, "クラウド実行環境で障害が発生しています") ||
		!strings.Contains(page, "2026年12月3日(木) 10:00 JST") || strings.Count(page, "<rect ") != 90 || !strings.Contains(page, `class="state-outage"`) {
		t.Errorf("status page (ja):\n%s", page)
	}
	if page := get(t, http.DefaultClient, m.HTTP.URL()+"/?lang=en").body; !strings.Contains(page, "Cloud runtime is unavailable") || !strings.Contains(page, "Thu 3 Dec 2026 10:00 JST") {
		t.Errorf("status page (en):\n%s", page)
	}
	// Staff write the timeline, resolve it, and add the postmortem.
	sam := signIn(t, m, "sam", "support")
	incs, _ := m.Store.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Open: true})
	id := incs[0].ID
	upd := func(status string) response {
		return postJSON(t, sam, m.HTTP.URL()+"/api/v1/incidents/"+id+"/updates",
			`{"status":"`+status+`","body_ja":"原因を特定し、復旧作業を行っています。","body_en":"We found the cause and are fixing it."}`)
	}
	if r := upd("identified"); r.status != 201 {
		t.Fatalf("update = %d %s", r.status, r.body)
	}
	if r := upd("done"); r.status != 400 {
		t.Errorf("a bad status = %d", r.status)
	}
	if r := upd("resolved"); r.status != 201 {
		t.Fatalf("resolve = %d %s", r.status, r.body)
	}
	if r := put(t, sam, m.HTTP.URL()+"/api/v1/incidents/"+id+"/postmortem", `{"ja":"設定の誤りが原因でした。","en":"A configuration error."}`); r.status != 204 {
		t.Errorf("postmortem = %d %s", r.status, r.body)
	}
	// Opened by staff: evidence too, from when it was detected.
	r := postJSON(t, sam, m.HTTP.URL()+"/api/v1/incidents", `{"components":["runtime"],"title_ja":"一部のデバイスで接続が不安定です","title_en":"Some devices connect intermittently",
		"impact":"minor","detected_at":"2026-12-03T00:00:00Z","body_ja":"調査しています。","body_en":"We are investigating."}`)
	if r.status != 201 {
		t.Fatalf("open = %d %s", r.status, r.body)
	}
	if ev, _, _ := m.Store.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "incident.notice", Outcome: slokeeper.OutcomeLate}); len(ev) != 1 {
		t.Errorf("an incident announced an hour after detection is not late: %+v", ev)
	}
	// The status page is cached for a few seconds, but a write through the
	// API shows at once.
	if page := get(t, http.DefaultClient, m.HTTP.URL()+"/?lang=ja").body; !strings.Contains(page, "一部のデバイスで接続が不安定です") || !strings.Contains(page, "過去の障害") {
		t.Errorf("the page after the new incident:\n%s", page)
	}
	// The Atom feed carries every update, newest first, in the reader's language.
	feed := get(t, http.DefaultClient, m.HTTP.URL()+"/feed.atom?lang=ja")
	if feed.status != 200 || feed.header.Get("Content-Type") != "application/atom+xml; charset=utf-8" || !strings.Contains(feed.body, `<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ja">`) ||
		strings.Count(feed.body, "<entry>") != 4 || !strings.Contains(feed.body, "<title>【障害】クラウド実行環境で障害が発生しています — 解決済み</title>") ||
		strings.Index(feed.body, "— 解決済み") > strings.Index(feed.body, "— 原因特定") {
		t.Errorf("feed:\n%s", feed.body)
	}
	if en := get(t, http.DefaultClient, m.HTTP.URL()+"/feed.atom", "Accept-Language", "en").body; !strings.Contains(en, "[Incident] Cloud runtime is unavailable — Resolved") {
		t.Errorf("English feed:\n%s", en)
	}
	body = get(t, http.DefaultClient, m.HTTP.URL()+"/api/v1/incidents").body
	if !strings.Contains(body, `"postmortem_ja": "設定の誤りが原因でした。"`) || !strings.Contains(body, `"status": "resolved"`) {
		t.Errorf("incidents = %s", body)
	}
}

// TestStaffIncidentNeverWithoutEvidence: while the evidence store refuses
// inserts, staff opening an incident get an error and nothing is opened;
// once it is back the incident opens with the evidence of its notice.
func TestStaffIncidentNeverWithoutEvidence(t *testing.T) {
	cfg := testConfig()
	cfg.Data, cfg.Listen = t.TempDir(), "127.0.0.1:0"
	m := NewMain(cfg, io.Discard)
	m.Clock = newTestClock(time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC))
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(cfg.Data, "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	refuse := func(q string) {
		t.Helper()
		if _, err := db.Writer().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	state := func() (open, notices int) {
		t.Helper()
		incs, _ := m.Store.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Open: true})
		ev, _, _ := m.Store.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "incident.notice"})
		return len(incs), len(ev)
	}
	olga := signIn(t, m, "olga", "operator")
	open := func() response {
		return postJSON(t, olga, m.HTTP.URL()+"/api/v1/incidents", `{"components":[],"title_ja":"一部のデバイスで接続が不安定です","title_en":"Some devices connect intermittently",
			"impact":"minor","body_ja":"調査しています。","body_en":"We are investigating."}`)
	}
	refuse(`CREATE TRIGGER refuse_evidence BEFORE INSERT ON evidence BEGIN SELECT RAISE(ABORT, 'evidence store unavailable'); END`)
	if r := open(); r.status != http.StatusInternalServerError {
		t.Errorf("opening with the evidence refused = %d %s, want 500", r.status, r.body)
	}
	if o, n := state(); o != 0 || n != 0 {
		t.Errorf("after a refused notice: %d open, %d notices; want 0 and 0", o, n)
	}
	refuse(`DROP TRIGGER refuse_evidence`)
	if r := open(); r.status != http.StatusCreated {
		t.Fatalf("open = %d %s", r.status, r.body)
	}
	if o, n := state(); o != 1 || n != 1 {
		t.Errorf("once the store is back: %d open, %d notices; want 1 and 1", o, n)
	}
}
