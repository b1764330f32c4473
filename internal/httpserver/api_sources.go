package httpserver

import (
	"net/http"
	"strconv"

	"slokeeper"
)

// The log sources API, for admins and operators: list, add (the token
// shown this once) and revoke, each change in the ledger first. The
// command line's source commands go through it after slokeeper login.

func (s *Server) registerSourceRoutes(mux *routeMux) {
	mux.HandleFunc("GET /api/v1/sources", s.requireOperator(statusEditors, s.handleSourceIndex))
	mux.HandleFunc("POST /api/v1/sources", s.requireOperator(statusEditors, s.handleSourceCreate))
	mux.HandleFunc("POST /api/v1/sources/{id}/revoke", s.requireOperator(statusEditors, s.handleSourceRevoke))
	mux.HandleFunc("GET /api/v1/accounts", s.requireOperator(nil, s.handleAccountIndex))
}

// handleSourceIndex lists sources: GET /api/v1/sources?account=&all=1
// (all: revoked ones too). Only token hashes are stored; none is shown.
func (s *Server) handleSourceIndex(w http.ResponseWriter, r *http.Request, _ *principal) {
	q := r.URL.Query()
	srcs, err := s.Sources.FindSources(r.Context(), slokeeper.SourceFilter{Account: q.Get("account"), IncludeRevoked: q.Get("all") != ""})
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if srcs == nil {
		srcs = []*slokeeper.Source{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": srcs})
}

// handleSourceCreate adds a source: POST /api/v1/sources with {kind,
// account, name} answers the source and its bearer token, shown this
// once. A source for an account that does not exist, or is being
// deleted, is refused (slokeeper.NewSource).
func (s *Server) handleSourceCreate(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct{ Kind, Account, Name string }
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	ctx := r.Context()
	src, token, err := slokeeper.NewSource(ctx, s.Accounts, req.Kind, req.Account, req.Name, s.Clock.Now())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Audit(ctx, p.actor(), "source.add", "source:"+src.ID, "kind "+src.Kind+", account "+strconv.Quote(src.Account)+", name "+strconv.Quote(src.Name)); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Sources.CreateSource(ctx, src); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"source": src, "token": token})
}

// handleSourceRevoke revokes a source: POST /api/v1/sources/{id}/revoke.
// Servers stop taking its token within their source cache's lifetime.
func (s *Server) handleSourceRevoke(w http.ResponseWriter, r *http.Request, p *principal) {
	id := r.PathValue("id")
	ctx := r.Context()
	srcs, err := s.Sources.FindSources(ctx, slokeeper.SourceFilter{ID: id, IncludeRevoked: true})
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if len(srcs) == 0 {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "There is no source %q.", id))
		return
	}
	if err := s.Audit(ctx, p.actor(), "source.revoke", "source:"+id, ""); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Sources.RevokeSource(ctx, id, s.Clock.Now()); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"source": srcs[0].ID, "revoked": true})
}

// handleAccountIndex lists accounts with their state and deletion window
// (names and states, never their data): GET /api/v1/accounts?status=,
// for admin, operator and support staff.
func (s *Server) handleAccountIndex(w http.ResponseWriter, r *http.Request, p *principal) {
	as, err := s.Vault.Accounts(r.Context(), actor(p), r.URL.Query().Get("status"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if as == nil {
		as = []*slokeeper.Account{}
	}
	window := ""
	if d := s.Policy.Data.UserData.OnAccountDeletion; d != nil {
		window = d.CancelWindow.String()
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": as, "cancel_window": window})
}
