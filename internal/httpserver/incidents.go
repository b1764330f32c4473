package httpserver

import (
	"net/http"
	"strings"

	"slokeeper"
	"slokeeper/incident"
)

// incidentWriters open and update incidents: support staff too, who
// talk to customers while an incident runs.
var incidentWriters = []string{slokeeper.RoleAdmin, slokeeper.RoleOperator, slokeeper.RoleSupport}

// handleIncidentIndex lists, for anyone, the open incidents and those
// resolved in the last 90 days, newest first, with their timelines. Who
// wrote each update is shown to staff only (signed in or a token).
func (s *Server) handleIncidentIndex(w http.ResponseWriter, r *http.Request) {
	incs, err := s.Incidents.FindIncidents(r.Context(), slokeeper.IncidentFilter{Since: s.Clock.Now().Add(-slokeeper.History)})
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if incs == nil {
		incs = []*slokeeper.Incident{}
	}
	w.Header().Add("Vary", "Cookie, Authorization")
	// Staff see the internal fields; not one who must change a password
	// or enrol two-factor sign-in first.
	if p, err := s.authenticate(r); err == nil && !p.op.MustChangePassword && !p.op.MustEnrolTOTP {
		w.Header().Set("Cache-Control", "no-store")
	} else {
		for i, inc := range incs {
			incs[i] = inc.Public()
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": incs})
}

// handleIncidentCreate opens an incident: POST /api/v1/incidents with
// {components, title_ja, title_en, impact, body_ja, body_en, detected_at}
// (detected_at defaults to now). The time from detection to this notice
// is evidence against the policy's bound.
func (s *Server) handleIncidentCreate(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct {
		slokeeper.Incident
		BodyJA string `json:"body_ja"`
		BodyEN string `json:"body_en"`
	}
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	inc, err := s.openIncident(r, p, req.Incident, req.BodyJA, req.BodyEN)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"incident": inc})
}

// openIncident opens an incident for staff, from the API or the console:
// checked, audited, stored with its announcement, and the time from
// detection to this notice recorded as evidence.
func (s *Server) openIncident(r *http.Request, p *principal, inc slokeeper.Incident, bodyJA, bodyEN string) (*slokeeper.Incident, error) {
	defer s.statusCache.clear()
	inc.AutoComponent = "" // staff-opened
	first, notice, err := incident.Open(s.Policy, &inc, bodyJA, bodyEN, p.actor(), s.Node, s.Clock.Now())
	if err != nil {
		return nil, err
	}
	if err := s.Audit(r.Context(), p.actor(), "incident.open", "incident:"+inc.ID, inc.Impact+": "+inc.TitleEN); err != nil {
		return nil, err
	}
	// The notice's evidence is stored with the incident, or neither is.
	if err := s.Incidents.OpenIncident(r.Context(), &inc, first, notice); err != nil {
		return nil, err
	}
	return &inc, nil
}

// handleIncidentUpdate adds to an incident's timeline: POST
// /api/v1/incidents/{id}/updates with {status, body_ja, body_en}.
func (s *Server) handleIncidentUpdate(w http.ResponseWriter, r *http.Request, p *principal) {
	var u slokeeper.IncidentUpdate
	if err := decode(w, r, &u); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	u.Incident = r.PathValue("id")
	if err := s.updateIncident(r, p, &u); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"update": u})
}

// updateIncident adds to an incident's timeline for staff: checked,
// audited, stored with its announcement.
func (s *Server) updateIncident(r *http.Request, p *principal, u *slokeeper.IncidentUpdate) error {
	defer s.statusCache.clear()
	if err := incident.Stamp(u, p.actor(), s.Clock.Now()); err != nil {
		return err
	}
	if err := s.Audit(r.Context(), p.actor(), "incident.update", "incident:"+u.Incident, u.Status); err != nil {
		return err
	}
	return s.Incidents.AddIncidentUpdate(r.Context(), u)
}

// handleIncidentPostmortem stores a resolved incident's postmortem: PUT
// /api/v1/incidents/{id}/postmortem with {ja, en}.
func (s *Server) handleIncidentPostmortem(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct{ JA, EN string }
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.setPostmortem(r, p, r.PathValue("id"), req.JA, req.EN); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setPostmortem stores a resolved incident's postmortem for staff, from
// the API or the console: in both languages, recorded in the ledger
// first; the store refuses an incident not resolved.
func (s *Server) setPostmortem(r *http.Request, p *principal, id, ja, en string) error {
	defer s.statusCache.clear()
	if strings.TrimSpace(ja) == "" || strings.TrimSpace(en) == "" {
		return slokeeper.Errorf(slokeeper.EINVALID, "A postmortem is written in Japanese and in English (ja, en).")
	}
	if err := s.Audit(r.Context(), p.actor(), "incident.postmortem", "incident:"+id, ""); err != nil {
		return err
	}
	return s.Incidents.SetPostmortem(r.Context(), id, ja, en)
}
