package httpserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
)

// The console's access grants: request one with a reason and a duration,
// the approvers' queue, approve (never one's own under the two-person
// rule), revoke, and reading an account's data under an active grant.

type grantsPage struct {
	consoleBase
	TwoPerson bool
	Pending   []grantRow // waiting for an approver
	Active    []grantRow
	Past      []grantRow // expired or revoked
	Durations []string   // the request form's choices
	Scopes    []string
	CanAsk    bool // the role may request grants
}

type grantRow struct {
	P                                     page // the page's language, for the row's template
	G                                     *slokeeper.Grant
	Requester, Approver                   string // operators' names
	Requested, Approved, Expires, Revoked string // in the policy's zone
	Length                                string // "2h", "30m"
	Own, CanApprove, CanRevoke, IsActive  bool
	Uses                                  []string // reads under the grant, from the ledger: "14:03 credential/mqtt"
}

// grantUses is what each grant was used for (slokeeper.GrantUses, as
// the access review reads it), as the page shows it: "14:03 data.read
// credential/mqtt".
func (s *Server) grantUses(ctx context.Context, when func(time.Time) string) (map[string][]string, error) {
	out := map[string][]string{}
	if s.AuditLog == nil {
		return out, nil
	}
	uses, err := slokeeper.GrantUses(ctx, s.AuditLog)
	for id, us := range uses {
		for _, u := range us {
			out[id] = append(out[id], when(u.At)+" "+u.Action+" "+u.What)
		}
	}
	return out, err
}

var grantDurations = []string{"30m", "1h", "2h", "4h", "8h", "24h"}

// duration writes a grant's length as people do: 2h, 30m, 1h30m.
func duration(d time.Duration) string {
	s := d.Round(time.Minute).String()
	if len(s) > 4 && s[len(s)-4:] == "m0s" {
		s = s[:len(s)-2]
	}
	if len(s) > 3 && s[len(s)-3:] == "h0m" {
		s = s[:len(s)-2]
	}
	return s
}

// operatorNames maps operator IDs to names, for grants that name people.
func (s *Server) operatorNames(ctx context.Context) (map[string]string, error) {
	ops, err := s.Operators.FindOperators(ctx, slokeeper.OperatorFilter{IncludeDisabled: true})
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(ops))
	for _, o := range ops {
		names[o.ID] = o.Name
	}
	return names, nil
}

func (s *Server) handleConsoleGrants(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "grants")
	if !ok {
		return
	}
	s.renderGrants(w, r, p, http.StatusOK, grantDone(lang(r), r.URL.Query().Get("done")), "")
}

func (s *Server) renderGrants(w http.ResponseWriter, r *http.Request, p *principal, status int, done, errText string) {
	l := lang(r)
	ctx, now, loc := r.Context(), s.Clock.Now(), s.Policy.Location()
	pg := grantsPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "grants", Done: done, Error: errText},
		TwoPerson: s.Policy.Access.TwoPerson, Durations: grantDurations,
		Scopes: []string{slokeeper.GrantAll, slokeeper.ItemDocument, slokeeper.ItemData, slokeeper.ItemCredential},
		CanAsk: p.op.Role != slokeeper.RoleAuditor}
	pg.Title = pg.T("アクセス許可", "Access grants")
	grants, err := s.Vault.Grants(ctx, actor(p), "")
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	names, err := s.operatorNames(ctx)
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return maintenance.JST(t, loc, l)
	}
	uses, err := s.grantUses(ctx, when)
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	admin := p.op.Role == slokeeper.RoleAdmin
	for _, g := range grants {
		row := grantRow{P: pg.page, G: g, Requester: names[g.OperatorID], Approver: names[g.ApproverID], Requested: when(g.RequestedAt),
			Approved: when(g.ApprovedAt), Expires: when(g.ExpiresAt), Revoked: when(g.RevokedAt), Length: duration(g.Duration),
			Own: g.OperatorID == p.op.ID, IsActive: g.Active(now), Uses: uses[g.ID]}
		pending := g.ApprovedAt.IsZero() && g.RevokedAt.IsZero()
		row.CanApprove = pending && admin && !(pg.TwoPerson && row.Own)
		row.CanRevoke = (pending || row.IsActive) && (row.Own || admin)
		switch {
		case pending:
			pg.Pending = append(pg.Pending, row)
		case row.IsActive:
			pg.Active = append(pg.Active, row)
		default:
			pg.Past = append(pg.Past, row)
		}
	}
	s.renderPrivate(w, r, status, "console-grants.html", l, pg)
}

