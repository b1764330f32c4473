package httpserver

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"time"

	"slokeeper"
	"slokeeper/internal/monitor"
	"slokeeper/maintenance"
)

// While the database is away the public status page, its JSON and its
// feed keep serving their last good rendering, marked with its age, with
// 200: a status page is what people and monitors read during an outage,
// and a 5xx is what they take for "the status page is down" (browsers and
// feed readers show an error instead of the body, CDNs drop it). Only with
// nothing rendered yet is the answer a 503. Stale answers are never
// cached on the way (Cache-Control: no-store), so the fresh page returns
// as soon as the database does.

// lastGood keeps the last good public renderings, per language (the page
// and the feed) and per number of days (the JSON).
type lastGood struct {
	mu    sync.Mutex
	pages map[string]goodPage
	feeds map[string]goodBytes
	views map[int]goodView
}

type goodPage struct {
	data statusPage
	at   time.Time
}

type goodBytes struct {
	body []byte
	at   time.Time
}

type goodView struct {
	view *monitor.View
	at   time.Time
}

func (g *lastGood) keepPage(lang string, data statusPage, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pages == nil {
		g.pages = map[string]goodPage{}
	}
	g.pages[lang] = goodPage{data, at}
}

func (g *lastGood) page(lang string) (goodPage, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.pages[lang]
	return p, ok
}

func (g *lastGood) keepFeed(lang string, body []byte, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.feeds == nil {
		g.feeds = map[string]goodBytes{}
	}
	g.feeds[lang] = goodBytes{body, at}
}

func (g *lastGood) feed(lang string) (goodBytes, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, ok := g.feeds[lang]
	return f, ok
}

func (g *lastGood) keepView(days int, v *monitor.View, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.views == nil {
		g.views = map[int]goodView{}
	}
	g.views[days] = goodView{v, at}
}

func (g *lastGood) view(days int) (goodView, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, ok := g.views[days]
	return v, ok
}

// staleNote says how old a rendering is and why, in the page's language:
// 「最終更新: 2026年12月3日(木) 10:00 JST(12分前)。データベースに接続できないため、表示が古い可能性があります。」
func staleNote(lang string, at, now time.Time, loc *time.Location) string {
	age := now.Sub(at)
	var ja, en string
	switch m := int(age.Minutes()); {
	case m < 1:
		ja, en = "1分以内", "less than a minute ago"
	case m < 120:
		ja, en = fmt.Sprintf("%d分前", m), fmt.Sprintf("%d minutes ago", m)
	default:
		ja, en = fmt.Sprintf("約%d時間前", m/60), fmt.Sprintf("about %d hours ago", m/60)
	}
	if lang == "ja" {
		return fmt.Sprintf("最終更新: %s(%s)。データベースに接続できないため、表示が古い可能性があります。", maintenance.JST(at, loc, lang), ja)
	}
	return fmt.Sprintf("Last updated: %s (%s). The database cannot be reached, so what this page shows may be out of date.", maintenance.JST(at, loc, lang), en)
}

// serveStale answers the status page with its last good rendering after
// err, or a 503 when there is none.
func (s *Server) serveStale(w http.ResponseWriter, r *http.Request, l string, err error) {
	s.Logger.Warn("status page: the database is away; serving the last good rendering", "err", err)
	now := s.Clock.Now()
	w.Header().Set("Cache-Control", "no-store")
	good, ok := s.lastGood.page(l)
	if !ok {
		pg := page{Lang: l}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Language", l)
		w.Header().Set("Retry-After", "10")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, pg.T("稼働状況を表示できません。データベースに接続できないため、しばらくしてから再度お試しください。",
			"The status cannot be shown: the database cannot be reached. Please try again shortly."))
		return
	}
	data := good.data
	data.Stale = staleNote(l, good.at, now, s.Policy.Location())
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, "index.html", data); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Slokeeper-Stale", good.at.UTC().Format(time.RFC3339))
	writePage(w, l, buf.Bytes())
}

// staleStatus marks the JSON status as the last good one.
type staleStatus struct {
	Since time.Time `json:"since"` // when it was good
	JA    string    `json:"ja"`
	EN    string    `json:"en"`
}

// statusJSON is GET /api/v1/status: the view, and while the database is
// away, the stale mark.
type statusJSON struct {
	*monitor.View
	Stale *staleStatus `json:"stale,omitempty"`
}

// serveStaleStatus answers GET /api/v1/status with the last good view
// after err, or the error when there is none.
func (s *Server) serveStaleStatus(w http.ResponseWriter, r *http.Request, days int, err error) {
	good, ok := s.lastGood.view(days)
	if !ok {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The status cannot be shown: the database cannot be reached."))
		s.Logger.Warn("status: the database is away and nothing was rendered yet", "err", err)
		return
	}
	s.Logger.Warn("status: the database is away; serving the last good status", "err", err)
	now, loc := s.Clock.Now(), s.Policy.Location()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Slokeeper-Stale", good.at.UTC().Format(time.RFC3339))
	writeJSON(w, http.StatusOK, statusJSON{View: good.view, Stale: &staleStatus{Since: good.at, JA: staleNote("ja", good.at, now, loc), EN: staleNote("en", good.at, now, loc)}})
}
