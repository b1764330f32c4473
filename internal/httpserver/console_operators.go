package httpserver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"slokeeper"
	"slokeeper/internal/auth"
	"slokeeper/maintenance"

	"rsc.io/qr"
)

// The console's operators (admins): add one, change a role, disable,
// unlock, reset a password; a one-time password is shown once, on the
// answer to the form, never on a page that can be loaded again. And each
// operator's own two-factor enrolment, with a QR code drawn as inline
// SVG (no script, no image request).

type operatorsPage struct {
	consoleBase
	Operators []operatorRow
	Roles     []string
	// Shown once: the name and one-time password of an operator just
	// added or reset.
	NewName, NewPassword string
}

type operatorRow struct {
	*slokeeper.Operator
	Created, Disabled string
	TwoFactor, Self   bool
	// Tokens are the operator's API tokens, for the admin to see and
	// revoke (a token's secret is never shown again).
	Tokens []tokenRow
}

var consoleRoles = []string{slokeeper.RoleAdmin, slokeeper.RoleOperator, slokeeper.RoleSupport, slokeeper.RoleAuditor}

func (s *Server) handleConsoleOperators(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "operators")
	if !ok {
		return
	}
	s.renderOperators(w, r, p, http.StatusOK, operatorDone(lang(r), r.URL.Query().Get("done")), "", "", "")
}

func (s *Server) renderOperators(w http.ResponseWriter, r *http.Request, p *principal, status int, done, errText, newName, newPassword string) {
	l := lang(r)
	loc := s.Policy.Location()
	pg := operatorsPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "operators", Done: done, Error: errText},
		Roles: consoleRoles, NewName: newName, NewPassword: newPassword}
	pg.Title = pg.T("運用担当者", "Operators")
	ops, err := s.Operators.FindOperators(r.Context(), slokeeper.OperatorFilter{IncludeDisabled: true})
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	for _, o := range ops {
		row := operatorRow{Operator: o, Created: maintenance.JST(o.CreatedAt, loc, l), TwoFactor: o.TOTPSecret != nil, Self: o.ID == p.op.ID}
		if !o.DisabledAt.IsZero() {
			row.Disabled = maintenance.JST(o.DisabledAt, loc, l)
		}
		ts, err := s.Operators.FindAPITokens(r.Context(), o.ID)
		if err != nil {
			s.consoleError(w, r, p.op, err)
			return
		}
		for _, t := range ts {
			row.Tokens = append(row.Tokens, s.tokenRow(t, l))
		}
		pg.Operators = append(pg.Operators, row)
	}
	s.renderPrivate(w, r, status, "console-operators.html", l, pg)
}

func operatorDone(l, done string) string {
	p := page{Lang: l}
	switch done {
	case "added":
		return p.T("運用担当者を追加しました。一時パスワードは今回だけ表示します。最初のサインインで変更が必要です。",
			"The operator is added. The one-time password is shown this once; it must be changed at the first sign-in.")
	case "reset":
		return p.T("パスワードをリセットしました。一時パスワードは今回だけ表示します。", "The password is reset. The one-time password is shown this once.")
	case "disabled":
		return p.T("無効にし、すべてのセッションを終了しました。", "Disabled, and every session of theirs ended.")
	case "unlocked":
		return p.T("サインインのロックを解除しました。", "Sign-in is unlocked.")
	case "role":
		return p.T("役割を変更しました。", "The role is changed.")
	case "enabled":
		return p.T("有効にしました。パスワードと2段階認証は以前のままです。", "Enabled again; the password and two-factor sign-in are as they were.")
	case "totp-reset":
		return p.T("2段階認証をリセットし、すべてのセッションを終了しました。次回のサインイン後に登録し直してください。",
			"Two-factor sign-in is reset and every session of theirs ended; they enrol again after their next sign-in.")
	case "revoked":
		return p.T("トークンを失効させました。", "The token is revoked.")
	}
	return ""
}

