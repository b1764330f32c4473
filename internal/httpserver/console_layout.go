package httpserver

import (
	"net/http"

	"slokeeper"
)

// The console's shared layout: one head with the one stylesheet, the
// navigation by role, and HTML error pages for every /admin route.

// consoleBase is what every page in the shared layout gets.
type consoleBase struct {
	page
	Operator    *slokeeper.Operator
	Section     string // the navigation entry to mark current
	Title       string
	Error, Done string
}

// consoleSections says which roles reach which part of the console.
var consoleSections = map[string][]string{
	"operators":   {slokeeper.RoleAdmin},
	"self":        consoleRoles,
	"status":      {slokeeper.RoleAdmin, slokeeper.RoleOperator, slokeeper.RoleSupport},
	"logs":        {slokeeper.RoleAdmin, slokeeper.RoleOperator, slokeeper.RoleSupport},
	"accounts":    {slokeeper.RoleAdmin, slokeeper.RoleOperator, slokeeper.RoleSupport},
	"grants":      {slokeeper.RoleAdmin, slokeeper.RoleOperator, slokeeper.RoleSupport, slokeeper.RoleAuditor},
	"audit":       {slokeeper.RoleAdmin, slokeeper.RoleAuditor},
	"backups":     consoleRoles, // acting on them: opsActors
	"lifecycle":   consoleRoles,
	"policy":      consoleRoles,
	"obligations": consoleRoles, // signing off: admins
}

// Can reports whether the signed-in operator's role reaches a section.
func (b consoleBase) Can(section string) bool {
	return b.Operator != nil && containsRole(consoleSections[section], b.Operator.Role)
}

// consoleSession returns the signed-in operator if their role reaches
// section; otherwise it answers: the sign-in page for nobody, an HTML
// error page for a role that may not.
func (s *Server) consoleSession(w http.ResponseWriter, r *http.Request, section string) (*principal, bool) {
	p, err := s.authenticate(r)
	switch {
	case err != nil && slokeeper.ErrorCode(err) != slokeeper.EUNAUTHORIZED:
		s.consoleError(w, r, nil, err)
		return nil, false
	case err != nil || p.op.MustChangePassword:
		http.Redirect(w, r, "/admin/?lang="+lang(r), http.StatusSeeOther)
		return nil, false
	case p.op.MustEnrolTOTP && r.URL.Path != "/admin/totp":
		// After an admin's reset, enrolment comes before anything else.
		http.Redirect(w, r, "/admin/totp?lang="+lang(r), http.StatusSeeOther)
		return nil, false
	case !containsRole(consoleSections[section], p.op.Role):
		s.consoleError(w, r, p.op, slokeeper.Errorf(slokeeper.EFORBIDDEN, "role"))
		return nil, false
	}
	return p, true
}

// consoleError answers an HTML route's error as an HTML page in the
// reader's language: what a person can do about it, never the internals
// (those go to the log).
func (s *Server) consoleError(w http.ResponseWriter, r *http.Request, op *slokeeper.Operator, err error) {
	l := lang(r)
	pg := consoleBase{page: page{Lang: l}, Operator: op}
	code := slokeeper.ErrorCode(err)
	status := statusOf(code)
	switch code {
	case slokeeper.EFORBIDDEN:
		pg.Title = pg.T("権限がありません", "Not allowed")
		pg.Error = pg.T("この画面または操作は、あなたの役割では使えません。", "Your role cannot use this page or do this.")
	case slokeeper.ENOTFOUND:
		pg.Title = pg.T("ページが見つかりません", "Page not found")
		pg.Error = pg.T("お探しのページは見つかりませんでした。アドレスをご確認ください。", "There is no such page here; please check the address.")
	case slokeeper.EINTERNAL:
		s.Logger.Error("console", "path", r.URL.Path, "err", err)
		pg.Title = pg.T("エラーが発生しました", "Something went wrong")
		pg.Error = pg.T("処理中にエラーが発生しました。時間をおいて再度お試しください。", "Something went wrong on our side; please try again later.")
	default:
		pg.Title = pg.T("処理できませんでした", "This could not be done")
		pg.Error = slokeeper.ErrorMessage(err)
	}
	s.renderPrivate(w, r, status, "console-error.html", l, pg)
}

// handleConsoleNotFound is every /admin path no page has.
func (s *Server) handleConsoleNotFound(w http.ResponseWriter, r *http.Request) {
	var op *slokeeper.Operator
	if p, err := s.authenticate(r); err == nil {
		op = p.op
	}
	s.consoleError(w, r, op, slokeeper.Errorf(slokeeper.ENOTFOUND, "no page"))
}
