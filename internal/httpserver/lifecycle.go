package httpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// The lifecycle plan, the backups and restore requests, for the API and
// the console. Reading is for every staff role; verifying a backup,
// asking for a pass and requesting a restore are for admins and
// operators. A restore over live data is never done from here: a request
// is recorded in the ledger, and an admin holding the master key runs the
// command it shows.

// Lifecycle is what the server sees of the lifecycle engine and the
// backup catalog (cmd/slokeeper implements it over the executor and the
// job queue the running node has).
type Lifecycle interface {
	// Plan returns what a pass would do at at, held erasures included.
	Plan(ctx context.Context, at time.Time) ([]lifecycle.Action, error)
	// Backups lists the catalog.
	Backups(ctx context.Context, f slokeeper.BackupFilter) ([]*slokeeper.BackupRecord, error)
	// Sets returns the log backup sets the policy names at at.
	Sets(ctx context.Context, at time.Time) ([]lifecycle.Set, error)
	// VerifyBackup reads a backup back and checks it now (evidence of the
	// outcome either way); the caller has recorded who asked.
	VerifyBackup(ctx context.Context, id string) (*slokeeper.BackupRecord, error)
	// RequestPass asks the node's job queue for a lifecycle pass, or joins
	// the one waiting or running.
	RequestPass(ctx context.Context) (*PassJob, error)
	// Pass returns a requested pass's state (and, once ended, its report).
	Pass(ctx context.Context, id int64) (*PassJob, error)
}

// PassJob is a requested lifecycle pass on the job queue.
type PassJob struct {
	ID       int64     `json:"id"`
	Joined   bool      `json:"joined,omitempty"` // a pass already waiting or running
	State    string    `json:"state"`            // the job queue's: available, running, completed, discarded, …
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Report is the pass's results once it has ended: each action with
	// its outcome (cmd/slokeeper's passReport).
	Report json.RawMessage `json:"report,omitempty"`
	Errors []string        `json:"errors,omitempty"`
}

// PlanItem is a planned action as the API answers it.
type PlanItem struct {
	Kind     string      `json:"kind"`
	Class    string      `json:"class"`
	Account  string      `json:"account,omitempty"`
	Day      string      `json:"day,omitempty"`
	BackupID string      `json:"backup_id,omitempty"`
	Subject  string      `json:"subject"`
	Clause   string      `json:"clause"`
	Due      time.Time   `json:"due,omitzero"`
	Deadline time.Time   `json:"deadline,omitzero"`
	State    string      `json:"state"` // due, held or late
	Reason   policy.Text `json:"reason"`
}

// Action is the item as the planner has it.
func (p PlanItem) Action() lifecycle.Action {
	return lifecycle.Action{Kind: p.Kind, Class: p.Class, Account: p.Account, Day: p.Day, BackupID: p.BackupID,
		Clause: p.Clause, Due: p.Due, Deadline: p.Deadline, Reason: p.Reason}
}

func planItem(a lifecycle.Action, now time.Time) PlanItem {
	return PlanItem{Kind: a.Kind, Class: a.Class, Account: a.Account, Day: a.Day, BackupID: a.BackupID, Subject: a.Subject(),
		Clause: a.Clause, Due: a.Due, Deadline: a.Deadline, State: a.State(now), Reason: a.Reason}
}

// BackupSet is a log backup set as the API answers it.
type BackupSet struct {
	Class    string    `json:"class"`
	Period   string    `json:"period"`
	Days     int       `json:"days"`
	Verified int       `json:"verified"`
	State    string    `json:"state"` // open, complete or incomplete
	Created  time.Time `json:"created,omitzero"`
	Keep     time.Time `json:"keep,omitzero"`
	Erase    time.Time `json:"erase,omitzero"`
}

// Set is the set as the planner has it.
func (b BackupSet) Set() lifecycle.Set {
	return lifecycle.Set{Class: b.Class, Period: b.Period, Days: b.Days, Verified: b.Verified, State: b.State, Created: b.Created, Keep: b.Keep, Erase: b.Erase}
}

