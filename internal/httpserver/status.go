package httpserver

import (
	"net/http"
	"strconv"
	"time"

	"slokeeper"
	"slokeeper/incident"
	"slokeeper/internal/monitor"
)

// handleStatus serves the service's status as JSON: every public
// component's state and its daily uptime bars (?days=, 1 to 366, default 90).
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if s.Monitor == nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "This server shows no status."))
		return
	}
	days := 90
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 366 {
			Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "days is 1 to 366, not %q.", v))
			return
		}
		days = n
	}
	v, err := s.Monitor.View(r.Context(), days, false)
	if err != nil {
		s.serveStaleStatus(w, r, days, err)
		return
	}
	if s.Incidents != nil {
		// The service's state follows its worst open incident too.
		open, err := s.Incidents.FindIncidents(r.Context(), slokeeper.IncidentFilter{Open: true})
		if err != nil {
			s.serveStaleStatus(w, r, days, err)
			return
		}
		v.Status = incident.ServiceState(v.Status, open)
	}
	s.lastGood.keepView(days, v, s.Clock.Now())
	w.Header().Set("Cache-Control", "public, max-age=10")
	writeJSON(w, http.StatusOK, statusJSON{View: v})
}

// statusEditors change components and maintenance windows.
var statusEditors = []string{slokeeper.RoleAdmin, slokeeper.RoleOperator}

// The components: listed for staff (hidden ones and probes included),
// created, replaced and removed by admins and operators, each change in
// the audit ledger first.

func (s *Server) handleComponentIndex(w http.ResponseWriter, r *http.Request, _ *principal) {
	cs, err := s.Components.FindComponents(r.Context(), slokeeper.ComponentFilter{Group: r.URL.Query().Get("group")})
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	out := make([]componentJSON, 0, len(cs))
	var states map[string]monitor.ComponentView
	if s.Monitor != nil {
		v, err := s.Monitor.View(r.Context(), 1, true)
		if err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		states = map[string]monitor.ComponentView{}
		for _, c := range v.Components {
			states[c.ID] = c
		}
	}
	for _, c := range cs {
		j := componentJSON{Component: c}
		if st, ok := states[c.ID]; ok {
			j.State = &componentState{Status: st.Status, Since: st.Since, Reason: st.Reason}
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"components": out})
}

// componentJSON is a component as staff see it: with its state and, when
// its latest check failed, why (a field the public status never has).
type componentJSON struct {
	*slokeeper.Component
	State *componentState `json:"state,omitempty"`
}

type componentState struct {
	Status string    `json:"status"` // operational, outage, maintenance, unknown
	Since  time.Time `json:"since,omitzero"`
	Reason string    `json:"reason,omitempty"` // the latest failed check's: "status 503", "connection refused"
}

// handleComponentPut creates or replaces a component: PUT
// /api/v1/components/{id} with the component as JSON (durations as "30s").
func (s *Server) handleComponentPut(w http.ResponseWriter, r *http.Request, p *principal) {
	var c slokeeper.Component
	if err := decode(w, r, &c); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if c.ID == "" {
		c.ID = r.PathValue("id")
	}
	if c.ID != r.PathValue("id") {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "The body is component %q, the path %q.", c.ID, r.PathValue("id")))
		return
	}
	if err := s.putComponent(r, p, &c); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"component": c})
}

// putComponent creates or replaces a component for staff, from the API
// or the console: the defaults and checks the components file gets
// (Defaults, Validate, the monitor's target check), then the ledger,
// then the store.
func (s *Server) putComponent(r *http.Request, p *principal, c *slokeeper.Component) error {
	defer s.statusCache.clear()
	c.Defaults()
	if err := c.Validate(); err != nil {
		return err
	}
	if s.Monitor != nil {
		if err := s.Monitor.CheckTarget(c.Probe); err != nil {
			return err
		}
	}
	if err := s.Audit(r.Context(), p.actor(), "component.put", "component:"+c.ID, c.Probe.Kind+" "+c.Probe.Target); err != nil {
		return err
	}
	c.UpdatedAt = s.Clock.Now()
	return s.Components.PutComponent(r.Context(), c)
}

func (s *Server) handleComponentDelete(w http.ResponseWriter, r *http.Request, p *principal) {
	if err := s.removeComponent(r, p, r.PathValue("id")); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// removeComponent removes a component and its results for staff, from
// the API or the console, recorded in the ledger first.
func (s *Server) removeComponent(r *http.Request, p *principal, id string) error {
	defer s.statusCache.clear()
	if err := s.Audit(r.Context(), p.actor(), "component.remove", "component:"+id, ""); err != nil {
		return err
	}
	return s.Components.DeleteComponent(r.Context(), id)
}
