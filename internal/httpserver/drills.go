package httpserver

import (
	"context"
	"net/http"
	"strconv"

	"slokeeper"
)

// ActionRestoreDrill is the evidence action restore drills record.
const ActionRestoreDrill = "restore_drill"

// drillReaders may read drills: staff and the auditor.
var drillReaders = consoleRoles

// DrillRequest asks for a restore drill now (POST /api/v1/backups/drills);
// zero fields take the policy's values.
type DrillRequest struct {
	Class  string `json:"class,omitempty"`
	Sample int    `json:"sample,omitempty"`
	Seed   uint64 `json:"seed,omitempty"`
}

// DrillItem is one backup a drill restored, or a class that could not be
// drilled (Backup empty); its evidence is recorded.
type DrillItem struct {
	Class      string `json:"class"`
	Backup     string `json:"backup,omitempty"`
	Subject    string `json:"subject"`
	Seed       uint64 `json:"seed"`
	OK         bool   `json:"ok"`
	Cause      string `json:"cause,omitempty"`
	Records    int64  `json:"records"`
	DurationMS int64  `json:"duration_ms"`
}

// Driller runs restore drills (cmd/slokeeper over the executor).
type Driller interface {
	Drill(ctx context.Context, req DrillRequest) ([]DrillItem, error)
}

func (s *Server) registerDrillRoutes(mux *routeMux) {
	if s.Drills == nil {
		return
	}
	mux.HandleFunc("POST /api/v1/backups/drills", s.requireOperator(opsActors, s.handleDrillCreate))
	mux.HandleFunc("GET /api/v1/backups/drills", s.requireOperator(drillReaders, s.handleDrillIndex))
}

// handleDrillCreate is POST /api/v1/backups/drills: drill now, as the
// signed-in operator, whom the ledger records.
func (s *Server) handleDrillCreate(w http.ResponseWriter, r *http.Request, p *principal) {
	var req DrillRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			Error(w, r, s.Logger, err)
			return
		}
	}
	detail := "drill now: class " + req.Class + " sample " + strconv.Itoa(req.Sample) + " seed " + strconv.FormatUint(req.Seed, 10)
	if err := s.Audit(r.Context(), p.actor(), "backup.drill", "backups", detail); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	items, err := s.Drills.Drill(r.Context(), req)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"drills": items})
}

// handleDrillIndex is GET /api/v1/backups/drills: the restore_drill
// evidence, newest last (?limit=, default 100).
func (s *Server) handleDrillIndex(w http.ResponseWriter, r *http.Request, p *principal) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "limit %q is not a number from 1 to 10000.", v))
			return
		}
		limit = n
	}
	f := slokeeper.EvidenceFilter{Action: ActionRestoreDrill, Limit: 1}
	_, total, err := s.Evidence.FindEvidence(r.Context(), f)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	f.Limit, f.Offset = limit, max(total-limit, 0)
	ev, _, err := s.Evidence.FindEvidence(r.Context(), f)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if ev == nil {
		ev = []*slokeeper.Evidence{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"drills": ev, "total": total})
}
