package httpserver

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"slokeeper"
	"slokeeper/incident"
	"slokeeper/maintenance"
	"slokeeper/notice"
)

// lang picks the page language: ?lang= first, then Accept-Language, then
// Japanese, the language most readers of a Japanese service use.
func lang(r *http.Request) string {
	switch r.URL.Query().Get("lang") {
	case "ja":
		return "ja"
	case "en":
		return "en"
	}
	for part := range strings.SplitSeq(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.SplitN(tag, "-", 2)[0]) {
		case "ja":
			return "ja"
		case "en":
			return "en"
		}
	}
	return "ja"
}

// page is what every page template gets: the language and T to pick a
// label's Japanese or English.
type page struct {
	Lang string
}

// T returns ja or en by the page's language.
func (p page) T(ja, en string) string {
	if p.Lang == "en" {
		return en
	}
	return ja
}

// statusPage is the status page: the service's state, what is going on,
// each component's 90 daily bars, and the incidents of the last 90 days.
type statusPage struct {
	page
	Name, Document, Version string
	Logo                    string // the operator's logo, or ""
	Branded                 bool   // /brand.css has the operator's colours
	Status                  string // operational, degraded, outage
	Components              []componentRow
	Groups                  []componentGroup // the components under their group's heading
	Active, Past            []incidentRow
	Maintenance             []maintenanceRow
	Subscribe               bool // notices by e-mail can be subscribed to
	// Stale, when set, says the page is the last good rendering, and how
	// old it is: the database is away.
	Stale string
}

// componentGroup is a heading and the components under it; Name is
// empty for the components in no group.
type componentGroup struct {
	Name       string
	Components []componentRow
}

type componentRow struct {
	ID, Name, Status string
	// NotEnough says too little was observed yet for an uptime or an
	// error budget (uptime.MinObserved): the page says so instead.
	NotEnough  bool
	Uptime     string // "99.95%", or "" when nothing was observed
	Target     string // the objective, "99.5%"
	BudgetLeft string // share of the 30-day error budget left, "87%"
	Bars       []bar
}

// bar is one day of a component's uptime bar.
type bar struct {
	X     int
	Class string // ok, degraded, down, none
	Title string // "2026-12-03: 99.95%"
}

type incidentRow struct {
	ID, Title, Impact, Status, Opened, Resolved string
	Components                                  []string // names of the affected components; none: every one
	Updates                                     []updateRow
	Postmortem                                  string
}

type updateRow struct{ At, Status, Body string }

type maintenanceRow struct {
	ID, Title, Body, Start, End, State string
	Components                         []string // names of the affected components; none: every one
	Emergency                          bool
}

// statusLabels names states on the page.
var statusLabels = map[string][2]string{
	"operational":           {"すべて正常に稼働しています", "All systems operational"},
	"degraded":              {"一部のサービスで障害が発生しています", "Some services are disrupted"},
	"outage":                {"サービスで障害が発生しています", "Service outage"},
	"component.operational": {"正常", "Operational"}, "component.outage": {"障害", "Outage"},
	"component.maintenance": {"メンテナンス中", "Under maintenance"}, "component.unknown": {"確認中", "Not checked yet"},
	"scheduled": {"予定", "Scheduled"}, "in_progress": {"実施中", "In progress"},
	"completed": {"終了", "Completed"}, "cancelled": {"中止", "Cancelled"},
}

// Label names a state on the page; incidents' statuses and impacts are
// named as in the notices.
func (p page) Label(key string) string {
	l, ok := statusLabels[key]
	if !ok {
		return notice.Label(key, p.Lang)
	}
	return p.T(l[0], l[1])
}

// pageCache keeps the rendered status page per language for a few
// seconds: the page is what everyone reloads during an incident. Writes
// through this server (incidents, maintenance, components) clear it.
type pageCache struct {
	mu    sync.Mutex
	pages map[string]cachedPage
}

type cachedPage struct {
	body []byte
	at   time.Time
}

// pageTTL is how stale the status page may be.
const pageTTL = 5 * time.Second

func (c *pageCache) get(lang string, now time.Time) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pages[lang]; ok && now.Sub(p.at) < pageTTL && !now.Before(p.at) {
		return p.body
	}
	return nil
}

func (c *pageCache) put(lang string, body []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pages == nil {
		c.pages = map[string]cachedPage{}
	}
	c.pages[lang] = cachedPage{body, now}
}

