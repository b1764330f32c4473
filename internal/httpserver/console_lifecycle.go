package httpserver

import (
	"bytes"
	"cmp"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"slokeeper"
	"slokeeper/lifecycle"
	"slokeeper/maintenance"
	"slokeeper/policy"
)

// The console's lifecycle plan, backups and policy. Every staff role
// reads them; admins and operators verify a backup, ask for a pass and
// request a restore.

type lifecyclePage struct {
	consoleBase
	At                string
	State             string // the filter: due, held, late or ""
	Due, Held, Late   int
	Items             []planRow
	CanAct            bool
	Pass              *passRow
	EvidenceSinceLink string
}

type planRow struct {
	Kind, Subject, Clause, Due, Deadline, State, StateText, Why string
}

type passRow struct {
	ID                             int64
	State, Started, Finished, Errs string
	Ended, OK                      bool
}

// when formats t in the policy's zone for the page's language; "" for
// zero.
func (s *Server) when(t time.Time, l string) string {
	if t.IsZero() {
		return ""
	}
	return maintenance.JST(t, s.Policy.Location(), l)
}

func planStateText(pg page, state string) string {
	switch state {
	case lifecycle.StateHeld:
		return pg.T("保留", "held")
	case lifecycle.StateLate:
		return pg.T("期限超過", "late")
	}
	return pg.T("予定", "due")
}

func passStateText(pg page, state string) string {
	switch state {
	case "available", "scheduled", "pending":
		return pg.T("待機中", "queued")
	case "running":
		return pg.T("実行中", "running")
	case "completed":
		return pg.T("終了", "ended")
	case "retryable":
		return pg.T("再試行待ち", "retry later")
	case "discarded":
		return pg.T("失敗", "failed")
	case "cancelled":
		return pg.T("取り消し", "cancelled")
	}
	return state
}

func (s *Server) handleConsoleLifecycle(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "lifecycle")
	if !ok {
		return
	}
	l := lang(r)
	s.renderLifecycle(w, r, p, http.StatusOK, lifecycleDone(l, r.URL.Query().Get("done")), "")
}

func lifecycleDone(l, done string) string {
	pg := page{Lang: l}
	switch done {
	case "pass":
		return pg.T("ライフサイクルのパスを依頼しました。サーバーのジョブキューで実行されます。", "A lifecycle pass is asked for; the server's job queue runs it.")
	case "verified":
		return pg.T("バックアップを読み戻し、すべて検証しました。結果は証跡に記録されています。", "The backup was read back and everything checked; the outcome is in the evidence.")
	case "drilled":
		return pg.T("復元訓練を行いました。結果は下の一覧と証跡に記録されています。", "The restore drill ran; the outcome is in the list below and in the evidence.")
	case "requested":
		return pg.T("復元の依頼を監査台帳に記録しました。マスター鍵を持つ管理者が、表示されたコマンドをサーバーで実行します。",
			"The restore request is recorded in the audit ledger; an admin holding the master key runs the command shown on the server.")
	}
	return ""
}

func (s *Server) renderLifecycle(w http.ResponseWriter, r *http.Request, p *principal, status int, done, errText string) {
	l := lang(r)
	v := r.URL.Query()
	pg := lifecyclePage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "lifecycle", Done: done, Error: errText},
		State: v.Get("state"), CanAct: containsRole(opsActors, p.op.Role)}
	pg.Title = pg.T("ライフサイクル計画", "Lifecycle plan")
	now := s.Clock.Now()
	items, err := s.plan(r.Context(), now)
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	pg.At = s.when(now, l)
	for _, it := range items {
		switch it.State {
		case lifecycle.StateHeld:
			pg.Held++
		case lifecycle.StateLate:
			pg.Late++
		default:
			pg.Due++
		}
		if pg.State != "" && it.State != pg.State {
			continue
		}
		pg.Items = append(pg.Items, planRow{Kind: pg.T(lifecycle.KindNames[it.Kind].JA, lifecycle.KindNames[it.Kind].EN), Subject: it.Subject,
			Clause: it.Clause, Due: s.when(it.Due, l), Deadline: s.when(it.Deadline, l), State: it.State,
			StateText: planStateText(pg.page, it.State), Why: it.Reason.In(l)})
	}
	if id, err := strconv.ParseInt(v.Get("job"), 10, 64); err == nil && id > 0 {
		job, err := s.Lifecycle.Pass(r.Context(), id)
		if err != nil && slokeeper.ErrorCode(err) == slokeeper.EINTERNAL {
			s.consoleError(w, r, p.op, err)
			return
		}
		if err == nil {
			pg.Pass = &passRow{ID: job.ID, State: passStateText(pg.page, job.State), Started: s.when(job.Started, l), Finished: s.when(job.Finished, l),
				Ended: !job.Finished.IsZero(), OK: job.State == "completed"}
			for _, e := range job.Errors {
				pg.Pass.Errs += e + " "
			}
			pg.EvidenceSinceLink = "/admin/evidence?lang=" + l
		}
	}
	s.renderPrivate(w, r, status, "console-lifecycle.html", l, pg)
}

// opsAction runs a lifecycle or backup form: admins and operators, then
// back to the page (with what it did), or the page with the error.
func (s *Server) opsAction(section string, do func(r *http.Request, p *principal) (query string, err error)) http.HandlerFunc {
	render := s.renderLifecycle
	if section == "backups" {
		render = s.renderBackups
	}
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.consoleSession(w, r, section)
		if !ok {
			return
		}
		l := lang(r)
		pg := page{Lang: l}
		if !containsRole(opsActors, p.op.Role) {
			render(w, r, p, http.StatusForbidden, "", pg.T("この操作には管理者または運用者の権限が必要です。", "This needs the admin or operator role."))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			render(w, r, p, http.StatusBadRequest, "", pg.T("フォームを読み取れませんでした。", "The form could not be read."))
			return
		}
		q, err := do(r, p)
		if err != nil {
			status, msg := s.formFailure(r, pg, err)
			render(w, r, p, status, "", msg)
			return
		}
		http.Redirect(w, r, "/admin/"+section+"?lang="+l+"&"+q, http.StatusSeeOther)
	}
}

