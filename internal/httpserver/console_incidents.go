package httpserver

import (
	"net/http"
	"net/url"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
)

// The console's incident page: an incident's timeline, the form for the
// next update (from the incident's current status, or from one of the
// usual texts), and its postmortem once it is resolved.

// consoleIncidentPage is /admin/incidents/{id}.
type consoleIncidentPage struct {
	consoleBase
	Incident   *slokeeper.Incident
	Components string // the affected components' names
	Templates  []incidentTemplate
	Template   string // the usual text chosen (?template=)
	// The update form: the status preselected and the texts.
	Status, BodyJA, BodyEN string
	// The postmortem form's texts: the one stored, a template or what was entered.
	PostmortemJA, PostmortemEN string
	loc                        *time.Location
}

// When formats a time as Japanese status pages do.
func (p consoleIncidentPage) When(t time.Time) string { return maintenance.JST(t, p.loc, p.Lang) }

// UpdateStatuses are the statuses an update can set, in order.
func (consoleIncidentPage) UpdateStatuses() []string { return consolePage{}.UpdateStatuses() }

// Resolved reports whether the incident is resolved: its postmortem can be written.
func (p consoleIncidentPage) Resolved() bool { return !p.Incident.ResolvedAt.IsZero() }

func (s *Server) handleConsoleIncident(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleUser(w, r)
	if !ok {
		return
	}
	s.renderIncident(w, r, p, http.StatusOK, nil, "")
}

// renderIncident renders an incident's page; form, when not nil, is a
// refused form's values, shown again with errText.
func (s *Server) renderIncident(w http.ResponseWriter, r *http.Request, p *principal, status int, form url.Values, errText string) {
	l, ctx, loc := lang(r), r.Context(), s.Policy.Location()
	incs, err := s.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{ID: r.PathValue("id")})
	if err == nil && len(incs) == 0 {
		err = slokeeper.Errorf(slokeeper.ENOTFOUND, "No incident %q.", r.PathValue("id"))
	}
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	inc := incs[0]
	cs, err := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	names := map[string]*slokeeper.Component{}
	for _, c := range cs {
		names[c.ID] = c
	}
	var ja, en []string
	for _, id := range inc.Components {
		if c, ok := names[id]; ok {
			ja, en = append(ja, c.NameJA), append(en, c.NameEN)
		} else {
			ja, en = append(ja, id), append(en, id)
		}
	}
	pg := consoleIncidentPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "status", Error: errText, Done: consoleDone(l, r.URL.Query().Get("done"))},
		Incident: inc, Templates: incidentTemplates, Status: inc.Status, PostmortemJA: inc.PostmortemJA, PostmortemEN: inc.PostmortemEN, loc: loc}
	pg.Title = pg.T(inc.TitleJA, inc.TitleEN)
	pg.Components = componentList(pg.page, ja, en)
	resolvedJA, resolvedEN := "(対応中)", "(ongoing)"
	if !inc.ResolvedAt.IsZero() {
		resolvedJA, resolvedEN = maintenance.JST(inc.ResolvedAt, loc, "ja"), maintenance.JST(inc.ResolvedAt, loc, "en")
	}
	if t, ok := findIncidentTemplate(r.URL.Query().Get("template")); ok {
		pg.Template = t.Key
		tja, ten := t.fill(ja, en, maintenance.JST(inc.DetectedAt, loc, "ja"), maintenance.JST(inc.DetectedAt, loc, "en"), resolvedJA, resolvedEN)
		if t.Status == "" {
			pg.PostmortemJA, pg.PostmortemEN = tja, ten
		} else {
			pg.Status, pg.BodyJA, pg.BodyEN = t.Status, tja, ten
		}
	}
	if form != nil {
		if form.Has("status") {
			pg.Status, pg.BodyJA, pg.BodyEN = form.Get("status"), form.Get("body_ja"), form.Get("body_en")
		} else {
			pg.PostmortemJA, pg.PostmortemEN = form.Get("postmortem_ja"), form.Get("postmortem_en")
		}
	}
	s.renderPrivate(w, r, status, "console-incident.html", l, pg)
}

func componentList(p page, ja, en []string) string {
	if len(ja) == 0 {
		return p.T("すべてのサービス", "Every component")
	}
	out := ""
	for i := range ja {
		if i > 0 {
			out += p.T("、", ", ")
		}
		out += p.T(ja[i], en[i])
	}
	return out
}

// incidentAction runs a form of the incident page and comes back to it;
// a refused form comes back as it was entered, with why.
func (s *Server) incidentAction(do func(r *http.Request, p *principal) (done string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.consoleUser(w, r)
		if !ok {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			s.consoleError(w, r, p.op, slokeeper.Errorf(slokeeper.EINVALID, "The form could not be read."))
			return
		}
		done, err := do(r, p)
		if err != nil {
			pg := page{Lang: lang(r)}
			switch code := slokeeper.ErrorCode(err); code {
			case slokeeper.EINTERNAL, slokeeper.ENOTFOUND, slokeeper.EFORBIDDEN:
				s.consoleError(w, r, p.op, err)
			case slokeeper.ECONFLICT:
				msg := pg.T("処理できませんでした: ", "This could not be done: ") + slokeeper.ErrorMessage(err)
				if !r.PostForm.Has("status") { // the postmortem form
					msg = pg.T("事後報告は障害の復旧後に登録できます。", "A postmortem follows the resolution: resolve the incident first.")
				}
				s.renderIncident(w, r, p, statusOf(code), r.PostForm, msg)
			default:
				s.renderIncident(w, r, p, statusOf(code), r.PostForm, pg.T("入力内容を確認してください: ", "Please check the form: ")+slokeeper.ErrorMessage(err))
			}
			return
		}
		http.Redirect(w, r, "/admin/incidents/"+url.PathEscape(r.PathValue("id"))+"?lang="+lang(r)+"&done="+done, http.StatusSeeOther)
	}
}

// handleConsoleIncidentUpdate posts an update from the status console,
// or (?back=incident) from the incident's own page, which it returns to.
func (s *Server) handleConsoleIncidentUpdate(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("back") == "incident" {
		s.incidentAction(s.consoleIncidentUpdate)(w, r)
		return
	}
	s.consoleAction(false, s.consoleIncidentUpdate)(w, r)
}

func (s *Server) consoleIncidentPostmortem(r *http.Request, p *principal) (string, error) {
	return "postmortem", s.setPostmortem(r, p, r.PathValue("id"), r.PostForm.Get("postmortem_ja"), r.PostForm.Get("postmortem_en"))
}