func grantDone(l, done string) string {
	p := page{Lang: l}
	switch done {
	case "requested":
		return p.T("アクセス許可を申請しました。承認されると利用できます。", "The grant is requested; it opens the data once approved.")
	case "approved":
		return p.T("アクセス許可を承認しました。", "The grant is approved.")
	case "revoked":
		return p.T("アクセス許可を取り消しました。", "The grant is revoked.")
	}
	return ""
}

// grantMessage says in the page's language why a grant action was refused.
func grantMessage(l string, g *slokeeper.Grant, op *slokeeper.Operator, twoPerson bool, err error) string {
	p := page{Lang: l}
	switch slokeeper.ErrorCode(err) {
	case slokeeper.EFORBIDDEN:
		switch {
		case g != nil && twoPerson && g.OperatorID == op.ID && op.Role == slokeeper.RoleAdmin:
			return p.T("ご自身の申請は承認できません。二者承認のため、申請者以外の管理者が承認します。",
				"You cannot approve your own grant: under two-person approval another admin approves it.")
		case op.Role == slokeeper.RoleAuditor:
			return p.T("監査担当者はアクセス許可を申請・変更できません。", "Auditors cannot request or change grants.")
		}
		return p.T("この操作には管理者の権限が必要です(取り消しは申請者本人もできます)。",
			"This needs the admin role (a grant's holder may also revoke it).")
	case slokeeper.ENOTFOUND:
		return p.T("該当するアカウントまたはアクセス許可が見つかりません。", "No such account or grant.")
	case slokeeper.ECONFLICT:
		return p.T("このアクセス許可は既に承認または取り消されています。", "This grant was already approved or revoked.")
	case slokeeper.EINVALID:
		return p.T("入力内容を確認してください: ", "Please check the form: ") + slokeeper.ErrorMessage(err)
	}
	return p.T("エラーが発生しました。時間をおいて再度お試しください。", "Something went wrong; please try again later.")
}

// grantAction runs a grant form and comes back to the grants page, or
// shows the page again with why it was refused.
func (s *Server) grantAction(do func(r *http.Request, p *principal) (done string, g *slokeeper.Grant, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.consoleSession(w, r, "grants")
		if !ok {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			s.consoleError(w, r, p.op, slokeeper.Errorf(slokeeper.EINVALID, "The form could not be read."))
			return
		}
		done, g, err := do(r, p)
		if err != nil {
			if slokeeper.ErrorCode(err) == slokeeper.EINTERNAL {
				s.consoleError(w, r, p.op, err)
				return
			}
			s.renderGrants(w, r, p, statusOf(slokeeper.ErrorCode(err)), "", grantMessage(lang(r), g, p.op, s.Policy.Access.TwoPerson, err))
			return
		}
		http.Redirect(w, r, "/admin/grants?lang="+lang(r)+"&done="+done, http.StatusSeeOther)
	}
}

func (s *Server) consoleGrantRequest(r *http.Request, p *principal) (string, *slokeeper.Grant, error) {
	if p.op.Role == slokeeper.RoleAuditor { // refused whatever the form says
		return "", nil, slokeeper.Errorf(slokeeper.EFORBIDDEN, "Auditors do not request grants.")
	}
	f := r.PostForm
	d, err := time.ParseDuration(f.Get("duration"))
	if err != nil {
		return "", nil, slokeeper.Errorf(slokeeper.EINVALID, "duration %q is not a duration like 2h or 30m.", f.Get("duration"))
	}
	_, err = s.Vault.RequestGrant(r.Context(), actor(p), f.Get("account"), f.Get("scope"), f.Get("reason"), d)
	return "requested", nil, err
}