// formFailure is the status and message a console form shows for err:
// the error's own message, or for an internal error (logged with the
// request's path) an apology that tells nothing of the internals.
func (s *Server) formFailure(r *http.Request, pg page, err error) (int, string) {
	code := slokeeper.ErrorCode(err)
	if code == slokeeper.EINTERNAL {
		s.Logger.Error("console action", "path", r.URL.Path, "err", err)
		return statusOf(code), pg.T("エラーが発生しました。時間をおいて再度お試しください。", "Something went wrong on our side; please try again later.")
	}
	return statusOf(code), slokeeper.ErrorMessage(err)
}

func (s *Server) consolePassCreate(r *http.Request, p *principal) (string, error) {
	job, err := s.requestPass(r.Context(), p)
	if err != nil {
		return "", err
	}
	return "done=pass&job=" + strconv.FormatInt(job.ID, 10), nil
}

type backupsPage struct {
	consoleBase
	Class, Account, Day string
	Classes             []string // the filter's choices
	Sets                []setRow
	Backups             []backupRow
	Requests            []requestRow
	Drills              []drillRow
	CanDrill            bool // a driller is configured and the role may act
	CanAct              bool
}

type setRow struct {
	Class, Period, State, StateText, Created, Keep, Erase string
	Days, Verified                                        int
}

type backupRow struct {
	ID, Class, Account, Day, Subject, Created, Verified, Erased string
}

type requestRow struct {
	*RestoreRequest
	When, StateText string
}

func setStateText(pg page, state string) string {
	switch state {
	case lifecycle.SetComplete:
		return pg.T("完了", "complete")
	case lifecycle.SetIncomplete:
		return pg.T("不足", "incomplete")
	}
	return pg.T("作成中", "open")
}

func (s *Server) handleConsoleBackups(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "backups")
	if !ok {
		return
	}
	s.renderBackups(w, r, p, http.StatusOK, lifecycleDone(lang(r), r.URL.Query().Get("done")), "")
}

func (s *Server) renderBackups(w http.ResponseWriter, r *http.Request, p *principal, status int, done, errText string) {
	l := lang(r)
	f := backupFilter(r)
	pg := backupsPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "backups", Done: done, Error: errText},
		Class: f.Class, Account: f.Account, Day: f.Day, Classes: []string{"system", "exec", "user"}, CanAct: containsRole(opsActors, p.op.Role)}
	pg.Title = pg.T("バックアップ", "Backups")
	ctx := r.Context()
	sets, err := s.backupSets(ctx, f.Class)
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	for _, st := range sets {
		pg.Sets = append(pg.Sets, setRow{Class: st.Class, Period: st.Period, State: st.State, StateText: setStateText(pg.page, st.State),
			Created: s.when(st.Created, l), Keep: s.when(st.Keep, l), Erase: s.when(st.Erase, l), Days: st.Days, Verified: st.Verified})
	}
	recs, err := s.Lifecycle.Backups(ctx, f)
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	for i := len(recs) - 1; i >= 0; i-- { // newest first
		b := recs[i]
		pg.Backups = append(pg.Backups, backupRow{ID: b.ID, Class: b.Class, Account: b.Account, Day: b.Day, Subject: backupSubject(b),
			Created: s.when(b.Created, l), Verified: s.when(b.VerifiedAt, l), Erased: s.when(b.ErasedAt, l)})
	}
	reqs, err := s.restoreRequests(ctx)
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	for _, q := range reqs {
		st := pg.T("未実施", "pending")
		if q.State == RestoreRestored {
			st = pg.T("復元済み", "restored")
		}
		pg.Requests = append(pg.Requests, requestRow{RestoreRequest: q, When: s.when(q.At, l), StateText: st})
	}
	if pg.Drills, err = s.drillRows(ctx, l); err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	pg.CanDrill = pg.CanAct && s.Drills != nil
	s.renderPrivate(w, r, status, "console-backups.html", l, pg)
}

func (s *Server) consoleBackupVerify(r *http.Request, p *principal) (string, error) {
	id := r.PathValue("id")
	if _, err := s.verifyBackup(r.Context(), p, id); err != nil {
		return "", err
	}
	return "done=verified&id=" + url.QueryEscape(id), nil
}

func (s *Server) consoleRestoreRequest(r *http.Request, p *principal) (string, error) {
	if _, err := s.requestRestore(r.Context(), p, r.PostForm.Get("backup"), r.PostForm.Get("reason")); err != nil {
		return "", err
	}
	return "done=requested", nil
}

type policyPage struct {
	consoleBase
	Text string
}

// handleConsolePolicy shows the policy as `slokeeper policy show` writes
// it, in the page's language: for every staff role.
func (s *Server) handleConsolePolicy(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "policy")
	if !ok {
		return
	}
	l := lang(r)
	pg := policyPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "policy"}}
	pg.Title = pg.T("ポリシー", "Policy")
	var buf bytes.Buffer
	if err := policy.WriteText(&buf, s.Policy, cmp.Or(l, "ja")); err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	pg.Text = buf.String()
	s.renderPrivate(w, r, http.StatusOK, "console-policy.html", l, pg)
}
