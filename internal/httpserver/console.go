package httpserver

import (
	"net/http"
	"time"

	"slokeeper"
	"slokeeper/internal/monitor"
	"slokeeper/maintenance"
)

// The console's status pages: components, incidents, maintenance windows
// and subscribers, for staff, as plain forms. Each form posts to a
// handler that does what the JSON API does (the same checks, audit and
// announcements), then comes back to the page saying what happened.

// consolePage is /admin/status.
type consolePage struct {
	consoleBase
	Secret      string // a new webhook's secret, shown once
	CanEdit     bool   // admin or operator: components, maintenance, subscribers
	Components  []monitor.ComponentView
	Open        []*slokeeper.Incident
	Maintenance []consoleWindow
	Cluster     []string                // alerts about the cluster's nodes and confirmations, for staff
	Subscribers []*slokeeper.Subscriber // confirmed, or with Pending those waiting
	Pending     bool                    // ?subscribers=pending: list those waiting for the opt-in
	Emails      struct{ Confirmed, Waiting int }
	Now         string // for the schedule form: now in the policy's zone, as datetime-local
	Zone        string
	loc         *time.Location
}

type consoleWindow struct {
	*slokeeper.Maintenance
	State, Start, End string
	// StartLocal and EndLocal are the times as datetime-local in the
	// policy's zone: the reschedule form starts from them.
	StartLocal, EndLocal string
}

// Name of a component in the page's language.
func (p consolePage) Name(c monitor.ComponentView) string { return p.T(c.Name.JA, c.Name.EN) }

// When formats a time as Japanese status pages do.
func (p consolePage) When(t time.Time) string { return maintenance.JST(t, p.loc, p.Lang) }

// consoleUser returns the signed-in staff member, or sends them to sign in.
func (s *Server) consoleUser(w http.ResponseWriter, r *http.Request) (*principal, bool) {
	return s.consoleSession(w, r, "status")
}

func (s *Server) handleConsoleStatus(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleUser(w, r)
	if !ok {
		return
	}
	s.renderConsole(w, r, p, http.StatusOK, r.URL.Query().Get("done"), "")
}

func (s *Server) renderConsole(w http.ResponseWriter, r *http.Request, p *principal, status int, done, errText string, secret ...string) {
	l := lang(r)
	ctx, now, loc := r.Context(), s.Clock.Now(), s.Policy.Location()
	pg := consolePage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "status", Error: errText, Done: consoleDone(l, done)},
		CanEdit: containsRole(statusEditors, p.op.Role), Now: now.In(loc).Format("2006-01-02T15:04"), Zone: loc.String(), loc: loc}
	pg.Title = pg.T("稼働状況の管理", "Status console")
	if len(secret) == 1 {
		pg.Secret = secret[0]
	}
	if s.Monitor != nil {
		v, err := s.Monitor.View(ctx, 1, true)
		if err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		pg.Components = v.Components
	}
	cluster, err := s.clusterAlerts(ctx, l)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	pg.Cluster = cluster
	incs, err := s.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Open: true})
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	pg.Open = incs
	ms, err := s.Schedule.Recent(ctx)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	for _, m := range ms {
		if st := m.State(now); st != slokeeper.MaintenanceCompleted {
			pg.Maintenance = append(pg.Maintenance, consoleWindow{m, st, maintenance.JST(m.Start, loc, l), maintenance.JST(m.End, loc, l),
				m.Start.In(loc).Format("2006-01-02T15:04"), m.End.In(loc).Format("2006-01-02T15:04")})
		}
	}
	if s.Notices != nil {
		subs, err := s.Notices.FindSubscribers(ctx, slokeeper.SubscriberFilter{})
		if err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		// A pending subscription is only somebody's claim that an address
		// wants notices: listed apart, on demand.
		pg.Pending = r.URL.Query().Get("subscribers") == "pending"
		for _, sub := range subs {
			switch {
			case sub.Channel != slokeeper.ChannelEmail:
			case sub.ConfirmedAt.IsZero():
				pg.Emails.Waiting++
			default:
				pg.Emails.Confirmed++
			}
			if sub.ConfirmedAt.IsZero() == pg.Pending {
				pg.Subscribers = append(pg.Subscribers, sub)
			}
		}
	}
	s.renderPrivate(w, r, status, "admin-status.html", l, pg)
}

// consoleDone says what an action did, in the page's language.
func consoleDone(l, done string) string {
	p := page{Lang: l}
	switch done {
	case "incident":
		return p.T("障害を登録し、お知らせしました。", "The incident is open and announced.")
	case "update":
		return p.T("経過を追加し、お知らせしました。", "The update is posted and announced.")
	case "maintenance":
		return p.T("メンテナンスを登録し、お知らせしました。", "The maintenance is scheduled and announced.")
	case "cancelled":
		return p.T("メンテナンスを中止し、お知らせしました。", "The maintenance is cancelled and the cancellation announced.")
	case "rescheduled":
		return p.T("メンテナンスの日時を変更し、お知らせしました。", "The maintenance is moved and the new times announced.")
	case "postmortem":
		return p.T("事後報告を公開しました。", "The postmortem is published.")
	case "component":
		return p.T("サービスの設定を保存しました。", "The component is saved.")
	case "component-removed":
		return p.T("サービスを削除しました。", "The component is removed.")
	case "removed":
		return p.T("削除しました。", "Removed.")
	case "webhook":
		return p.T("Webhookを追加しました。署名用の秘密鍵は今回だけ表示します。", "The webhook is added. Its signing secret is shown this once.")
	}
	return ""
}

