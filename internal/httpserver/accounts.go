package httpserver

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"slokeeper"
	"slokeeper/internal/vault"
)

// The account and access API. Handlers parse, call the vault (which
// enforces roles, grants and the audit ledger) and render.

func actor(p *principal) vault.Actor { return vault.Actor{Operator: p.op, Label: p.actor()} }

func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		return slokeeper.Errorf(slokeeper.EINVALID, "The body is not the JSON this call takes: %v.", err)
	}
	return nil
}

func (s *Server) handleAccountCreate(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct{ ID, Name string }
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	a, err := s.Vault.CreateAccount(r.Context(), actor(p), req.ID, req.Name)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"account": a})
}

// handleItemPut stores an item: PUT /api/v1/accounts/{id}/{kind}/{key},
// the body being the value (JSON for documents, anything for the others).
func (s *Server) handleItemPut(w http.ResponseWriter, r *http.Request, p *principal) {
	kind := kindOf(r)
	limit, ok := slokeeper.ItemLimits[kind]
	if !ok {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "No such kind of account data: %q.", r.PathValue("kind")))
		return
	}
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	if err != nil {
		Error(w, r, s.Logger, bodyError(err, int64(limit)))
		return
	}
	it, err := s.Vault.PutItem(r.Context(), actor(p), r.PathValue("id"), kind, r.PathValue("key"), value)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"item": it})
}

// kindOf maps the URL's plural to an item kind.
func kindOf(r *http.Request) string {
	return map[string]string{"documents": slokeeper.ItemDocument, "data": slokeeper.ItemData, "credentials": slokeeper.ItemCredential}[r.PathValue("kind")]
}

func (s *Server) handleItemGet(w http.ResponseWriter, r *http.Request, p *principal) {
	value, it, err := s.Vault.GetItem(r.Context(), actor(p), r.PathValue("id"), kindOf(r), r.PathValue("key"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Last-Modified", it.UpdatedAt.Format(http.TimeFormat))
	w.Header().Set("Cache-Control", "no-store")
	if it.Kind == slokeeper.ItemDocument {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Write(value)
}

func (s *Server) handleItemIndex(w http.ResponseWriter, r *http.Request, p *principal) {
	items, err := s.Vault.ListItems(r.Context(), actor(p), r.PathValue("id"), kindOf(r))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if items == nil {
		items = []*slokeeper.AccountItem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) handleAccountDelete(w http.ResponseWriter, r *http.Request, p *principal) {
	a, err := s.Vault.RequestDeletion(r.Context(), actor(p), r.PathValue("id"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"account": a})
}

func (s *Server) handleAccountCancelDeletion(w http.ResponseWriter, r *http.Request, p *principal) {
	a, err := s.Vault.CancelDeletion(r.Context(), actor(p), r.PathValue("id"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": a})
}

func (s *Server) handleGrantCreate(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct {
		Account, Scope, Reason string
		Duration               string // e.g. "2h"
	}
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "duration %q is not a duration like 2h or 30m.", req.Duration))
		return
	}
	g, err := s.Vault.RequestGrant(r.Context(), actor(p), req.Account, req.Scope, req.Reason, d)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.writeGrants(w, r, http.StatusCreated, "grant", g)
}

func (s *Server) handleGrantApprove(w http.ResponseWriter, r *http.Request, p *principal) {
	g, err := s.Vault.ApproveGrant(r.Context(), actor(p), r.PathValue("id"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.writeGrants(w, r, http.StatusOK, "grant", g)
}

func (s *Server) handleGrantRevoke(w http.ResponseWriter, r *http.Request, p *principal) {
	if err := s.Vault.RevokeGrant(r.Context(), actor(p), r.PathValue("id")); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleGrantIndex(w http.ResponseWriter, r *http.Request, p *principal) {
	gs, err := s.Vault.Grants(r.Context(), actor(p), r.URL.Query().Get("account"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.writeGrants(w, r, http.StatusOK, "grants", gs...)
}

// grantNames are the names of the people and accounts grants name, by ID.
type grantNames struct {
	Operators map[string]string `json:"operators"`
	Accounts  map[string]string `json:"accounts"`
}

// writeGrants answers one grant (key "grant") or a list ("grants") with
// the names of the operators and accounts they name ("names"), so that a
// reader shows people and accounts, not IDs.
func (s *Server) writeGrants(w http.ResponseWriter, r *http.Request, status int, key string, gs ...*slokeeper.Grant) {
	ctx := r.Context()
	names := grantNames{Operators: map[string]string{}, Accounts: map[string]string{}}
	ops, err := s.operatorNames(ctx)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	for _, g := range gs {
		for _, id := range []string{g.OperatorID, g.ApproverID} {
			if n, ok := ops[id]; ok {
				names.Operators[id] = n
			}
		}
		if s.Accounts != nil {
			if _, ok := names.Accounts[g.Account]; !ok {
				as, err := s.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{ID: g.Account})
				if err != nil {
					Error(w, r, s.Logger, err)
					return
				}
				if len(as) == 1 {
					names.Accounts[g.Account] = as[0].Name
				}
			}
		}
	}
	var v any = gs
	if key == "grant" {
		v = gs[0]
	} else if gs == nil {
		v = []*slokeeper.Grant{}
	}
	writeJSON(w, status, map[string]any{key: v, "names": names})
}
