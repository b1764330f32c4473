package httpserver

import (
	"net/http"

	"slokeeper"
)

// The operator console's pages. They work without JavaScript: plain forms
// posting to the same sign-in code as the JSON API, protected against
// cross-site requests by the server's CrossOriginProtection.

type adminPage struct {
	consoleBase
	Name string
}

// newAdminPage is the sign-in or home page in the shared layout.
func newAdminPage(l string, op *slokeeper.Operator) adminPage {
	p := adminPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: op, Section: "home"}}
	p.Title = p.T("運用コンソール", "Operator console")
	if op == nil {
		p.Title = p.T("運用コンソールにサインイン", "Sign in to the operator console")
	}
	return p
}

// message translates the errors a person meets on these pages.
func (p page) message(err error) string {
	switch slokeeper.ErrorCode(err) {
	case slokeeper.EUNAUTHORIZED:
		return p.T("ユーザー名、パスワード、または確認コードが正しくありません。", "The name, password or code is wrong.")
	case slokeeper.ERATELIMITED:
		return p.T("失敗が続いたため、このアドレスからは一時的にロックされています。しばらくしてから再度お試しください。", "Too many failed attempts from your address: locked for a while; please try again later.")
	case slokeeper.EUNAVAILABLE:
		return p.T("ただいま混み合っています。少し待ってから再度お試しください。", "Too many sign-ins at once; please try again in a moment.")
	case slokeeper.EINVALID:
		return p.T("新しいパスワードは12文字以上で、現在のものと異なる必要があります。", "The new password must have 12 characters or more and differ from the current one.")
	}
	return p.T("エラーが発生しました。時間をおいて再度お試しください。", "Something went wrong; please try again later.")
}

func (s *Server) handleAdminLoginForm(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	s.render(w, r, "admin-login.html", l, newAdminPage(l, nil))
}

func (s *Server) handleAdminLogin(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	req := loginRequest{Name: r.PostFormValue("name"), Password: r.PostFormValue("password"), TOTP: r.PostFormValue("totp")}
	if _, _, err := s.signIn(w, r, req); err != nil {
		p := newAdminPage(l, nil)
		p.Name = req.Name
		p.Error = p.message(err)
		status := http.StatusUnauthorized
		if code := slokeeper.ErrorCode(err); code == slokeeper.ERATELIMITED || code == slokeeper.EUNAVAILABLE {
			status = statusOf(code)
		}
		w.WriteHeader(status)
		s.render(w, r, "admin-login.html", l, p)
		return
	}
	http.Redirect(w, r, "/admin/?lang="+l, http.StatusSeeOther)
}

func (s *Server) handleAdminHome(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	p, err := s.authenticate(r)
	if err != nil {
		http.Redirect(w, r, "/admin/login?lang="+l, http.StatusSeeOther)
		return
	}
	if p.op.MustEnrolTOTP && !p.op.MustChangePassword {
		http.Redirect(w, r, "/admin/totp?lang="+l, http.StatusSeeOther)
		return
	}
	s.render(w, r, "admin-home.html", l, newAdminPage(l, p.op))
}

func (s *Server) handleAdminPassword(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	p, err := s.authenticate(r)
	if slokeeper.ErrorCode(err) == slokeeper.EFORBIDDEN {
		Error(w, r, s.Logger, err)
		return
	}
	if err != nil {
		http.Redirect(w, r, "/admin/login?lang="+l, http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	old, new := r.PostFormValue("old"), r.PostFormValue("new")
	if err := s.changePassword(w, r, p, old, new); err != nil {
		pg := newAdminPage(l, p.op)
		pg.Error = pg.message(err)
		status := http.StatusBadRequest
		if code := slokeeper.ErrorCode(err); code == slokeeper.ERATELIMITED || code == slokeeper.EUNAVAILABLE {
			status = statusOf(code)
		}
		w.WriteHeader(status)
		s.render(w, r, "admin-home.html", l, pg)
		return
	}
	http.Redirect(w, r, "/admin/?lang="+l, http.StatusSeeOther)
}

func (s *Server) handleAdminLogout(w http.ResponseWriter, r *http.Request) {
	s.handleLogoutCookie(w, r)
	http.Redirect(w, r, "/admin/login?lang="+lang(r), http.StatusSeeOther)
}