func (c *pageCache) clear() {
	c.mu.Lock()
	c.pages = nil
	c.mu.Unlock()
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	if body := s.statusCache.get(l, s.Clock.Now()); body != nil {
		writePage(w, l, body)
		return
	}
	pg := page{Lang: l}
	svc := s.Policy.Service
	data := statusPage{page: pg, Name: s.pageName(l), Logo: s.Brand.logoURL(), Branded: s.Brand.Color != "", Document: svc.Document.In(l), Version: s.Version, Status: "operational", Subscribe: s.Subscriptions != nil && s.EmailNotices}
	ctx, now, loc := r.Context(), s.Clock.Now(), s.Policy.Location()
	when := func(t time.Time) string { return maintenance.JST(t, loc, l) }
	names := map[string]string{}
	componentsStatus := "operational"
	if s.Monitor != nil {
		v, err := s.Monitor.View(ctx, 90, false)
		if err != nil {
			s.serveStale(w, r, l, err)
			return
		}
		componentsStatus = v.Status
		for _, c := range v.Components {
			names[c.ID] = pg.T(c.Name.JA, c.Name.EN)
			row := componentRow{ID: c.ID, Name: pg.T(c.Name.JA, c.Name.EN), Status: c.Status, NotEnough: !c.EnoughData}
			for i, d := range c.Days {
				b := bar{X: i * 5, Class: "none", Title: d.Day + ": " + pg.T("データなし", "no data")}
				if d.Uptime != nil {
					b.Title = fmt.Sprintf("%s: %s", d.Day, percent(*d.Uptime))
					b.Class = dayClass(*d.Uptime, c.Target)
				}
				row.Bars = append(row.Bars, b)
			}
			if c.EnoughData {
				row.Uptime = percent(c.Uptime)
				row.Target = percent(c.Target)
				row.BudgetLeft = percent(max(c.Budget.Left, 0))
			}
			data.Components = append(data.Components, row)
			group := pg.T(c.GroupName.JA, c.GroupName.EN)
			if n := len(data.Groups); n == 0 || data.Groups[n-1].Name != group {
				data.Groups = append(data.Groups, componentGroup{Name: group})
			}
			g := &data.Groups[len(data.Groups)-1]
			g.Components = append(g.Components, row)
		}
	}
	var open []*slokeeper.Incident
	if s.Incidents != nil {
		incs, err := s.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Since: now.Add(-slokeeper.History)})
		if err != nil {
			s.serveStale(w, r, l, err)
			return
		}
		for _, inc := range incs {
			row := incidentCard(pg, inc, names, when)
			if inc.ResolvedAt.IsZero() {
				open = append(open, inc)
				data.Active = append(data.Active, row)
			} else {
				data.Past = append(data.Past, row)
			}
		}
	}
	data.Status = incident.ServiceState(componentsStatus, open)
	if s.Schedule != nil {
		ms, err := s.Schedule.Store.FindMaintenances(ctx, slokeeper.MaintenanceFilter{From: now, To: now.Add(90 * 24 * time.Hour)})
		if err != nil {
			s.serveStale(w, r, l, err)
			return
		}
		for _, m := range ms {
			data.Maintenance = append(data.Maintenance, maintenanceCard(pg, m, names, when, now))
		}
	}
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, "index.html", data); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.statusCache.put(l, buf.Bytes(), now)
	s.lastGood.keepPage(l, data, now)
	writePage(w, l, buf.Bytes())
}

// dayClass colours a day's bar: at or above the objective green, down to
// 95% amber, below red.
func dayClass(u, target float64) string {
	switch {
	case u >= target:
		return "ok"
	case u >= 0.95:
		return "degraded"
	}
	return "down"
}

// componentNames names ids for the page, by names (the component's ID
// where it has none: removed since).
func componentNames(ids []string, names map[string]string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, cmp.Or(names[id], id))
	}
	return out
}

// incidentCard is inc as the page shows it: its times as the mails write
// them (maintenance.JST in the policy's zone; "began" is when it was
// detected, as in the mail), the affected components, the newest update
// first.
func incidentCard(pg page, inc *slokeeper.Incident, names map[string]string, when func(time.Time) string) incidentRow {
	row := incidentRow{ID: inc.ID, Title: pg.T(inc.TitleJA, inc.TitleEN), Impact: inc.Impact, Status: inc.Status, Opened: when(inc.DetectedAt),
		Components: componentNames(inc.Components, names), Postmortem: pg.T(inc.PostmortemJA, inc.PostmortemEN)}
	for i := len(inc.Updates) - 1; i >= 0; i-- {
		u := inc.Updates[i]
		row.Updates = append(row.Updates, updateRow{At: when(u.At), Status: u.Status, Body: pg.T(u.BodyJA, u.BodyEN)})
	}
	if !inc.ResolvedAt.IsZero() {
		row.Resolved = when(inc.ResolvedAt)
	}
	return row
}

func maintenanceCard(pg page, m *slokeeper.Maintenance, names map[string]string, when func(time.Time) string, now time.Time) maintenanceRow {
	return maintenanceRow{ID: m.ID, Title: pg.T(m.TitleJA, m.TitleEN), Body: pg.T(m.BodyJA, m.BodyEN),
		Start: when(m.Start), End: when(m.End), State: m.State(now), Emergency: m.Emergency, Components: componentNames(m.Components, names)}
}

func writePage(w http.ResponseWriter, lang string, body []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", lang)
	w.Header().Add("Vary", "Accept-Language")
	w.Write(body)
}

// percent writes an uptime the way status pages do: 99.95%, 100%.
func percent(u float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", u*100), "0"), ".") + "%"
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name, lang string, data any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writePage(w, lang, buf.Bytes())
}

// renderPrivate renders a page for one reader (a subscriber's link, the
// console) with a status: never cached, by the browser or on the way.
func (s *Server) renderPrivate(w http.ResponseWriter, r *http.Request, status int, name, lang string, data any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", lang)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
