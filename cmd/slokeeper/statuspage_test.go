package main

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/incident"
	"slokeeper/internal/browsertest"

	"github.com/chromedp/chromedp"
)

// TestStatusPageInBrowser loads the status page in a real browser, in
// Japanese and then, through its language switch, in English: the
// service's state, the open incident, and 90 bars per component.
func TestStatusPageInBrowser(t *testing.T) {
	ctx := browsertest.Browser(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) }))
	defer down.Close()
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.ProbeAllowTargets = "loopback" // the probed servers listen on loopback
	mail := withMail(t, &cfg)
	clock := newTestClock(time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC))
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	bg := context.Background()
	for _, c := range []*slokeeper.Component{
		{ID: "editor", NameJA: "エディタ", NameEN: "Editor", Order: 1, Interval: slokeeper.Duration(10 * time.Second), Failures: 1,
			Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: up.URL}},
		{ID: "runtime", NameJA: "クラウド実行環境", NameEN: "Cloud runtime", Order: 2, Interval: slokeeper.Duration(10 * time.Second), Failures: 1,
			Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: down.URL}},
	} {
		m.Store.Components.PutComponent(bg, c)
	}
	waitFor(t, "the incident", func() bool {
		incs, _ := m.Store.Incidents.FindIncidents(bg, slokeeper.IncidentFilter{Open: true})
		return len(incs) == 1
	})
	m.Monitor.Tally(bg, clock.Now())

	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	count := func(sel string) int {
		t.Helper()
		nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
		if err != nil {
			t.Fatal(err)
		}
		return len(nodes)
	}
	// A phone's width: the page fits without sideways scrolling.
	overflows := func() bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(m.HTTP.URL()+"/?lang=ja"), chromedp.WaitVisible(css(`.banner`))); err != nil {
		t.Fatal(err)
	}
	if overflows() {
		t.Error("at 390 px the status page scrolls sideways")
	}
	if b := text(`.banner`); b != "一部のサービスで障害が発生しています" {
		t.Errorf("banner (ja) = %q", b)
	}
	if h := text(`#active`); h != "障害のお知らせ" {
		t.Errorf("incidents heading = %q", h)
	}
	if a := text(`section[aria-labelledby=active] h3`); a != "クラウド実行環境で障害が発生しています" {
		t.Errorf("incident (ja) = %q", a)
	}
	if n := count(`svg.bars rect`); n != 180 {
		t.Errorf("%d bars, want 90 for each of 2 components", n)
	}
	if n := count(`svg.bars rect.down`); n != 1 {
		t.Errorf("%d red bars, want today's for the runtime", n)
	}
	// The language switch.
	if err := chromedp.Do(ctx, chromedp.Click(css(`a[hreflang=en]`)), chromedp.WaitVisible(css(`html[lang=en] .banner`))); err != nil {
		t.Fatal(err)
	}
	if b, a := text(`.banner`), text(`section[aria-labelledby=active] h3`); b != "Some services are disrupted" || a != "Cloud runtime is unavailable" {
		t.Errorf("English page: banner %q, incident %q", b, a)
	}
	if s := text(`.component .state-outage`); !strings.Contains(s, "Outage") {
		t.Errorf("runtime's state = %q", s)
	}

	// The incident's permalink: its own page, with what it affects.
	if err := chromedp.Do(ctx, chromedp.Click(css(`section[aria-labelledby=active] h3 a`)), chromedp.WaitVisible(css(`main h1`))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if h, c, overflow := text(`main h1`), text(`main .components`), overflows(); !strings.Contains(loc, "/incidents/in_") || h != "Incident" || c != "Affected: Cloud runtime" || overflow {
		t.Errorf("permalink %s: heading %q, components %q, overflows %v", loc, h, c, overflow)
	}
	if a := text(`main article h3`); a != "Cloud runtime is unavailable" {
		t.Errorf("permalink's incident = %q", a)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(m.HTTP.URL()+"/?lang=en"), chromedp.WaitVisible(css(`#email`))); err != nil {
		t.Fatal(err)
	}

	// Subscribing through the form, on the English page, to Japanese
	// notices about the runtime; then the confirmation from the mail.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css(`#email`), "hanako@example.jp"),
		chromedp.Click(css(`input[name=lang][value=ja]`)),
		chromedp.Click(css(`input[name=component][value=runtime]`)),
		chromedp.Click(css(`form.subscribe button[type=submit]`)),
		chromedp.WaitNotPresent(css(`form.subscribe`)),
		chromedp.WaitVisible(css(`h1`)),
	); err != nil {
		t.Fatal(err)
	}
	if h := text(`h1`); h != "Please check your inbox" {
		t.Errorf("after subscribing: %q", h)
	}
	confirm := waitMails(t, mail, "hanako@example.jp", 1)[0]
	if !strings.Contains(confirm.Subject, "登録確認") {
		t.Errorf("the confirmation is not in Japanese: %q", confirm.Subject)
	}
	link := linkIn(t, confirm.Body, m.HTTP.URL()+"/subscribe/confirm?")
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(css(`form button[type=submit]`)),
		chromedp.Click(css(`form button[type=submit]`)), chromedp.WaitVisible(css(`h1[role=status]`))); err != nil {
		t.Fatal(err)
	}
	if h := text(`h1`); h != "登録が完了しました" {
		t.Errorf("after confirming: %q", h)
	}
	subs, _ := m.Store.Notices.FindSubscribers(bg, slokeeper.SubscriberFilter{Confirmed: true})
	if len(subs) != 1 || subs[0].Lang != "ja" || len(subs[0].Components) != 1 || subs[0].Components[0] != "runtime" {
		t.Errorf("subscribers = %+v", subs)
	}
}