// consoleGrant finds the grant a form acts on, for the refusal's wording.
func (s *Server) consoleGrant(r *http.Request, p *principal) *slokeeper.Grant {
	gs, err := s.Vault.Grants(r.Context(), actor(p), "")
	if err != nil {
		return nil
	}
	for _, g := range gs {
		if g.ID == r.PathValue("id") {
			return g
		}
	}
	return nil
}

func (s *Server) consoleGrantApprove(r *http.Request, p *principal) (string, *slokeeper.Grant, error) {
	_, err := s.Vault.ApproveGrant(r.Context(), actor(p), r.PathValue("id"))
	if err != nil {
		return "", s.consoleGrant(r, p), err
	}
	return "approved", nil, nil
}

func (s *Server) consoleGrantRevoke(r *http.Request, p *principal) (string, *slokeeper.Grant, error) {
	return "revoked", nil, s.Vault.RevokeGrant(r.Context(), actor(p), r.PathValue("id"))
}

// accountDataPage is an account's items read under a grant.
type accountDataPage struct {
	consoleBase
	Account string
	Kind    string
	Items   []*slokeeper.AccountItem
	Item    *slokeeper.AccountItem // the item shown, with Value
	Value   string
}

// ItemURL links to one item's page.
func (p accountDataPage) ItemURL(it *slokeeper.AccountItem) string {
	return fmt.Sprintf("/admin/accounts/%s/items/%s/%s?lang=%s", url.PathEscape(p.Account), url.PathEscape(it.Kind), url.PathEscape(it.Key), p.Lang)
}

// handleConsoleAccountData lists an account's items; the vault refuses
// without an active grant and records the listing in the ledger.
func (s *Server) handleConsoleAccountData(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "status")
	if !ok {
		return
	}
	l := lang(r)
	pg := accountDataPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "grants"}, Account: r.PathValue("id")}
	pg.Title = pg.T("アカウント "+pg.Account+" のデータ", "Account "+pg.Account+"'s data")
	if k := r.URL.Query().Get("kind"); k != slokeeper.GrantAll {
		pg.Kind = k // "" lists every kind, which needs a grant of them all
	}
	items, err := s.Vault.ListItems(r.Context(), actor(p), pg.Account, pg.Kind)
	if err != nil {
		s.consoleDataError(w, r, p.op, err)
		return
	}
	pg.Items = items
	s.renderPrivate(w, r, http.StatusOK, "console-account-data.html", l, pg)
}

// handleConsoleAccountItem shows one item, decrypted under a grant (the
// read is in the ledger with the grant that allowed it).
func (s *Server) handleConsoleAccountItem(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "status")
	if !ok {
		return
	}
	l := lang(r)
	pg := accountDataPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "grants"}, Account: r.PathValue("id"), Kind: r.PathValue("kind")}
	value, it, err := s.Vault.GetItem(r.Context(), actor(p), pg.Account, pg.Kind, r.PathValue("key"))
	if err != nil {
		s.consoleDataError(w, r, p.op, err)
		return
	}
	pg.Item, pg.Value = it, string(value)
	pg.Title = pg.T("アカウント "+pg.Account+" のデータ", "Account "+pg.Account+"'s data")
	s.renderPrivate(w, r, http.StatusOK, "console-account-data.html", l, pg)
}

// consoleDataError is consoleError for an account's data: a refusal
// there means no active grant, and says how to get one.
func (s *Server) consoleDataError(w http.ResponseWriter, r *http.Request, op *slokeeper.Operator, err error) {
	if slokeeper.ErrorCode(err) != slokeeper.EFORBIDDEN {
		s.consoleError(w, r, op, err)
		return
	}
	l := lang(r)
	pg := consoleBase{page: page{Lang: l}, Operator: op, Section: "grants"}
	pg.Title = pg.T("アクセス許可が必要です", "An access grant is needed")
	pg.Error = pg.T("このアカウントのデータを閲覧するには、承認された有効なアクセス許可が必要です。「アクセス許可」から理由を添えて申請してください。",
		"Reading this account's data needs an approved, active access grant: request one with a reason under Access grants.")
	s.renderPrivate(w, r, http.StatusForbidden, "console-error.html", l, pg)
}