// consoleAction runs a console form: staff only (editors where the
// action needs it), then back to the page, or the page with the error.
func (s *Server) consoleAction(editors bool, do func(r *http.Request, p *principal) (done string, err error)) http.HandlerFunc {
	return s.consoleActionSecret(editors, func(r *http.Request, p *principal) (string, string, error) {
		done, err := do(r, p)
		return done, "", err
	})
}

// consoleActionSecret is consoleAction for an action whose answer holds a
// secret to show once: that page is the answer itself, never a redirect
// to a page that could be loaded again.
func (s *Server) consoleActionSecret(editors bool, do func(r *http.Request, p *principal) (done, secret string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.consoleUser(w, r)
		if !ok {
			return
		}
		l := lang(r)
		if editors && !containsRole(statusEditors, p.op.Role) {
			s.renderConsole(w, r, p, http.StatusForbidden, "", page{Lang: l}.T("この操作には管理者または運用者の権限が必要です。", "This needs the admin or operator role."))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			s.renderConsole(w, r, p, http.StatusBadRequest, "", page{Lang: l}.T("フォームを読み取れませんでした。", "The form could not be read."))
			return
		}
		done, secret, err := do(r, p)
		if err != nil {
			code := slokeeper.ErrorCode(err)
			if code == slokeeper.EINTERNAL {
				s.Logger.Error("console action", "path", r.URL.Path, "err", err)
				s.renderConsole(w, r, p, http.StatusInternalServerError, "", page{Lang: l}.T("エラーが発生しました。", "Something went wrong."))
				return
			}
			s.renderConsole(w, r, p, statusOf(code), "", slokeeper.ErrorMessage(err))
			return
		}
		if secret != "" {
			s.renderConsole(w, r, p, http.StatusCreated, done, "", secret)
			return
		}
		http.Redirect(w, r, "/admin/status?lang="+l+"&done="+done, http.StatusSeeOther)
	}
}

// formTime reads a datetime-local field in the policy's time zone.
func (s *Server) formTime(r *http.Request, name string) (time.Time, error) {
	v := r.PostForm.Get(name)
	t, err := time.ParseInLocation("2006-01-02T15:04", v, s.Policy.Location())
	if err != nil {
		return time.Time{}, slokeeper.Errorf(slokeeper.EINVALID, "%s: %q is not a date and time like 2026-12-03T10:00.", name, v)
	}
	return t, nil
}

func (s *Server) consoleIncidentCreate(r *http.Request, p *principal) (string, error) {
	f := r.PostForm
	_, err := s.openIncident(r, p, slokeeper.Incident{TitleJA: f.Get("title_ja"), TitleEN: f.Get("title_en"), Impact: f.Get("impact"),
		Components: f["component"]}, f.Get("body_ja"), f.Get("body_en"))
	return "incident", err
}

func (s *Server) consoleIncidentUpdate(r *http.Request, p *principal) (string, error) {
	f := r.PostForm
	u := &slokeeper.IncidentUpdate{Incident: r.PathValue("id"), Status: f.Get("status"), BodyJA: f.Get("body_ja"), BodyEN: f.Get("body_en")}
	return "update", s.updateIncident(r, p, u)
}

func (s *Server) consoleMaintenanceCreate(r *http.Request, p *principal) (string, error) {
	defer s.statusCache.clear()
	f := r.PostForm
	start, err := s.formTime(r, "start")
	if err != nil {
		return "", err
	}
	end, err := s.formTime(r, "end")
	if err != nil {
		return "", err
	}
	_, err = s.Schedule.Schedule(r.Context(), p.actor(), &slokeeper.Maintenance{TitleJA: f.Get("title_ja"), TitleEN: f.Get("title_en"),
		BodyJA: f.Get("body_ja"), BodyEN: f.Get("body_en"), Components: f["component"], Start: start, End: end,
		Emergency: f.Get("emergency") != "", Reason: f.Get("reason")})
	return "maintenance", err
}

// consoleMaintenanceReschedule moves a window to new times in the
// policy's zone, with the reason recorded in the ledger.
func (s *Server) consoleMaintenanceReschedule(r *http.Request, p *principal) (string, error) {
	defer s.statusCache.clear()
	start, err := s.formTime(r, "start")
	if err != nil {
		return "", err
	}
	end, err := s.formTime(r, "end")
	if err != nil {
		return "", err
	}
	_, err = s.Schedule.Reschedule(r.Context(), p.actor(), r.PathValue("id"), start, end, r.PostForm.Get("reason"))
	return "rescheduled", err
}

func (s *Server) consoleMaintenanceCancel(r *http.Request, p *principal) (string, error) {
	defer s.statusCache.clear()
	_, err := s.Schedule.Cancel(r.Context(), p.actor(), r.PathValue("id"))
	return "cancelled", err
}

func (s *Server) consoleSubscriberRemove(r *http.Request, p *principal) (string, error) {
	return "removed", s.removeSubscriber(r, p, r.PathValue("id"))
}

// consoleWebhookAdd adds a webhook; the answering page shows its
// secret once. It is never stored in the clear, nor cached (no-store).
func (s *Server) consoleWebhookAdd(r *http.Request, p *principal) (string, string, error) {
	_, secret, err := s.addWebhook(r, p, r.PostForm.Get("url"), r.PostForm.Get("lang"), r.PostForm["component"])
	return "webhook", secret, err
}

// Percent writes an uptime as the status page does.
func (p consolePage) Percent(u float64) string { return percent(u) }

// UpdateStatuses are the statuses an incident update can set, in order;
// the form preselects the incident's current one, so an update does not
// send it back to investigating.
func (consolePage) UpdateStatuses() []string {
	return []string{slokeeper.IncidentInvestigating, slokeeper.IncidentIdentified, slokeeper.IncidentMonitoring, slokeeper.IncidentResolved}
}
