package httpserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
)

// The operators API, for admins (the command line's operator commands go
// through it as the signed-in admin): the same validation and ledger
// entries as the direct-store commands had, with the admin as the actor.
func (s *Server) registerOperatorRoutes(mux *routeMux) {
	admins := []string{slokeeper.RoleAdmin}
	mux.HandleFunc("GET /api/v1/operators", s.requireOperator(admins, s.handleOperatorIndex))
	mux.HandleFunc("POST /api/v1/operators", s.requireOperator(admins, s.handleOperatorAdd))
	mux.HandleFunc("POST /api/v1/operators/{name}/role", s.requireOperator(admins, s.handleOperatorRole))
	mux.HandleFunc("POST /api/v1/operators/{name}/disable", s.requireOperator(admins, s.handleOperatorDisable))
	mux.HandleFunc("POST /api/v1/operators/{name}/enable", s.requireOperator(admins, s.handleOperatorEnable))
	mux.HandleFunc("POST /api/v1/operators/{name}/totp-reset", s.requireOperator(admins, s.handleOperatorTOTPReset))
	mux.HandleFunc("POST /api/v1/operators/{name}/password-reset", s.requireOperator(admins, s.handleOperatorReset))
	mux.HandleFunc("GET /api/v1/operators/{name}/tokens", s.requireOperator(admins, s.handleTokenIndex))
	mux.HandleFunc("POST /api/v1/operators/{name}/tokens", s.requireOperator(admins, s.handleTokenCreate))
	mux.HandleFunc("POST /api/v1/tokens/{id}/revoke", s.requireOperator(admins, s.handleTokenRevoke))
}

func (s *Server) findOperator(ctx context.Context, name string) (*slokeeper.Operator, error) {
	list, err := s.Operators.FindOperators(ctx, slokeeper.OperatorFilter{Name: name, IncludeDisabled: true})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No operator %q.", name)
	}
	return list[0], nil
}

func (s *Server) handleOperatorIndex(w http.ResponseWriter, r *http.Request, p *principal) {
	list, err := s.Operators.FindOperators(r.Context(), slokeeper.OperatorFilter{IncludeDisabled: r.URL.Query().Get("all") == "true"})
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	type row struct {
		*slokeeper.Operator
		TOTP bool `json:"totp"`
	}
	out := []row{}
	for _, o := range list {
		out = append(out, row{o, o.TOTPSecret != nil})
	}
	writeJSON(w, http.StatusOK, map[string]any{"operators": out})
}

// handleOperatorAdd: POST /api/v1/operators {"name", "role", "email"}
// answers the operator and a one-time password, shown this once.
func (s *Server) handleOperatorAdd(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct{ Name, Role, Email string }
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	password := auth.NewPassword()
	h, err := s.hashPassword(password)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	op := &slokeeper.Operator{ID: "op_" + auth.NewToken("")[:12], Name: req.Name, Role: req.Role, Email: req.Email,
		PasswordHash: h, MustChangePassword: true, CreatedAt: s.Clock.Now()}
	if err := op.Validate(); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Audit(r.Context(), p.actor(), "operator.add", "operator:"+op.Name, "role "+op.Role); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Operators.CreateOperator(r.Context(), op); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"operator": op, "password": password})
}

// handleOperatorRole: POST /api/v1/operators/{name}/role {"role"}.
func (s *Server) handleOperatorRole(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct{ Role string }
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	op, err := s.findOperator(r.Context(), r.PathValue("name"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	changed := *op
	changed.Role = req.Role
	if err := changed.Validate(); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if op.ID == p.op.ID && req.Role != slokeeper.RoleAdmin {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EFORBIDDEN, "You cannot take the admin role from yourself; another admin can."))
		return
	}
	if err := s.Audit(r.Context(), p.actor(), "operator.role", "operator:"+op.Name, op.Role+" → "+req.Role); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Operators.UpdateOperator(r.Context(), op.ID, slokeeper.OperatorUpdate{Role: &req.Role}); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"operator": &changed})
}

