package httpserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"slokeeper"
	"slokeeper/internal/auth"
	"slokeeper/maintenance"
	"slokeeper/policy"
)

// The console's API tokens: one's own, with a scope (read or write) and
// an expiry; a new token is shown once, on the answer to the form. Only
// its hash is stored.

type tokensPage struct {
	consoleBase
	Tokens   []tokenRow
	New      string // the token just made, shown once
	Expiries []string
}

type tokenRow struct {
	*slokeeper.APIToken
	Created, Expires, Revoked string
	Live                      bool
}

var tokenExpiries = []string{"30d", "90d", "1y"}

func (s *Server) handleConsoleTokens(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "self")
	if !ok {
		return
	}
	done := ""
	if r.URL.Query().Get("done") == "revoked" {
		done = page{Lang: lang(r)}.T("トークンを失効させました。", "The token is revoked.")
	}
	s.renderTokens(w, r, p, http.StatusOK, done, "", "")
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, p *principal, status int, done, errText, token string) {
	l := lang(r)
	pg := tokensPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "tokens", Done: done, Error: errText}, New: token, Expiries: tokenExpiries}
	pg.Title = pg.T("API トークン", "API tokens")
	ts, err := s.Operators.FindAPITokens(r.Context(), p.op.ID)
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	for _, t := range ts {
		pg.Tokens = append(pg.Tokens, s.tokenRow(t, l))
	}
	s.renderPrivate(w, r, status, "console-tokens.html", l, pg)
}

// tokenRow is a token as the console shows it, in the policy's zone.
func (s *Server) tokenRow(t *slokeeper.APIToken, l string) tokenRow {
	loc := s.Policy.Location()
	row := tokenRow{APIToken: t, Created: maintenance.JST(t.CreatedAt, loc, l), Expires: maintenance.JST(t.ExpiresAt, loc, l),
		Live: t.RevokedAt.IsZero() && s.Clock.Now().Before(t.ExpiresAt)}
	if !t.RevokedAt.IsZero() {
		row.Revoked = maintenance.JST(t.RevokedAt, loc, l)
	}
	return row
}

// revokeToken revokes the token id of the operator opID (ENOTFOUND if
// it is not theirs), recorded in the ledger first.
func (s *Server) revokeToken(ctx context.Context, p *principal, opID, id string) error {
	ts, err := s.Operators.FindAPITokens(ctx, opID)
	if err != nil {
		return err
	}
	found := false
	for _, t := range ts {
		found = found || t.ID == id
	}
	if !found {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No token %q of that operator.", id)
	}
	if err := s.Audit(ctx, p.actor(), "token.revoke", "token:"+id, ""); err != nil {
		return err
	}
	return s.Operators.RevokeAPIToken(ctx, id, s.Clock.Now())
}

// handleConsoleTokenCreate makes a token; the answer shows it once.
func (s *Server) handleConsoleTokenCreate(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "self")
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	l := lang(r)
	pg := page{Lang: l}
	name, scope := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("scope")
	d, err := policy.ParseDuration(r.PostFormValue("expires"))
	switch {
	case name == "":
		s.renderTokens(w, r, p, http.StatusBadRequest, "", pg.T("トークンに名前を付けてください。", "Give the token a name."), "")
		return
	case err != nil || d.IsZero():
		s.renderTokens(w, r, p, http.StatusBadRequest, "", pg.T("有効期限は 30d や 1y のように指定してください。", "The expiry is a duration like 30d or 1y."), "")
		return
	case slokeeper.ValidTokenScope(scope) != nil:
		s.renderTokens(w, r, p, http.StatusBadRequest, "", pg.T("範囲は read か write です。", "The scope is read or write."), "")
		return
	}
	now := s.Clock.Now()
	token := auth.NewToken(slokeeper.OperatorTokenPrefix)
	t := &slokeeper.APIToken{ID: "tok_" + auth.NewToken("")[:12], OperatorID: p.op.ID, Name: name, Scope: scope,
		TokenHash: slokeeper.HashToken(token), CreatedAt: now, ExpiresAt: d.AddTo(now)}
	if err := s.Audit(r.Context(), p.actor(), "token.create", "operator:"+p.op.Name, fmt.Sprintf("%s (%s scope, until %s)", t.ID, scope, t.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"))); err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	if err := s.Operators.CreateAPIToken(r.Context(), t); err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	s.renderTokens(w, r, p, http.StatusCreated, pg.T("トークンを発行しました。今回だけ表示します。", "The token is made. It is shown this once."), "", token)
}

// handleConsoleTokenRevoke revokes one of one's own tokens.
func (s *Server) handleConsoleTokenRevoke(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "self")
	if !ok {
		return
	}
	if err := s.revokeToken(r.Context(), p, p.op.ID, r.PathValue("id")); err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	http.Redirect(w, r, "/admin/tokens?lang="+lang(r)+"&done=revoked", http.StatusSeeOther)
}
