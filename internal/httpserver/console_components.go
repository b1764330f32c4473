package httpserver

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/internal/monitor"
	"slokeeper/maintenance"
	"slokeeper/policy"
)

// The console's component pages: one per component to edit or remove
// it, and one to add a component. A form is checked by the rule the
// components file and the API use (putComponent); an error comes back
// in the form with what was entered.

// consoleComponentPage is /admin/components (add) and
// /admin/components/{id} (edit).
type consoleComponentPage struct {
	consoleBase
	New     bool // adding: the ID is asked for
	CanEdit bool // admin or operator; support sees the settings only
	Confirm bool // removal asked for: the page asks to confirm it
	Form    componentForm
	State   *monitor.ComponentView // the monitor's view, with why the probe failed (staff only)
	loc     *time.Location
}

// When formats a time as Japanese status pages do.
func (p consoleComponentPage) When(t time.Time) string { return maintenance.JST(t, p.loc, p.Lang) }

// componentForm is a component as the form holds it: text as entered, so
// a refused form comes back as it was.
type componentForm struct {
	ID, NameJA, NameEN, Group, GroupJA, GroupEN, Order, Target, Interval, Failures   string
	Hidden                                                                           bool
	Kind, ProbeTarget, Timeout, Status, Body, MaxLatency, CertExpiry, Server, Expect string
}

// ProbeKinds are the kinds a probe can be, for the form's choice.
func (consoleComponentPage) ProbeKinds() []string {
	return []string{slokeeper.ProbeHTTP, slokeeper.ProbeTCP, slokeeper.ProbeDNS}
}

// Name of the component in the page's language.
func (p consoleComponentPage) Name(c monitor.ComponentView) string { return p.T(c.Name.JA, c.Name.EN) }

func formDuration(d slokeeper.Duration) string {
	if d == 0 {
		return ""
	}
	return time.Duration(d).String()
}

func formOfComponent(c *slokeeper.Component) componentForm {
	f := componentForm{ID: c.ID, NameJA: c.NameJA, NameEN: c.NameEN, Group: c.Group, GroupJA: c.GroupJA, GroupEN: c.GroupEN, Hidden: c.Hidden,
		Interval: formDuration(c.Interval), Failures: strconv.Itoa(c.Failures), Kind: c.Probe.Kind, ProbeTarget: c.Probe.Target,
		Timeout: formDuration(c.Probe.Timeout), Body: c.Probe.Body, MaxLatency: formDuration(c.Probe.MaxLatency), CertExpiry: formDuration(c.Probe.CertExpiry),
		Server: c.Probe.Server, Expect: c.Probe.Expect}
	if c.Order != 0 {
		f.Order = strconv.Itoa(c.Order)
	}
	if c.Target != 0 {
		f.Target = strconv.FormatFloat(c.Target*100, 'f', -1, 64) + "%"
	}
	codes := make([]string, len(c.Probe.Status))
	for i, s := range c.Probe.Status {
		codes[i] = strconv.Itoa(s)
	}
	f.Status = strings.Join(codes, ", ")
	return f
}

func formOfRequest(r *http.Request) componentForm {
	g := func(k string) string { return strings.TrimSpace(r.PostForm.Get(k)) }
	return componentForm{ID: g("id"), NameJA: g("name_ja"), NameEN: g("name_en"), Group: g("group"), GroupJA: g("group_ja"), GroupEN: g("group_en"),
		Order: g("order"), Target: g("target"), Interval: g("interval"), Failures: g("failures"), Hidden: g("hidden") != "",
		Kind: g("probe_kind"), ProbeTarget: g("probe_target"), Timeout: g("probe_timeout"), Status: g("probe_status"), Body: r.PostForm.Get("probe_body"),
		MaxLatency: g("probe_max_latency"), CertExpiry: g("probe_cert_expiry"), Server: g("probe_server"), Expect: g("probe_expect")}
}