var updateGolden = flag.Bool("update", false, "rewrite the golden files")

// TestStatusPageGolden pins the rendered status page, in Japanese and in
// English, against golden files (go test -run StatusPageGolden -update
// rewrites them), on a fixed clock: a group with a heading ("クラウド")
// holding a component with 30 days of data and a new one, down, whose
// uptime is "not enough data yet"; its open incident under the degraded
// banner; an incident that recovered yesterday; and a maintenance notice.
func TestStatusPageGolden(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) }))
	defer down.Close()
	cfg := testConfig()
	cfg.Data = t.TempDir()
	withMail(t, &cfg) // the subscribe form shows when e-mail is set up
	// The probed servers listen on loopback.
	cfg.ProbeAllowTargets = "loopback"
	clock := newTestClock(time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC))
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	bg := context.Background()
	m.Store.Components.PutComponent(bg, &slokeeper.Component{ID: "editor", Group: "cloud", GroupJA: "クラウド", GroupEN: "Cloud", NameJA: "エディタ", NameEN: "Editor", Order: 1,
		Interval: slokeeper.Duration(time.Hour), Failures: 1, Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: up.URL}})
	m.Store.Components.PutComponent(bg, &slokeeper.Component{ID: "runtime", Group: "cloud", GroupJA: "クラウド", GroupEN: "Cloud", NameJA: "クラウド実行環境", NameEN: "Cloud runtime", Order: 2,
		Interval: slokeeper.Duration(time.Hour), Failures: 1, Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: down.URL}})
	m.Store.Components.PutComponent(bg, &slokeeper.Component{ID: "mqtt", NameJA: "MQTT ブローカー", NameEN: "MQTT broker", Order: 3,
		Interval: slokeeper.Duration(time.Hour), Failures: 1, Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: up.URL}})
	// The editor has been watched for 30 days, 20 minutes down on one of them.
	var days []slokeeper.ComponentDay
	for i := 30; i >= 1; i-- {
		d := slokeeper.ComponentDay{Component: "editor", Day: clock.Now().AddDate(0, 0, -i).In(m.Policy.Location()).Format(time.DateOnly), Observed: 24 * time.Hour}
		if i == 10 {
			d.Down = 20 * time.Minute
		}
		days = append(days, d)
	}
	if err := m.Store.Components.PutComponentDays(bg, days); err != nil {
		t.Fatal(err)
	}
	// Yesterday's incident, resolved after 40 minutes.
	yesterday := clock.Now().Add(-24 * time.Hour)
	past := &slokeeper.Incident{Components: []string{"editor"}, TitleJA: "エディタに接続しにくい状態", TitleEN: "Editor slow to connect", Impact: slokeeper.ImpactMinor}
	first, _, err := incident.Open(m.Policy, past, "調査しています。", "We are investigating.", "operator:golden", "n1", yesterday)
	if err != nil {
		t.Fatal(err)
	}
	past.ID, first.Incident = "in_golden", "in_golden"
	ev := incident.NoticeEvidence(m.Policy, past, yesterday, "n1")
	if err := m.Store.Incidents.OpenIncident(bg, past, first, ev); err != nil {
		t.Fatal(err)
	}
	fixed := &slokeeper.IncidentUpdate{Incident: "in_golden", Status: slokeeper.IncidentResolved, BodyJA: "復旧いたしました。", BodyEN: "It has recovered."}
	if err := incident.Stamp(fixed, "operator:golden", yesterday.Add(40*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := m.Store.Incidents.AddIncidentUpdate(bg, fixed); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 12, 1, 0, 0, 0, time.UTC)
	m.Store.Maintenance.CreateMaintenance(bg, &slokeeper.Maintenance{ID: "mt_golden", Components: []string{"editor"},
		TitleJA: "データベースの更新", TitleEN: "Database upgrade", BodyJA: "約2時間、エディタをご利用いただけません。", BodyEN: "The editor is unavailable for about two hours.",
		Start: start, End: start.Add(2 * time.Hour), CreatedAt: clock.Now()})
	waitFor(t, "the incident", func() bool {
		incs, _ := m.Store.Incidents.FindIncidents(bg, slokeeper.IncidentFilter{Open: true})
		return len(incs) == 1
	})
	m.Monitor.Tally(bg, clock.Now())
	version := regexp.MustCompile(`slokeeper <code>[^<]*</code>`)
	autoID := regexp.MustCompile(`/incidents/in_[0-9a-zA-Z_-]{12}\?`)
	for _, lang := range []string{"ja", "en"} {
		got := version.ReplaceAllString(get(t, http.DefaultClient, m.HTTP.URL()+"/?lang="+lang).body, "slokeeper <code>VERSION</code>")
		got = autoID.ReplaceAllString(got, "/incidents/ID?")
		path := filepath.Join("testdata", "status."+lang+".html")
		if *updateGolden {
			os.MkdirAll("testdata", 0o755)
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -run StatusPageGolden -update writes it)", err)
		}
		if got != string(want) {
			t.Errorf("the %s status page differs from %s (-update rewrites it):\n%s", lang, path, got)
		}
	}

	// The permalinks of the recovered incident and of the window.
	if r := get(t, http.DefaultClient, m.HTTP.URL()+"/incidents/in_golden?lang=ja"); r.status != 200 || !strings.Contains(r.body, "影響範囲: エディタ") ||
		!strings.Contains(r.body, "復旧: 2026年12月2日(水) 10:40 JST") || !strings.Contains(r.body, `hreflang="en"`) {
		t.Errorf("incident permalink = %d %s", r.status, r.body)
	}
	if r := get(t, http.DefaultClient, m.HTTP.URL()+"/maintenance/mt_golden?lang=en"); r.status != 200 || !strings.Contains(r.body, "Database upgrade") || !strings.Contains(r.body, "Affected: Editor") {
		t.Errorf("maintenance permalink = %d %s", r.status, r.body)
	}
	for _, path := range []string{"/incidents/in_nope", "/maintenance/mt_nope"} {
		if r := get(t, http.DefaultClient, m.HTTP.URL()+path); r.status != 404 {
			t.Errorf("%s = %d", path, r.status)
		}
	}
	// The history by month: November has the editor's 28 observed days
	// (1 and 2 November: no data), December the recovered incident.
	nov := get(t, http.DefaultClient, m.HTTP.URL()+"/history?month=2026-11&lang=en")
	if nov.status != 200 || !strings.Contains(nov.body, "Status history: November 2026") || !strings.Contains(nov.body, "Uptime 99.95%") ||
		!strings.Contains(nov.body, "2026-11-01: no data") || !strings.Contains(nov.body, "2026-11-23: 98.611%") || !strings.Contains(nov.body, "No incidents this month.") ||
		!strings.Contains(nov.body, `href="/history?month=2026-12&amp;lang=en"`) {
		t.Errorf("history of November = %d %s", nov.status, nov.body)
	}
	dec := get(t, http.DefaultClient, m.HTTP.URL()+"/history?lang=ja")
	if dec.status != 200 || !strings.Contains(dec.body, "稼働状況の履歴: 2026年12月") || !strings.Contains(dec.body, "/incidents/in_golden?lang=ja") || strings.Contains(dec.body, `rel="next"`) {
		t.Errorf("history of this month = %d %s", dec.status, dec.body)
	}
	for _, month := range []string{"2026-13", "december", "2027-01"} {
		if r := get(t, http.DefaultClient, m.HTTP.URL()+"/history?month="+month); r.status != 400 {
			t.Errorf("history of %q = %d %s", month, r.status, r.body)
		}
	}
}

// BenchmarkStatusPage is one request of the status page over loopback
// HTTP, the page cached as under load (wrk's figures are in BENCHMARKS.md).
func BenchmarkStatusPage(b *testing.B) {
	cfg := testConfig()
	cfg.Data = b.TempDir()
	m := NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	m.Store.Components.PutComponent(context.Background(), &slokeeper.Component{ID: "api", NameJA: "API", NameEN: "API",
		Interval: slokeeper.Duration(time.Hour), Probe: slokeeper.Probe{Kind: slokeeper.ProbeTCP, Target: "127.0.0.1:1"}})
	url := m.HTTP.URL() + "/?lang=ja"
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
