package httpserver

import (
	"net/http"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
)

// pageFuncs are the functions the page templates use.
var pageFuncs = map[string]any{
	// card hands a card template the page (for T and Label) and its item.
	"card": func(p any, item any) cardData {
		var pg page
		switch v := p.(type) {
		case statusPage:
			pg = v.page
		case itemPage:
			pg = v.page
		case historyPage:
			pg = v.page
		}
		return cardData{Page: pg, Item: item}
	},
}

type cardData struct {
	Page page
	Item any
}

// itemPage is the permalink of one incident or one maintenance window.
type itemPage struct {
	page
	Name, Document, Version string
	Logo                    string
	Branded                 bool
	Subscribe               bool
	Path                    string // the permalink's path, for the language switch
	Incident                *incidentRow
	Maintenance             *maintenanceRow
}

// componentNameMap names every component in the page's language.
func (s *Server) componentNameMap(r *http.Request, pg page) (map[string]string, error) {
	names := map[string]string{}
	if s.Components == nil {
		return names, nil
	}
	cs, err := s.Components.FindComponents(r.Context(), slokeeper.ComponentFilter{})
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if !c.Hidden {
			names[c.ID] = pg.T(c.NameJA, c.NameEN)
		}
	}
	return names, nil
}

func (s *Server) itemPage(r *http.Request) itemPage {
	l := lang(r)
	svc := s.Policy.Service
	return itemPage{page: page{Lang: l}, Name: s.pageName(l), Logo: s.Brand.logoURL(), Branded: s.Brand.Color != "", Document: svc.Document.In(l), Version: s.Version,
		Subscribe: s.Subscriptions != nil && s.EmailNotices, Path: r.URL.Path}
}

// handleIncidentPage is GET /incidents/{id}: one incident, its affected
// components, whole timeline and postmortem, at a link that stays.
func (s *Server) handleIncidentPage(w http.ResponseWriter, r *http.Request) {
	data := s.itemPage(r)
	if s.Incidents == nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "This server shows no incidents."))
		return
	}
	incs, err := s.Incidents.FindIncidents(r.Context(), slokeeper.IncidentFilter{ID: r.PathValue("id")})
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if len(incs) != 1 {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "There is no incident %q.", r.PathValue("id")))
		return
	}
	names, err := s.componentNameMap(r, data.page)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	loc := s.Policy.Location()
	row := incidentCard(data.page, incs[0].Public(), names, func(t time.Time) string { return maintenance.JST(t, loc, data.Lang) })
	data.Incident = &row
	s.render(w, r, "item.html", data.Lang, data)
}

// handleMaintenancePage is GET /maintenance/{id}: one maintenance window.
func (s *Server) handleMaintenancePage(w http.ResponseWriter, r *http.Request) {
	data := s.itemPage(r)
	if s.Schedule == nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "This server shows no maintenance."))
		return
	}
	ms, err := s.Schedule.Store.FindMaintenances(r.Context(), slokeeper.MaintenanceFilter{ID: r.PathValue("id")})
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if len(ms) != 1 {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "There is no maintenance window %q.", r.PathValue("id")))
		return
	}
	names, err := s.componentNameMap(r, data.page)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	loc := s.Policy.Location()
	row := maintenanceCard(data.page, ms[0], names, func(t time.Time) string { return maintenance.JST(t, loc, data.Lang) }, s.Clock.Now())
	data.Maintenance = &row
	s.render(w, r, "item.html", data.Lang, data)
}