// operatorAction runs an operators form (admins): back to the list, or,
// with a one-time password, the answer itself shows it.
func (s *Server) operatorAction(do func(r *http.Request, p *principal) (done, name, password string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.consoleSession(w, r, "operators")
		if !ok {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			s.consoleError(w, r, p.op, slokeeper.Errorf(slokeeper.EINVALID, "The form could not be read."))
			return
		}
		l := lang(r)
		done, name, password, err := do(r, p)
		if err != nil {
			pg := page{Lang: l}
			code := slokeeper.ErrorCode(err)
			var msg string
			switch code {
			case slokeeper.EINTERNAL:
				s.consoleError(w, r, p.op, err)
				return
			case slokeeper.ENOTFOUND:
				msg = pg.T("該当する運用担当者がいません。", "No such operator.")
			case slokeeper.ECONFLICT:
				msg = pg.T("その名前の運用担当者は既にいます。", "An operator of that name exists already.")
			default:
				msg = pg.T("入力内容を確認してください: ", "Please check the form: ") + slokeeper.ErrorMessage(err)
			}
			s.renderOperators(w, r, p, statusOf(code), "", msg, "", "")
			return
		}
		if password != "" {
			s.renderOperators(w, r, p, http.StatusOK, operatorDone(l, done), "", name, password)
			return
		}
		http.Redirect(w, r, "/admin/operators?lang="+l+"&done="+done, http.StatusSeeOther)
	}
}

// target finds the operator a form acts on, by the {name} in the path.
func (s *Server) target(r *http.Request) (*slokeeper.Operator, error) {
	ops, err := s.Operators.FindOperators(r.Context(), slokeeper.OperatorFilter{Name: r.PathValue("name"), IncludeDisabled: true})
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No operator %q.", r.PathValue("name"))
	}
	return ops[0], nil
}

func (s *Server) consoleOperatorAdd(r *http.Request, p *principal) (string, string, string, error) {
	f := r.PostForm
	name, role := strings.TrimSpace(f.Get("name")), f.Get("role")
	password := auth.NewPassword()
	h, err := s.hashPassword(password)
	if err != nil {
		return "", "", "", err
	}
	op := &slokeeper.Operator{ID: "op_" + auth.NewToken("")[:12], Name: name, Role: role, Email: strings.TrimSpace(f.Get("email")),
		PasswordHash: h, MustChangePassword: true, CreatedAt: s.Clock.Now()}
	if err := op.Validate(); err != nil {
		return "", "", "", err
	}
	if existing, err := s.Operators.FindOperators(r.Context(), slokeeper.OperatorFilter{Name: name, IncludeDisabled: true}); err != nil {
		return "", "", "", err
	} else if len(existing) > 0 {
		return "", "", "", slokeeper.Errorf(slokeeper.ECONFLICT, "Operator %q exists.", name)
	}
	if err := s.Audit(r.Context(), p.actor(), "operator.add", "operator:"+name, "role "+role); err != nil {
		return "", "", "", err
	}
	if err := s.Operators.CreateOperator(r.Context(), op); err != nil {
		return "", "", "", err
	}
	return "added", name, password, nil
}

func (s *Server) consoleOperatorRole(r *http.Request, p *principal) (string, string, string, error) {
	op, err := s.target(r)
	if err != nil {
		return "", "", "", err
	}
	role := r.PostForm.Get("role")
	if err := slokeeper.ValidRole(role); err != nil {
		return "", "", "", err
	}
	if err := s.Audit(r.Context(), p.actor(), "operator.role", "operator:"+op.Name, op.Role+" → "+role); err != nil {
		return "", "", "", err
	}
	return "role", "", "", s.Operators.UpdateOperator(r.Context(), op.ID, slokeeper.OperatorUpdate{Role: &role})
}

func (s *Server) consoleOperatorDisable(r *http.Request, p *principal) (string, string, string, error) {
	op, err := s.target(r)
	if err != nil {
		return "", "", "", err
	}
	_, err = s.disableOperator(r.Context(), p, op)
	return "disabled", "", "", err
}

func (s *Server) consoleOperatorEnable(r *http.Request, p *principal) (string, string, string, error) {
	op, err := s.target(r)
	if err != nil {
		return "", "", "", err
	}
	return "enabled", "", "", s.enableOperator(r.Context(), p, op)
}

func (s *Server) consoleOperatorTOTPReset(r *http.Request, p *principal) (string, string, string, error) {
	op, err := s.target(r)
	if err != nil {
		return "", "", "", err
	}
	return "totp-reset", "", "", s.resetOperatorTOTP(r.Context(), p, op)
}

// consoleOperatorTokenRevoke revokes one of the operator's tokens: the
// token must be theirs, so a form cannot reach another's by its ID.
func (s *Server) consoleOperatorTokenRevoke(r *http.Request, p *principal) (string, string, string, error) {
	op, err := s.target(r)
	if err != nil {
		return "", "", "", err
	}
	return "revoked", "", "", s.revokeToken(r.Context(), p, op.ID, r.PathValue("id"))
}

