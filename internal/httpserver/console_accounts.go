package httpserver

import (
	"net/http"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
)

// The console's accounts: each account's state, a deletion and its
// cancel window, and cancelling it while the window is open (admins).

type accountsPage struct {
	consoleBase
	Accounts []accountRow
	Status   string // the filter
	Window   string // the policy's cancel window, as people write it
}

type accountRow struct {
	*slokeeper.Account
	Created, Requested, Due, Deleted string
	CanDelete, CanCancel             bool
}

func (s *Server) handleConsoleAccounts(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "accounts")
	if !ok {
		return
	}
	s.renderAccounts(w, r, p, http.StatusOK, accountDone(lang(r), r.URL.Query().Get("done")), "")
}

func (s *Server) renderAccounts(w http.ResponseWriter, r *http.Request, p *principal, status int, done, errText string) {
	l := lang(r)
	now, loc := s.Clock.Now(), s.Policy.Location()
	pg := accountsPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "accounts", Done: done, Error: errText}, Status: r.URL.Query().Get("status")}
	pg.Title = pg.T("アカウント", "Accounts")
	if d := s.Policy.Data.UserData.OnAccountDeletion; d != nil {
		pg.Window = d.CancelWindow.String()
	}
	as, err := s.Vault.Accounts(r.Context(), actor(p), pg.Status)
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
	admin := p.op.Role == slokeeper.RoleAdmin
	for _, a := range as {
		pg.Accounts = append(pg.Accounts, accountRow{Account: a, Created: when(a.CreatedAt), Requested: when(a.DeletionRequestedAt),
			Due: when(a.DeletionDueAt), Deleted: when(a.DeletedAt), CanDelete: admin && a.Status == slokeeper.AccountActive,
			CanCancel: admin && a.Status == slokeeper.AccountDeleting && now.Before(a.DeletionDueAt)})
	}
	s.renderPrivate(w, r, status, "console-accounts.html", l, pg)
}

func accountDone(l, done string) string {
	p := page{Lang: l}
	switch done {
	case "deleting":
		return p.T("削除を受け付けました。アカウントは停止され、取消期間が終わるとデータと鍵が消去されます。",
			"Deletion requested: the account is disabled; its data and key are erased when the cancel window ends.")
	case "cancelled":
		return p.T("削除を取り消しました。アカウントは再び有効です。", "The deletion is cancelled; the account is active again.")
	}
	return ""
}

// accountAction runs an account form (admins), then back to the list.
func (s *Server) accountAction(done string, do func(r *http.Request, p *principal) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.consoleSession(w, r, "accounts")
		if !ok {
			return
		}
		err := do(r, p)
		if err != nil {
			l := lang(r)
			pg := page{Lang: l}
			var msg string
			switch slokeeper.ErrorCode(err) {
			case slokeeper.EINTERNAL:
				s.consoleError(w, r, p.op, err)
				return
			case slokeeper.EFORBIDDEN:
				msg = pg.T("アカウントの削除と取消には管理者の権限が必要です。", "Deleting an account and cancelling it need the admin role.")
			case slokeeper.ECONFLICT:
				msg = pg.T("この操作は現在のアカウントの状態ではできません(既に削除中、または取消期間が終了しています)。",
					"The account's state does not allow this (already being deleted, or the cancel window is over).")
			case slokeeper.ENOTFOUND:
				msg = pg.T("該当するアカウントがありません。", "No such account.")
			default:
				msg = slokeeper.ErrorMessage(err)
			}
			s.renderAccounts(w, r, p, statusOf(slokeeper.ErrorCode(err)), "", msg)
			return
		}
		http.Redirect(w, r, "/admin/accounts?lang="+lang(r)+"&done="+done, http.StatusSeeOther)
	}
}

func (s *Server) consoleAccountDelete(r *http.Request, p *principal) error {
	_, err := s.Vault.RequestDeletion(r.Context(), actor(p), r.PathValue("id"))
	return err
}

func (s *Server) consoleAccountCancel(r *http.Request, p *principal) error {
	_, err := s.Vault.CancelDeletion(r.Context(), actor(p), r.PathValue("id"))
	return err
}