// component reads the form as the components file is read: the same
// fields, durations as "30s", the target as a percentage like 99.9%.
// What only the form can get wrong (a number that is not one) is said
// here; everything else is Validate's.
func (f componentForm) component() (*slokeeper.Component, error) {
	c := &slokeeper.Component{ID: f.ID, NameJA: f.NameJA, NameEN: f.NameEN, Group: f.Group, GroupJA: f.GroupJA, GroupEN: f.GroupEN, Hidden: f.Hidden,
		Probe: slokeeper.Probe{Kind: f.Kind, Target: f.ProbeTarget, Body: f.Body, Server: f.Server, Expect: f.Expect}}
	num := func(name, v string, to *int) error {
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return slokeeper.Errorf(slokeeper.EINVALID, "%s: %q is not a whole number.", name, v)
		}
		*to = n
		return nil
	}
	dur := func(name, v string, to *slokeeper.Duration) error {
		if v == "" {
			return nil
		}
		if err := to.UnmarshalText([]byte(v)); err != nil {
			return slokeeper.Errorf(slokeeper.EINVALID, "%s: %s", name, slokeeper.ErrorMessage(err))
		}
		return nil
	}
	for _, err := range []error{num("order", f.Order, &c.Order), num("failures", f.Failures, &c.Failures),
		dur("interval", f.Interval, &c.Interval), dur("timeout", f.Timeout, &c.Probe.Timeout),
		dur("max_latency", f.MaxLatency, &c.Probe.MaxLatency), dur("cert_expiry", f.CertExpiry, &c.Probe.CertExpiry)} {
		if err != nil {
			return nil, err
		}
	}
	if f.Target != "" {
		var p policy.Percent
		v := f.Target
		if !strings.HasSuffix(v, "%") {
			v += "%"
		}
		if err := p.UnmarshalText([]byte(v)); err != nil {
			return nil, slokeeper.Errorf(slokeeper.EINVALID, "target: %s.", err.Error())
		}
		c.Target = p.Fraction()
	}
	for _, s := range strings.FieldsFunc(f.Status, func(r rune) bool { return r == ',' || r == ' ' }) {
		code, err := strconv.Atoi(s)
		if err != nil {
			return nil, slokeeper.Errorf(slokeeper.EINVALID, "status: %q is not an HTTP status code.", s)
		}
		c.Probe.Status = append(c.Probe.Status, code)
	}
	return c, nil
}

// handleConsoleComponentNew is the form to add a component.
func (s *Server) handleConsoleComponentNew(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleUser(w, r)
	if !ok {
		return
	}
	if !containsRole(statusEditors, p.op.Role) {
		s.consoleError(w, r, p.op, slokeeper.Errorf(slokeeper.EFORBIDDEN, "role"))
		return
	}
	s.renderComponent(w, r, p, http.StatusOK, consoleComponentPage{New: true, Form: componentForm{Kind: slokeeper.ProbeHTTP, Interval: "1m0s", Failures: "3"}})
}

// handleConsoleComponent is a component's page: its settings, its state
// and, when its probe fails, why.
func (s *Server) handleConsoleComponent(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleUser(w, r)
	if !ok {
		return
	}
	c, err := s.findComponent(r, r.PathValue("id"))
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	s.renderComponent(w, r, p, http.StatusOK, consoleComponentPage{Form: formOfComponent(c)})
}

func (s *Server) findComponent(r *http.Request, id string) (*slokeeper.Component, error) {
	cs, err := s.Components.FindComponents(r.Context(), slokeeper.ComponentFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No component %q.", id)
	}
	return cs[0], nil
}

func (s *Server) renderComponent(w http.ResponseWriter, r *http.Request, p *principal, status int, pg consoleComponentPage) {
	l := lang(r)
	pg.consoleBase = consoleBase{page: page{Lang: l}, Operator: p.op, Section: "status", Error: pg.Error, Done: consoleDone(l, r.URL.Query().Get("done"))}
	pg.CanEdit, pg.loc = containsRole(statusEditors, p.op.Role), s.Policy.Location()
	pg.Title = pg.T("サービスを追加する", "Add a component")
	if !pg.New {
		pg.Title = pg.T("サービス", "Component") + " " + pg.Form.ID
		if s.Monitor != nil {
			v, err := s.Monitor.View(r.Context(), 1, true)
			if err != nil {
				s.consoleError(w, r, p.op, err)
				return
			}
			for i := range v.Components {
				if v.Components[i].ID == pg.Form.ID {
					pg.State = &v.Components[i]
				}
			}
		}
	}
	s.renderPrivate(w, r, status, "console-component.html", l, pg)
}