func backupSet(s lifecycle.Set) BackupSet {
	return BackupSet{s.Class, s.Period, s.Days, s.Verified, s.State, s.Created, s.Keep, s.Erase}
}

// RestoreRequest is a request to restore a backup, as the ledger has it.
type RestoreRequest struct {
	Seq     int64     `json:"seq"` // the ledger entry
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Backup  string    `json:"backup"`
	Subject string    `json:"subject"` // system/2026-12-03, account:acme, …
	Reason  string    `json:"reason"`
	// State is pending until the ledger records a restore of the backup
	// after the request (the command below, run by an admin): restored.
	State string `json:"state"`
	// Command is what an admin with the master key runs on the server.
	Command string `json:"command"`
}

// Restore request states.
const (
	RestorePending  = "pending"
	RestoreRestored = "restored"
)

// Ledger actions of restore requests and of restores.
const (
	actionRestoreRequest = "backup.restore_request"
	actionRestore        = "backup.restore"
)

var (
	opsReaders = consoleRoles
	opsActors  = []string{slokeeper.RoleAdmin, slokeeper.RoleOperator}
)

// registerLifecycleRoutes adds the lifecycle, backup and policy routes of
// the API and the console (none without a Lifecycle).
func (s *Server) registerLifecycleRoutes(mux *routeMux) {
	mux.HandleFunc("GET /admin/policy", s.handleConsolePolicy)
	if s.Lifecycle == nil {
		return
	}
	mux.HandleFunc("GET /api/v1/lifecycle/plan", s.requireOperator(opsReaders, s.handlePlan))
	mux.HandleFunc("POST /api/v1/lifecycle/runs", s.requireOperator(opsActors, s.handlePassCreate))
	mux.HandleFunc("GET /api/v1/lifecycle/runs/{id}", s.requireOperator(opsReaders, s.handlePassGet))
	mux.HandleFunc("GET /api/v1/backups", s.requireOperator(opsReaders, s.handleBackupIndex))
	mux.HandleFunc("GET /api/v1/backups/sets", s.requireOperator(opsReaders, s.handleBackupSets))
	mux.HandleFunc("POST /api/v1/backups/{id}/verify", s.requireOperator(opsActors, s.handleBackupVerify))
	mux.HandleFunc("POST /api/v1/restore-requests", s.requireOperator(opsActors, s.handleRestoreRequestCreate))
	mux.HandleFunc("GET /api/v1/restore-requests", s.requireOperator(opsReaders, s.handleRestoreRequestIndex))
	mux.HandleFunc("GET /admin/lifecycle", s.handleConsoleLifecycle)
	mux.HandleFunc("POST /admin/lifecycle/runs", s.opsAction("lifecycle", s.consolePassCreate))
	mux.HandleFunc("GET /admin/backups", s.handleConsoleBackups)
	mux.HandleFunc("POST /admin/backups/{id}/verify", s.opsAction("backups", s.consoleBackupVerify))
	mux.HandleFunc("POST /admin/restore-requests", s.opsAction("backups", s.consoleRestoreRequest))
}

// planAt is the time a plan is asked for: ?at= (RFC 3339 or a day, at
// midnight in the policy's zone), else now.
func (s *Server) planAt(r *http.Request) (time.Time, error) {
	at := r.URL.Query().Get("at")
	if at == "" {
		return s.Clock.Now(), nil
	}
	if t, err := time.Parse(time.RFC3339, at); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, at, s.Policy.Location()); err == nil {
		return t, nil
	}
	return time.Time{}, slokeeper.Errorf(slokeeper.EINVALID, "at %q is neither RFC 3339 nor YYYY-MM-DD.", at)
}

