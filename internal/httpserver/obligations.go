package httpserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
	"slokeeper/obligation"
	"slokeeper/policy"
)

// The policy's periodic obligations (the access review, the internal
// audit): every staff role sees when each is due; an admin signs one off,
// with a note of who reviewed what, in the ledger and as evidence.

func (s *Server) registerObligationRoutes(mux *routeMux) {
	mux.HandleFunc("GET /api/v1/obligations", s.requireOperator(consoleRoles, s.handleObligationIndex))
	mux.HandleFunc("POST /api/v1/obligations/{kind}/signoff", s.requireOperator([]string{slokeeper.RoleAdmin}, s.handleObligationSignOff))
	mux.HandleFunc("GET /admin/obligations", s.handleConsoleObligations)
	mux.HandleFunc("POST /admin/obligations/{kind}/signoff", s.handleConsoleObligationSignOff)
}

// obligations is the status of each obligation now.
func (s *Server) obligations(ctx context.Context) ([]obligation.Status, error) {
	return obligation.Load(ctx, s.Policy, s.Evidence, s.AuditLog, s.Clock.Now())
}

// signOff records p's sign-off of kind with note: a ledger entry, then
// the evidence. For the access review it names the review signed off by
// its SHA-256 and size, so the ledger says what was reviewed.
func (s *Server) signOff(ctx context.Context, p *principal, kind, note string) (*slokeeper.Evidence, error) {
	if _, err := obligation.Find(s.Policy, kind); err != nil {
		return nil, err
	}
	now := s.Clock.Now()
	sts, err := obligation.Load(ctx, s.Policy, s.Evidence, s.AuditLog, now)
	if err != nil {
		return nil, err
	}
	var st obligation.Status
	for _, x := range sts {
		if x.Kind == kind {
			st = x
		}
	}
	digest := ""
	if kind == obligation.AccessReview && s.Accounts != nil && s.Grants != nil {
		rev, err := slokeeper.ReviewAccess(ctx, s.Operators, s.Accounts, s.Grants, s.AuditLog, now)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(rev)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		digest = fmt.Sprintf("access review of %d operators and %d grants, sha256:%s", len(rev.Operators), len(rev.Grants), hex.EncodeToString(sum[:]))
	}
	ev, err := obligation.SignOff(st, p.op.Name, note, digest, s.Node, now)
	if err != nil {
		return nil, err
	}
	if err := s.Audit(ctx, p.actor(), "obligation.signoff", "obligation:"+kind, ev.Detail); err != nil {
		return nil, err
	}
	if err := slokeeper.RecordEvidenceRetrying(ctx, s.Evidence, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// handleObligationIndex: GET /api/v1/obligations.
func (s *Server) handleObligationIndex(w http.ResponseWriter, r *http.Request, _ *principal) {
	sts, err := s.obligations(r.Context())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"obligations": sts})
}

// handleObligationSignOff: POST /api/v1/obligations/{kind}/signoff
// {"note"} answers the sign-off's evidence.
func (s *Server) handleObligationSignOff(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct{ Note string }
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	ev, err := s.signOff(r.Context(), p, r.PathValue("kind"), req.Note)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, ev)
}

// obligationsPage is /admin/obligations.
type obligationsPage struct {
	consoleBase
	Obligations []obligation.Status
	CanSign     bool
	loc         *time.Location
}

// When is t as the console writes times: 2026年12月3日(木) 10:00 JST.
func (p obligationsPage) When(t time.Time) string { return maintenance.JST(t, p.loc, p.Lang) }

// Every is a cadence for people: 3か月ごと, every 3 months.
func (p obligationsPage) Every(d policy.Duration) string {
	return p.T(policy.Span(d, "ja")+"ごと", "every "+policy.Span(d, "en"))
}

// StateText is a state for people.
func (p obligationsPage) StateText(state string) string {
	switch state {
	case obligation.StateOverdue:
		return p.T("期限超過", "Overdue")
	case obligation.StateDueSoon:
		return p.T("期限間近", "Due soon")
	}
	return p.T("期限内", "On schedule")
}

func (s *Server) handleConsoleObligations(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "obligations")
	if !ok {
		return
	}
	s.renderObligations(w, r, p, http.StatusOK, r.URL.Query().Get("done"), "")
}

func (s *Server) renderObligations(w http.ResponseWriter, r *http.Request, p *principal, status int, done, errText string) {
	l := lang(r)
	pg := obligationsPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "obligations", Error: errText},
		CanSign: p.op.Role == slokeeper.RoleAdmin, loc: s.Policy.Location()}
	pg.Title = pg.T("定期点検", "Periodic reviews")
	if done != "" {
		if o, err := obligation.Find(s.Policy, done); err == nil {
			pg.Done = pg.T(o.Name.JA+"の完了を記録しました。", o.Name.EN+" signed off.")
		}
	}
	var err error
	if pg.Obligations, err = s.obligations(r.Context()); err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	s.renderPrivate(w, r, status, "console-obligations.html", l, pg)
}

func (s *Server) handleConsoleObligationSignOff(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "obligations")
	if !ok {
		return
	}
	pg := page{Lang: lang(r)}
	if p.op.Role != slokeeper.RoleAdmin {
		s.renderObligations(w, r, p, http.StatusForbidden, "", pg.T("完了の記録には管理者の権限が必要です。", "Signing off needs the admin role."))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderObligations(w, r, p, http.StatusBadRequest, "", pg.T("フォームを読み取れませんでした。", "The form could not be read."))
		return
	}
	kind := r.PathValue("kind")
	if _, err := s.signOff(r.Context(), p, kind, r.PostFormValue("note")); err != nil {
		status, msg := s.formFailure(r, pg, err)
		s.renderObligations(w, r, p, status, "", msg)
		return
	}
	http.Redirect(w, r, "/admin/obligations?lang="+pg.Lang+"&done="+url.QueryEscape(kind), http.StatusSeeOther)
}