func (s *Server) consoleOperatorUnlock(r *http.Request, p *principal) (string, string, string, error) {
	op, err := s.target(r)
	if err != nil {
		return "", "", "", err
	}
	if err := s.Audit(r.Context(), p.actor(), "operator.unlock", "operator:"+op.Name, ""); err != nil {
		return "", "", "", err
	}
	_, err = s.Operators.UnlockLogin(r.Context(), op.Name, s.Clock.Now())
	return "unlocked", "", "", err
}

func (s *Server) consoleOperatorReset(r *http.Request, p *principal) (string, string, string, error) {
	op, err := s.target(r)
	if err != nil {
		return "", "", "", err
	}
	password, err := s.resetOperator(r.Context(), p, op)
	if err != nil {
		return "", "", "", err
	}
	return "reset", op.Name, password, nil
}

// totpPage is one's own two-factor enrolment: a new secret as a QR code
// and as text, and the code from the app to confirm it. The secret rides
// in the form sealed under the master key, so nothing is kept until the
// code proves the app has it.
type totpPage struct {
	consoleBase
	On     bool // two-factor sign-in is on already
	Secret string
	Sealed string
	QR     qrSVG
}

type qrSVG struct {
	Size  int
	Path  string // one path of 1×1 squares
	Title string
}

// qrCode draws text as a QR code: an SVG path, scaled by the viewBox.
func qrCode(text string) (qrSVG, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return qrSVG{}, err
	}
	var b strings.Builder
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if c.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+4, y+4)
			}
		}
	}
	return qrSVG{Size: c.Size + 8, Path: b.String()}, nil
}

func (s *Server) handleConsoleTOTP(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "self")
	if !ok {
		return
	}
	s.renderTOTP(w, r, p, http.StatusOK, "", r.URL.Query().Get("done") == "totp")
}

// renderTOTP shows a fresh secret to enrol (or that it is on).
func (s *Server) renderTOTP(w http.ResponseWriter, r *http.Request, p *principal, status int, errText string, done bool) {
	l := lang(r)
	pg := totpPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "totp", Error: errText}, On: p.op.TOTPSecret != nil}
	pg.Title = pg.T("2段階認証", "Two-factor sign-in")
	if done {
		pg.Done = pg.T("2段階認証を有効にしました。次回から確認コードが必要です。", "Two-factor sign-in is on: signing in now takes a code.")
	}
	if !pg.On {
		e, err := s.startTOTPEnrolment(p.op)
		if err != nil {
			s.consoleError(w, r, p.op, err)
			return
		}
		if pg.QR, err = qrCode(e.URL); err != nil {
			s.consoleError(w, r, p.op, err)
			return
		}
		pg.QR.Title = pg.T("認証アプリで読み取るQRコード", "QR code for the authenticator app")
		pg.Secret, pg.Sealed = e.Secret, e.Sealed
	}
	s.renderPrivate(w, r, status, "console-totp.html", l, pg)
}

// handleConsoleTOTPConfirm turns two-factor sign-in on once the code
// from the app matches the secret shown.
func (s *Server) handleConsoleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "self")
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	l := lang(r)
	pg := page{Lang: l}
	err := s.confirmTOTPEnrolment(r.Context(), p, r.PostFormValue("sealed"), r.PostFormValue("code"))
	switch {
	case err == nil:
		http.Redirect(w, r, "/admin/totp?lang="+l+"&done=totp", http.StatusSeeOther)
	case errors.Is(err, errTOTPOn):
		s.renderTOTP(w, r, p, http.StatusConflict, pg.T("2段階認証は既に有効です。", "Two-factor sign-in is on already."), false)
	case errors.Is(err, errTOTPUnsealed):
		s.renderTOTP(w, r, p, http.StatusBadRequest, pg.T("フォームを読み取れませんでした。もう一度お試しください。", "The form could not be read; please try again."), false)
	case errors.Is(err, errTOTPCode):
		s.renderTOTP(w, r, p, http.StatusBadRequest, pg.T("確認コードが一致しません。新しいQRコードを読み取り、表示されたコードを入力してください。",
			"The code does not match. Scan the new QR code and enter the code the app shows."), false)
	default:
		s.consoleError(w, r, p.op, err)
	}
}