// plan is the plan at at, each action with its state.
func (s *Server) plan(ctx context.Context, at time.Time) ([]PlanItem, error) {
	actions, err := s.Lifecycle.Plan(ctx, at)
	if err != nil {
		return nil, err
	}
	items := make([]PlanItem, 0, len(actions))
	for _, a := range actions {
		items = append(items, planItem(a, at))
	}
	return items, nil
}

// handlePlan is GET /api/v1/lifecycle/plan[?at=TIME]: what is due, held
// and late, and why.
func (s *Server) handlePlan(w http.ResponseWriter, r *http.Request, p *principal) {
	at, err := s.planAt(r)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	items, err := s.plan(r.Context(), at)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"at": at, "actions": items})
}

// requestPass records who asked, then asks for a pass.
func (s *Server) requestPass(ctx context.Context, p *principal) (*PassJob, error) {
	if err := s.Audit(ctx, p.actor(), "lifecycle.run", "logs", "a pass asked of the server's job queue"); err != nil {
		return nil, err
	}
	return s.Lifecycle.RequestPass(ctx)
}

// handlePassCreate is POST /api/v1/lifecycle/runs: a pass now, queued
// (or the one waiting or running, joined). 202: poll its URL.
func (s *Server) handlePassCreate(w http.ResponseWriter, r *http.Request, p *principal) {
	job, err := s.requestPass(r.Context(), p)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"run": job})
}

func (s *Server) handlePassGet(w http.ResponseWriter, r *http.Request, p *principal) {
	id, err := parseJobID(r.PathValue("id"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	job, err := s.Lifecycle.Pass(r.Context(), id)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"run": job})
}

func parseJobID(s string) (int64, error) {
	var id int64
	if err := json.Unmarshal([]byte(s), &id); err != nil || id <= 0 {
		return 0, slokeeper.Errorf(slokeeper.ENOTFOUND, "No lifecycle run %q.", s)
	}
	return id, nil
}

// backupFilter is the ?class=&account=&day=&all= of a backup list.
func backupFilter(r *http.Request) slokeeper.BackupFilter {
	v := r.URL.Query()
	all := v.Get("all")
	return slokeeper.BackupFilter{Class: v.Get("class"), Account: v.Get("account"), Day: v.Get("day"),
		IncludeErased: all == "1" || all == "true", SkipManifest: true}
}

// handleBackupIndex is GET /api/v1/backups[?class=&account=&day=&all=1].
func (s *Server) handleBackupIndex(w http.ResponseWriter, r *http.Request, p *principal) {
	recs, err := s.Lifecycle.Backups(r.Context(), backupFilter(r))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if recs == nil {
		recs = []*slokeeper.BackupRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"backups": recs})
}