func (s *Server) handleOperatorDisable(w http.ResponseWriter, r *http.Request, p *principal) {
	op, err := s.findOperator(r.Context(), r.PathValue("name"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	now, err := s.disableOperator(r.Context(), p, op)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": op.Name, "disabled_at": now})
}

func (s *Server) handleOperatorEnable(w http.ResponseWriter, r *http.Request, p *principal) {
	op, err := s.findOperator(r.Context(), r.PathValue("name"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.enableOperator(r.Context(), p, op); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": op.Name, "enabled": true})
}

// handleOperatorTOTPReset turns an operator's two-factor sign-in off so
// they enrol again; it ends their sessions.
func (s *Server) handleOperatorTOTPReset(w http.ResponseWriter, r *http.Request, p *principal) {
	op, err := s.findOperator(r.Context(), r.PathValue("name"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.resetOperatorTOTP(r.Context(), p, op); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": op.Name, "totp": false})
}

// handleOperatorReset gives an operator a new one-time password, to be
// changed at sign-in, and ends their sessions.
func (s *Server) handleOperatorReset(w http.ResponseWriter, r *http.Request, p *principal) {
	op, err := s.findOperator(r.Context(), r.PathValue("name"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	password, err := s.resetOperator(r.Context(), p, op)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": op.Name, "password": password})
}

func (s *Server) handleTokenIndex(w http.ResponseWriter, r *http.Request, p *principal) {
	op, err := s.findOperator(r.Context(), r.PathValue("name"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	list, err := s.Operators.FindAPITokens(r.Context(), op.ID)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if list == nil {
		list = []*slokeeper.APIToken{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": list})
}

// handleTokenCreate: POST /api/v1/operators/{name}/tokens {"name",
// "scope", "expires"} (expires a Go duration, such as 720h) answers the
// token, shown this once.
func (s *Server) handleTokenCreate(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct{ Name, Scope, Expires string }
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	op, err := s.findOperator(r.Context(), r.PathValue("name"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := slokeeper.ValidTokenScope(req.Scope); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	d, err := time.ParseDuration(req.Expires)
	if err != nil || d <= 0 {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "expires %q is not a positive duration such as 720h.", req.Expires))
		return
	}
	if req.Name == "" || len([]rune(req.Name)) > 100 {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "Name the token (at most 100 characters): what it is for."))
		return
	}
	now := s.Clock.Now()
	token := auth.NewToken(slokeeper.OperatorTokenPrefix)
	t := &slokeeper.APIToken{ID: "tok_" + auth.NewToken("")[:12], OperatorID: op.ID, Name: req.Name, Scope: req.Scope,
		TokenHash: slokeeper.HashToken(token), CreatedAt: now, ExpiresAt: now.Add(d)}
	if err := s.Audit(r.Context(), p.actor(), "token.create", "operator:"+op.Name,
		fmt.Sprintf("%s (%s scope, until %s)", t.ID, t.Scope, t.ExpiresAt.Format(time.RFC3339))); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Operators.CreateAPIToken(r.Context(), t); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": token, "api_token": t})
}

func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request, p *principal) {
	id := r.PathValue("id")
	if err := s.Audit(r.Context(), p.actor(), "token.revoke", "token:"+id, ""); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Operators.RevokeAPIToken(r.Context(), id, s.Clock.Now()); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// disableOperator disables op for the admin p and ends op's sessions: the
// rule the API and the console both use. Nobody disables themselves.
func (s *Server) disableOperator(ctx context.Context, p *principal, op *slokeeper.Operator) (time.Time, error) {
	if op.ID == p.op.ID {
		return time.Time{}, slokeeper.Errorf(slokeeper.EFORBIDDEN, "You cannot disable yourself; another admin can.")
	}
	now := s.Clock.Now()
	if err := s.Audit(ctx, p.actor(), "operator.disable", "operator:"+op.Name, ""); err != nil {
		return time.Time{}, err
	}
	if err := s.Operators.UpdateOperator(ctx, op.ID, slokeeper.OperatorUpdate{DisabledAt: &now}); err != nil {
		return time.Time{}, err
	}
	return now, s.Operators.DeleteOperatorSessions(ctx, op.ID)
}

// resetOperator gives op a new one-time password, to be changed at
// sign-in, and ends op's sessions; it returns the password, shown once.
func (s *Server) resetOperator(ctx context.Context, p *principal, op *slokeeper.Operator) (string, error) {
	password := auth.NewPassword()
	h, err := s.hashPassword(password)
	if err != nil {
		return "", err
	}
	if err := s.Audit(ctx, p.actor(), "operator.passwd", "operator:"+op.Name, "reset to a one-time password"); err != nil {
		return "", err
	}
	yes := true
	if err := s.Operators.UpdateOperator(ctx, op.ID, slokeeper.OperatorUpdate{PasswordHash: &h, MustChangePassword: &yes}); err != nil {
		return "", err
	}
	return password, s.Operators.DeleteOperatorSessions(ctx, op.ID)
}

// enableOperator lets a disabled operator sign in again (admins): the
// rule the API, the console and the command line share. Their password
// and two-factor enrolment are as they were; an admin who fears the
// password leaked resets it as well. Enabling an active operator is
// refused (ECONFLICT), so the ledger holds only real changes.
func (s *Server) enableOperator(ctx context.Context, p *principal, op *slokeeper.Operator) error {
	if op.DisabledAt.IsZero() {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "Operator %q is not disabled.", op.Name)
	}
	if err := s.Audit(ctx, p.actor(), "operator.enable", "operator:"+op.Name, ""); err != nil {
		return err
	}
	var zero time.Time
	return s.Operators.UpdateOperator(ctx, op.ID, slokeeper.OperatorUpdate{DisabledAt: &zero})
}

// resetOperatorTOTP removes op's TOTP secret, obliges op to enrol again
// before doing anything else (MustEnrolTOTP: the password alone signs in
// to the enrolment and nothing more: /admin/totp, or slokeeper operator
// totp) and ends op's sessions. Nobody
// resets their own: that would let a stolen session drop the second
// factor; another admin can, and an admin who lost their app asks one.
// The last TOTP step used stays, so no code is accepted twice.
func (s *Server) resetOperatorTOTP(ctx context.Context, p *principal, op *slokeeper.Operator) error {
	if op.ID == p.op.ID {
		return slokeeper.Errorf(slokeeper.EFORBIDDEN, "You cannot reset your own two-factor sign-in; another admin can.")
	}
	if op.TOTPSecret == nil {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "Operator %q has no two-factor sign-in to reset.", op.Name)
	}
	if err := s.Audit(ctx, p.actor(), "operator.totp-reset", "operator:"+op.Name, "two-factor sign-in reset; enrolment needed again"); err != nil {
		return err
	}
	none, yes := []byte(nil), true
	if err := s.Operators.UpdateOperator(ctx, op.ID, slokeeper.OperatorUpdate{TOTPSecret: &none, MustEnrolTOTP: &yes}); err != nil {
		return err
	}
	return s.Operators.DeleteOperatorSessions(ctx, op.ID)
}
