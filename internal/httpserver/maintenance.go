package httpserver

import (
	"net/http"
	"time"

	"slokeeper"
)

// maintenanceView is a window with its state, as the API shows it.
type maintenanceView struct {
	*slokeeper.Maintenance
	State string `json:"state"`
}

// handleMaintenanceIndex lists the windows not cancelled that end after
// 90 days ago (?all=1: every window, cancelled ones too), for anyone: the
// status page shows them.
func (s *Server) handleMaintenanceIndex(w http.ResponseWriter, r *http.Request) {
	now := s.Clock.Now()
	ms, err := s.Schedule.Recent(r.Context())
	if r.URL.Query().Get("all") != "" {
		ms, err = s.Schedule.Store.FindMaintenances(r.Context(), slokeeper.MaintenanceFilter{})
	}
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	out := make([]maintenanceView, len(ms))
	for i, m := range ms {
		out[i] = maintenanceView{m, m.State(now)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"maintenances": out})
}

// handleMaintenanceCreate schedules a window: POST /api/v1/maintenances
// with {components, title_ja, title_en, body_ja, body_en, start, end,
// emergency, reason}. A planned window with too little notice is refused
// with the earliest start allowed.
func (s *Server) handleMaintenanceCreate(w http.ResponseWriter, r *http.Request, p *principal) {
	defer s.statusCache.clear()
	var m slokeeper.Maintenance
	if err := decode(w, r, &m); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	created, err := s.Schedule.Schedule(r.Context(), p.actor(), &m)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"maintenance": maintenanceView{created, created.State(s.Clock.Now())}})
}

// handleMaintenanceReschedule moves a window: POST
// /api/v1/maintenances/{id}/reschedule with {start, end, reason}; the
// reason is optional and recorded in the ledger.
func (s *Server) handleMaintenanceReschedule(w http.ResponseWriter, r *http.Request, p *principal) {
	defer s.statusCache.clear()
	var req struct {
		Start, End time.Time
		Reason     string
	}
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	m, err := s.Schedule.Reschedule(r.Context(), p.actor(), r.PathValue("id"), req.Start, req.End, req.Reason)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"maintenance": maintenanceView{m, m.State(s.Clock.Now())}})
}

func (s *Server) handleMaintenanceCancel(w http.ResponseWriter, r *http.Request, p *principal) {
	defer s.statusCache.clear()
	m, err := s.Schedule.Cancel(r.Context(), p.actor(), r.PathValue("id"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"maintenance": maintenanceView{m, m.State(s.Clock.Now())}})
}
