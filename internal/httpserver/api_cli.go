package httpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
)

// CLI sign-in tokens: `slokeeper login` exchanges a password (and TOTP
// code) for an API token of this lifetime unless it asks for less.
const (
	DefaultCLITokenTTL = 7 * 24 * time.Hour
	MaxCLITokenTTL     = 30 * 24 * time.Hour
)

// registerCLIRoutes adds the routes the command line signs in with.
func (s *Server) registerCLIRoutes(mux *routeMux) {
	mux.HandleFunc("POST /api/v1/auth/tokens", s.handleTokenLogin)
	mux.HandleFunc("DELETE /api/v1/auth/token", s.handleTokenLogout)
	mux.HandleFunc("POST "+totpEnrolPath, s.requireOperator(nil, s.handleTOTPStart))
	mux.HandleFunc("POST "+totpConfirmPath, s.requireOperator(nil, s.handleTOTPConfirm))
	s.registerOperatorRoutes(mux)
}

type tokenLoginRequest struct {
	loginRequest
	Label   string `json:"label"`   // shown in token lists: "cli carol@laptop"
	Scope   string `json:"scope"`   // read or write; write by default
	Expires string `json:"expires"` // a Go duration such as 12h; 7 days by default, at most 30
	// NewPassword replaces a one-time password (the first administrator's,
	// a new or reset operator's) in the same sign-in.
	NewPassword string `json:"new_password"`
}

// PasswordChangeHeader is set on the 403 that refuses a command-line
// sign-in whose password must be changed first, so that the CLI asks for
// a new one instead of giving up.
const PasswordChangeHeader = "Slokeeper-Password-Change"

// handleTokenLogin is the command line's sign-in: POST /api/v1/auth/tokens
// with {"name", "password", "totp", "label", "scope", "expires"} answers a
// new API token, shown this once. It goes the way a browser sign-in goes
// (the hashing gate, the per-name-and-address lockout, the TOTP step burnt,
// failures into the ledger), and the token's creation is in the ledger.
func (s *Server) handleTokenLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	var req tokenLoginRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLoginBody)).Decode(&req); err != nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, `Send {"name", "password", "totp", "scope", "expires"} as JSON.`))
		return
	}
	if req.Scope == "" {
		req.Scope = slokeeper.TokenScopeWrite
	}
	if err := slokeeper.ValidTokenScope(req.Scope); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	ttl := DefaultCLITokenTTL
	if req.Expires != "" {
		d, err := time.ParseDuration(req.Expires)
		if err != nil || d < time.Minute || d > MaxCLITokenTTL {
			Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "expires %q must be a duration between 1m and %s, such as 12h.", req.Expires, MaxCLITokenTTL))
			return
		}
		ttl = d
	}
	if len([]rune(req.Label)) > 100 {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "The label may have at most 100 characters."))
		return
	}
	var op *slokeeper.Operator
	err := s.attempt(w, r, "login", req.Name, "anonymous", func(ctx context.Context) error {
		var err error
		op, err = s.checkCredentials(ctx, req.loginRequest, s.Clock.Now())
		return err
	})
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	ctx, now, host := r.Context(), s.Clock.Now(), remoteHost(r)
	if op.MustChangePassword {
		if req.NewPassword == "" {
			w.Header().Set(PasswordChangeHeader, "required")
			Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EFORBIDDEN, "Change your password first: slokeeper login asks for a new one (new_password), or sign in to the console."))
			return
		}
		// The same rule as the console's and POST /api/v1/auth/password:
		// at least 12 characters, not the old one, in the ledger, the
		// operator's sessions ended.
		if err := s.changePassword(w, r, &principal{op: op}, req.Password, req.NewPassword); err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		op.MustChangePassword = false
	}
	if op.MustEnrolTOTP {
		// Signed in, but the token does nothing but enrol until then
		// (requireOperator); the header tells the CLI to offer it.
		w.Header().Set(TOTPEnrolHeader, "required")
	}
	label := req.Label
	if label == "" {
		label = "cli"
	}
	token := auth.NewToken(slokeeper.OperatorTokenPrefix)
	t := &slokeeper.APIToken{ID: "tok_" + auth.NewToken("")[:12], OperatorID: op.ID, Name: label, Scope: req.Scope,
		TokenHash: slokeeper.HashToken(token), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	actor := "operator:" + op.Name + "@" + host
	if err := s.Audit(ctx, actor, "login", "operator:"+op.Name, "command line"); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Audit(ctx, actor, "token.create", "operator:"+op.Name,
		fmt.Sprintf("%s (%s scope, until %s, command-line sign-in)", t.ID, t.Scope, t.ExpiresAt.Format(time.RFC3339))); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Operators.CreateAPIToken(ctx, t); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": token, "id": t.ID, "scope": t.Scope, "expires_at": t.ExpiresAt, "operator": op})
}

// handleTokenLogout revokes the bearer token the request carries:
// DELETE /api/v1/auth/token, for `slokeeper logout`. Like every change, it
// takes a write-scoped token (authenticate); a read token is revoked by an
// admin (POST /api/v1/tokens/{id}/revoke) or runs out.
func (s *Server) handleTokenLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	p, err := s.authenticate(r)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if p.token == nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "Send the API token to revoke as \"Authorization: Bearer sko_…\"; a browser session signs out with POST /api/v1/auth/logout."))
		return
	}
	if err := s.Audit(r.Context(), p.actor(), "token.revoke", "token:"+p.token.ID, "command-line sign-out"); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Operators.RevokeAPIToken(r.Context(), p.token.ID, s.Clock.Now()); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
