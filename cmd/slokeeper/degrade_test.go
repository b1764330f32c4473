package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/browsertest"
	"slokeeper/internal/storetest"

	"github.com/chromedp/chromedp"
)

// TestStatusPageWhileDatabaseAway: with the network to PostgreSQL cut,
// the public page, its JSON and its feed keep answering 200 with their
// last good rendering, marked with its age (ja/en); when the database is
// back the node records the outage it saw as evidence, and the page is
// fresh again.
func TestStatusPageWhileDatabaseAway(t *testing.T) {
	cfg := withPostgres(t)
	dsn, cut := storetest.CutDSN(t, cfg.DB)
	cfg.DB, cfg.Data = dsn, t.TempDir()
	clock := newTestClock(time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)) // 10:00 JST
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Close(ctx)
	}()
	base := m.HTTP.URL()
	c := http.DefaultClient
	for _, path := range []string{"/?lang=ja", "/?lang=en", "/api/v1/status", "/feed.atom?lang=ja"} {
		if r := get(t, c, base+path); r.status != 200 || r.header.Get("Slokeeper-Stale") != "" {
			t.Fatalf("GET %s with the database = %d, stale %q", path, r.status, r.header.Get("Slokeeper-Stale"))
		}
	}

	cut.SetDown(true)
	clock.Add(12 * time.Minute) // past the page's few seconds of cache; a beat is due
	waitFor(t, "the heartbeat to notice the database is away", func() bool { return !m.Heartbeat.DatabaseDownSince().IsZero() })
	ja := get(t, c, base+"/?lang=ja")
	if ja.status != 200 || !strings.Contains(ja.body, "最終更新: 2026年12月3日(木) 10:00 JST(12分前)。データベースに接続できないため、表示が古い可能性があります。") ||
		ja.header.Get("Cache-Control") != "no-store" || ja.header.Get("Slokeeper-Stale") == "" {
		t.Errorf("ja page while the database is away = %d %v\n%s", ja.status, ja.header, ja.body)
	}
	// In a real browser the mark is the page's first banner, visible.
	t.Run("Browser", func(t *testing.T) {
		bctx := browsertest.Browser(t)
		if err := chromedp.Do(bctx, chromedp.Navigate(base+"/?lang=ja"), chromedp.WaitVisible(css(`p.banner.stale[role=alert]`))); err != nil {
			t.Fatal(err)
		}
		shown, err := chromedp.Run(bctx, chromedp.Text(css(`main > p.banner:first-of-type`)))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(shown, "最終更新: 2026年12月3日(木) 10:00 JST") {
			t.Errorf("the browser's first banner = %q, want the stale mark", shown)
		}
	})
	en := get(t, c, base+"/?lang=en")
	if en.status != 200 || !strings.Contains(en.body, "Last updated: Thu 3 Dec 2026 10:00 JST (12 minutes ago). The database cannot be reached") {
		t.Errorf("en page while the database is away = %d\n%s", en.status, en.body)
	}
	if r := get(t, c, base+"/api/v1/status"); r.status != 200 || !strings.Contains(r.body, `"stale": {`) || !strings.Contains(r.body, `"en": "Last updated: Thu 3 Dec 2026 10:00 JST (12 minutes ago).`) || !strings.Contains(r.body, `"components"`) {
		t.Errorf("JSON status while the database is away = %d %s", r.status, r.body)
	}
	if r := get(t, c, base+"/feed.atom?lang=ja"); r.status != 200 || !strings.Contains(r.body, "<feed") {
		t.Errorf("feed while the database is away = %d %s", r.status, r.body)
	}
	// Never rendered: nothing to fall back on, so 503, not 500.
	if r := get(t, c, base+"/feed.atom?lang=en"); r.status != 503 {
		t.Errorf("a feed never rendered while the database is away = %d, want 503", r.status)
	}

	cut.SetDown(false)
	clock.Add(3 * time.Minute)
	waitFor(t, "the database outage's evidence", func() bool {
		es, _, err := m.Store.Evidence.FindEvidence(context.Background(), slokeeper.EvidenceFilter{Action: "database_outage"})
		return err == nil && len(es) == 1 && strings.Contains(es[0].Detail, "from 2026-12-03T01:12:00Z to 2026-12-03T01:15:00Z (3m0s)") && es[0].Node == "e2e-node"
	})
	if r := get(t, c, base+"/?lang=ja"); r.status != 200 || strings.Contains(r.body, "最終更新") {
		t.Errorf("page with the database back = %d, still stale", r.status)
	}
}
