package httpserver

import (
	"context"
	"net/http"
	"strconv"
	"time"

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
	mux.HandleFunc("POST /admin/backups/drills", s.opsAction("backups", s.consoleDrill))
}

// consoleDrills is how many recent drills /admin/backups shows.
const consoleDrills = 20

// drillRow is a drill as /admin/backups lists it.
type drillRow struct {
	When, Subject, Outcome, Duration, Detail string
	OK                                       bool
}

// drillRows is the recent drills for the console, newest first.
func (s *Server) drillRows(ctx context.Context, l string) ([]drillRow, error) {
	if s.Drills == nil {
		return nil, nil
	}
	ev, _, err := s.recentDrills(ctx, consoleDrills)
	if err != nil {
		return nil, err
	}
	var rows []drillRow
	for i := len(ev) - 1; i >= 0; i-- {
		e := ev[i]
		rows = append(rows, drillRow{When: s.when(e.At, l), Subject: e.Subject, Outcome: e.Outcome, OK: e.Outcome == slokeeper.OutcomeOK,
			Duration: e.Duration.Round(time.Millisecond).String(), Detail: e.Detail})
	}
	return rows, nil
}

// consoleDrill drills now from /admin/backups: the class chosen, or
// every class, with the policy's sample.
func (s *Server) consoleDrill(r *http.Request, p *principal) (string, error) {
	items, err := s.drill(r.Context(), p, DrillRequest{Class: r.PostForm.Get("class")})
	if err != nil {
		return "", err
	}
	failed := 0
	for _, it := range items {
		if !it.OK {
			failed++
		}
	}
	return "done=drilled&n=" + strconv.Itoa(len(items)) + "&failed=" + strconv.Itoa(failed), nil
}

// drill drills now as p, whom the ledger records first: one rule for
// the API and the console.
func (s *Server) drill(ctx context.Context, p *principal, req DrillRequest) ([]DrillItem, error) {
	detail := "drill now: class " + req.Class + " sample " + strconv.Itoa(req.Sample) + " seed " + strconv.FormatUint(req.Seed, 10)
	if err := s.Audit(ctx, p.actor(), "backup.drill", "backups", detail); err != nil {
		return nil, err
	}
	return s.Drills.Drill(ctx, req)
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
	items, err := s.drill(r.Context(), p, req)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"drills": items})
}

// recentDrills is the newest limit restore_drill evidence rows, oldest
// first, and how many there are in all.
func (s *Server) recentDrills(ctx context.Context, limit int) ([]*slokeeper.Evidence, int, error) {
	f := slokeeper.EvidenceFilter{Action: ActionRestoreDrill, Limit: 1}
	_, total, err := s.Evidence.FindEvidence(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	f.Limit, f.Offset = limit, max(total-limit, 0)
	ev, _, err := s.Evidence.FindEvidence(ctx, f)
	return ev, total, err
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
	ev, total, err := s.recentDrills(r.Context(), limit)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if ev == nil {
		ev = []*slokeeper.Evidence{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"drills": ev, "total": total})
}