// handleBackupSets is GET /api/v1/backups/sets[?class=]: the sets the
// policy names and how complete each is.
func (s *Server) handleBackupSets(w http.ResponseWriter, r *http.Request, p *principal) {
	sets, err := s.backupSets(r.Context(), r.URL.Query().Get("class"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sets": sets})
}

func (s *Server) backupSets(ctx context.Context, class string) ([]BackupSet, error) {
	sets, err := s.Lifecycle.Sets(ctx, s.Clock.Now())
	if err != nil {
		return nil, err
	}
	out := []BackupSet{}
	for _, st := range sets {
		if class == "" || st.Class == class {
			out = append(out, backupSet(st))
		}
	}
	return out, nil
}

// verifyBackup records who asked, then verifies the backup.
func (s *Server) verifyBackup(ctx context.Context, p *principal, id string) (*slokeeper.BackupRecord, error) {
	if _, err := s.findBackup(ctx, id); err != nil {
		return nil, err
	}
	if err := s.Audit(ctx, p.actor(), "backup.verify", "backup:"+id, "verify now"); err != nil {
		return nil, err
	}
	return s.Lifecycle.VerifyBackup(ctx, id)
}

// handleBackupVerify is POST /api/v1/backups/{id}/verify: read it back
// and check everything now.
func (s *Server) handleBackupVerify(w http.ResponseWriter, r *http.Request, p *principal) {
	b, err := s.verifyBackup(r.Context(), p, r.PathValue("id"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"backup": b})
}

func (s *Server) findBackup(ctx context.Context, id string) (*slokeeper.BackupRecord, error) {
	recs, err := s.Lifecycle.Backups(ctx, slokeeper.BackupFilter{ID: id, IncludeErased: true, SkipManifest: true})
	if err != nil {
		return nil, err
	}
	if id == "" || len(recs) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No backup %q in the catalog.", id)
	}
	return recs[0], nil
}

// requestRestore records a restore request in the ledger: who, which
// backup, why. Nothing is restored from here.
func (s *Server) requestRestore(ctx context.Context, p *principal, id, reason string) (*RestoreRequest, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "Say why the backup is to be restored.")
	}
	if len([]rune(reason)) > 500 {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The reason may have at most 500 characters.")
	}
	b, err := s.findBackup(ctx, id)
	if err != nil {
		return nil, err
	}
	if !b.ErasedAt.IsZero() {
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Backup %s is erased; it cannot be restored.", id)
	}
	if err := s.Audit(ctx, p.actor(), actionRestoreRequest, "backup:"+id, reason); err != nil {
		return nil, err
	}
	return &RestoreRequest{At: s.Clock.Now(), Actor: p.actor(), Backup: id, Subject: backupSubject(b), Reason: reason,
		State: RestorePending, Command: restoreCommand(b)}, nil
}

func backupSubject(b *slokeeper.BackupRecord) string {
	return lifecycle.Action{Class: b.Class, Account: b.Account, Day: b.Day}.Subject()
}

// restoreCommand is the command an admin runs on the server for b: a
// log day into a new data directory, an account's snapshot over the
// account. DIR is a new, empty data directory.
func restoreCommand(b *slokeeper.BackupRecord) string {
	if b.Account != "" {
		return "slokeeper backup restore " + b.ID + " --replace"
	}
	return "slokeeper backup restore " + b.ID + " --into DIR"
}

// restoreRequests reads the requests from the ledger, newest first; a
// request is restored once a restore of its backup follows it.
func (s *Server) restoreRequests(ctx context.Context) ([]*RestoreRequest, error) {
	if s.AuditLog == nil {
		return []*RestoreRequest{}, nil
	}
	var reqs []*RestoreRequest
	err := s.AuditLog.EachAuditEntry(ctx, 1, 0, func(e *slokeeper.AuditEntry) error {
		switch e.Action {
		case actionRestoreRequest:
			reqs = append(reqs, &RestoreRequest{Seq: e.Seq, At: e.At, Actor: e.Actor, Backup: strings.TrimPrefix(e.Target, "backup:"),
				Reason: e.Detail, State: RestorePending})
		case actionRestore:
			for _, q := range reqs {
				// The command's entry: "…: bk_x into DIR" or "…: bk_x replaces …".
				if q.State == RestorePending && strings.Contains(e.Detail, ": "+q.Backup+" ") {
					q.State = RestoreRestored
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*RestoreRequest, 0, len(reqs))
	for i := len(reqs) - 1; i >= 0; i-- {
		q := reqs[i]
		if b, err := s.findBackup(ctx, q.Backup); err == nil {
			q.Subject, q.Command = backupSubject(b), restoreCommand(b)
		} else if slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// handleRestoreRequestCreate is POST /api/v1/restore-requests with
// {"backup": ID, "reason": "…"}.
func (s *Server) handleRestoreRequestCreate(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct{ Backup, Reason string }
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	q, err := s.requestRestore(r.Context(), p, req.Backup, req.Reason)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"restore_request": q})
}

// handleRestoreRequestIndex is GET /api/v1/restore-requests.
func (s *Server) handleRestoreRequestIndex(w http.ResponseWriter, r *http.Request, p *principal) {
	reqs, err := s.restoreRequests(r.Context())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"restore_requests": reqs})
}