// componentAction runs a component form for admins and operators; a
// refused form comes back filled in, with why in the reader's language.
func (s *Server) componentAction(isNew bool, do func(r *http.Request, p *principal, f componentForm) (next string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.consoleUser(w, r)
		if !ok {
			return
		}
		if !containsRole(statusEditors, p.op.Role) {
			s.consoleError(w, r, p.op, slokeeper.Errorf(slokeeper.EFORBIDDEN, "role"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			s.consoleError(w, r, p.op, slokeeper.Errorf(slokeeper.EINVALID, "The form could not be read."))
			return
		}
		f := formOfRequest(r)
		if !isNew {
			f.ID = r.PathValue("id")
		}
		next, err := do(r, p, f)
		if err == nil {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		pg := consoleComponentPage{New: isNew, Form: f}
		pg.Lang = lang(r)
		code := slokeeper.ErrorCode(err)
		switch code {
		case slokeeper.EINTERNAL, slokeeper.ENOTFOUND, slokeeper.EFORBIDDEN:
			s.consoleError(w, r, p.op, err)
			return
		case slokeeper.ECONFLICT:
			pg.Error = pg.T("そのIDのサービスは既にあります: ", "A component with that ID exists already: ") + f.ID
		default:
			pg.Error = pg.T("入力内容を確認してください: ", "Please check the form: ") + slokeeper.ErrorMessage(err)
		}
		s.renderComponent(w, r, p, statusOf(code), pg)
	}
}

// consoleComponentAdd adds a component; an ID already taken is refused
// (changing one is its own page's work).
func (s *Server) consoleComponentAdd(r *http.Request, p *principal, f componentForm) (string, error) {
	c, err := f.component()
	if err != nil {
		return "", err
	}
	if _, err := s.findComponent(r, c.ID); err == nil {
		return "", slokeeper.Errorf(slokeeper.ECONFLICT, "Component %q exists already.", c.ID)
	} else if slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		return "", err
	}
	if err := s.putComponent(r, p, c); err != nil {
		return "", err
	}
	return "/admin/components/" + c.ID + "?lang=" + lang(r) + "&done=component", nil
}

// consoleComponentSave replaces a component with the form's settings.
func (s *Server) consoleComponentSave(r *http.Request, p *principal, f componentForm) (string, error) {
	if _, err := s.findComponent(r, f.ID); err != nil {
		return "", err
	}
	c, err := f.component()
	if err != nil {
		return "", err
	}
	if err := s.putComponent(r, p, c); err != nil {
		return "", err
	}
	return "/admin/components/" + c.ID + "?lang=" + lang(r) + "&done=component", nil
}

// handleConsoleComponentRemove removes a component once the second
// form, the confirmation, says so; the first answers with the page
// asking to confirm (no script needed).
func (s *Server) handleConsoleComponentRemove(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleUser(w, r)
	if !ok {
		return
	}
	if !containsRole(statusEditors, p.op.Role) {
		s.consoleError(w, r, p.op, slokeeper.Errorf(slokeeper.EFORBIDDEN, "role"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.consoleError(w, r, p.op, slokeeper.Errorf(slokeeper.EINVALID, "The form could not be read."))
		return
	}
	c, err := s.findComponent(r, r.PathValue("id"))
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	if r.PostForm.Get("confirm") != c.ID {
		s.renderComponent(w, r, p, http.StatusOK, consoleComponentPage{Confirm: true, Form: formOfComponent(c)})
		return
	}
	if err := s.removeComponent(r, p, c.ID); err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	http.Redirect(w, r, "/admin/status?lang="+lang(r)+"&done=component-removed#components", http.StatusSeeOther)
}
