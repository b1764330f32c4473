package httpserver

import (
	"fmt"
	"net/http"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
	"slokeeper/uptime"
)

// historyPage is one calendar month of the service's history, in the
// policy's zone: each component's days and uptime, and the month's
// incidents and maintenance windows.
type historyPage struct {
	page
	Name, Document, Version string
	Logo                    string
	Branded                 bool
	Subscribe               bool
	Path                    string
	Month                   string // "2026-12"
	Title                   string // "2026年12月", "December 2026"
	Prev, Next              string // months to link to; Next empty for the current month
	Components              []monthRow
	Incidents               []incidentRow
	Maintenance             []maintenanceRow
}

// monthRow is a component's month: a square per day, and the month's
// uptime ("" when nothing was observed: no data).
type monthRow struct {
	Name   string
	Uptime string
	Days   []bar
	Width  int // of the days' drawing: 5 per day
}

// handleHistory is GET /history?month=2026-12 (default: this month).
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	pg := page{Lang: l}
	svc := s.Policy.Service
	ctx, now, loc := r.Context(), s.Clock.Now(), s.Policy.Location()
	thisMonth := time.Date(now.In(loc).Year(), now.In(loc).Month(), 1, 0, 0, 0, 0, loc)
	start := thisMonth
	if v := r.URL.Query().Get("month"); v != "" {
		t, err := time.ParseInLocation("2006-01", v, loc)
		if err != nil {
			Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "month is a year and month, as 2026-12; not %q.", v))
			return
		}
		start = t
	}
	if start.After(thisMonth) {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "%s has not begun yet; the history ends with this month.", start.Format("2006-01")))
		return
	}
	end := start.AddDate(0, 1, 0)
	data := historyPage{page: pg, Name: s.pageName(l), Logo: s.Brand.logoURL(), Branded: s.Brand.Color != "", Document: svc.Document.In(l), Version: s.Version,
		Subscribe: s.Subscriptions != nil && s.EmailNotices, Path: r.URL.Path, Month: start.Format("2006-01"),
		Title: pg.T(fmt.Sprintf("%d年%d月", start.Year(), start.Month()), start.Format("January 2006")),
		Prev:  start.AddDate(0, -1, 0).Format("2006-01")}
	if start.Before(thisMonth) {
		data.Next = end.Format("2006-01")
	}
	names := map[string]string{}
	if s.Components != nil {
		cs, err := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
		if err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		last := end.AddDate(0, 0, -1).Format(time.DateOnly)
		for _, c := range cs {
			if c.Hidden {
				continue
			}
			names[c.ID] = pg.T(c.NameJA, c.NameEN)
			target := c.Target
			if target == 0 {
				target = s.Policy.Availability.Target.Fraction()
			}
			tallies, err := s.Components.FindComponentDays(ctx, c.ID, start.Format(time.DateOnly), last)
			if err != nil {
				Error(w, r, s.Logger, err)
				return
			}
			byDay := map[string]slokeeper.ComponentDay{}
			for _, t := range tallies {
				byDay[t.Day] = t
			}
			row := monthRow{Name: names[c.ID]}
			var observed, down time.Duration
			for i, d := 0, start; d.Before(end); i, d = i+1, d.AddDate(0, 0, 1) {
				day := d.Format(time.DateOnly)
				b := bar{X: i * 5, Class: "none", Title: day + ": " + pg.T("データなし", "no data")}
				if t, ok := byDay[day]; ok && t.Observed > 0 {
					u := 1 - float64(t.Down)/float64(t.Observed)
					b.Class, b.Title = dayClass(u, target), day+": "+percent(u)
					observed, down = observed+t.Observed, down+t.Down
				}
				row.Days = append(row.Days, b)
			}
			row.Width = len(row.Days) * 5
			if uptime.Enough(observed) {
				row.Uptime = percent(1 - float64(down)/float64(observed))
			}
			data.Components = append(data.Components, row)
		}
	}
	when := func(t time.Time) string { return maintenance.JST(t, loc, l) }
	if s.Incidents != nil {
		incs, err := s.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Since: start})
		if err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		for _, inc := range incs {
			if inc.OpenedAt.Before(end) {
				data.Incidents = append(data.Incidents, incidentCard(pg, inc, names, when))
			}
		}
	}
	if s.Schedule != nil {
		ms, err := s.Schedule.Store.FindMaintenances(ctx, slokeeper.MaintenanceFilter{From: start, To: end})
		if err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		for _, m := range ms {
			data.Maintenance = append(data.Maintenance, maintenanceCard(pg, m, names, when, now))
		}
	}
	s.render(w, r, "history.html", l, data)
}
