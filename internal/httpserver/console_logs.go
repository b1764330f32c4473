package httpserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
)

// The console's log search: filters, a time range in the policy's zone,
// pages of consolePageSize records, and the whole result as an NDJSON
// download. Every query, page or download, is in the audit ledger first.

const consolePageSize = 100

type logsPage struct {
	consoleBase
	Form     logsForm
	Searched bool
	Records  []logRow
	Next     string // the next page's URL, "" on the last
	Download string // the whole result as NDJSON
	Zone     string
}

type logsForm struct {
	Class, Account, Source, Level, Text, From, To string
}

type logRow struct {
	At, Class, Account, Source, Level, Message string
}

// logQuery reads the search form: datetime-local times in the policy's
// zone. An empty "to" is pinned to now, so that the pages of one search
// see the same records while new ones arrive.
func (s *Server) logQuery(v url.Values) (slokeeper.LogQuery, logsForm, error) {
	f := logsForm{Class: v.Get("class"), Account: v.Get("account"), Source: v.Get("source"), Level: v.Get("level"), Text: v.Get("q"), From: v.Get("from"), To: v.Get("to")}
	q := slokeeper.LogQuery{Class: f.Class, Account: f.Account, SourceID: f.Source, Level: f.Level, Contains: f.Text}
	if q.Class != "" && q.Class != slokeeper.LogClassSystem && q.Class != slokeeper.LogClassExec {
		return q, f, slokeeper.Errorf(slokeeper.EINVALID, "class=%q is not system or exec.", q.Class)
	}
	loc := s.Policy.Location()
	for _, t := range []struct {
		name, v string
		dst     *time.Time
	}{{"from", f.From, &q.From}, {"to", f.To, &q.To}} {
		if t.v == "" {
			continue
		}
		var err error
		if *t.dst, err = time.ParseInLocation("2006-01-02T15:04", t.v, loc); err != nil {
			return q, f, slokeeper.Errorf(slokeeper.EINVALID, "%s: %q is not a date and time like 2026-12-03T10:00.", t.name, t.v)
		}
	}
	if q.To.IsZero() {
		q.To = s.Clock.Now().Truncate(time.Minute).Add(time.Minute)
		f.To = q.To.In(loc).Format("2006-01-02T15:04")
	}
	if !q.From.IsZero() && !q.From.Before(q.To) {
		return q, f, slokeeper.Errorf(slokeeper.EINVALID, "from must be before to.")
	}
	return q, f, nil
}

// values is the form as a query string, for the next page and the download.
func (f logsForm) values() url.Values {
	v := url.Values{}
	for k, x := range map[string]string{"class": f.Class, "account": f.Account, "source": f.Source, "level": f.Level, "q": f.Text, "from": f.From, "to": f.To} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v
}

var errPageFull = errors.New("page full")

func (s *Server) handleConsoleLogs(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "logs")
	if !ok {
		return
	}
	l := lang(r)
	v := r.URL.Query()
	loc := s.Policy.Location()
	pg := logsPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "logs"}, Zone: loc.String()}
	pg.Title = pg.T("ログの検索", "Log search")
	if v.Get("search") == "" {
		s.renderPrivate(w, r, http.StatusOK, "console-logs.html", l, pg)
		return
	}
	q, form, err := s.logQuery(v)
	pg.Form, pg.Searched = form, true
	q.After = v.Get("after")
	q.Limit = consolePageSize + 1 // a page, and one more to tell whether a next exists: the store holds only these
	if err == nil {
		_, _, err = q.ParseLogCursor() // refused before the audit records it
	}
	if err != nil {
		pg.Error = pg.T("検索条件を確認してください: ", "Please check the search: ") + slokeeper.ErrorMessage(err)
		s.renderPrivate(w, r, http.StatusBadRequest, "console-logs.html", l, pg)
		return
	}
	qs := form.values()
	qs.Set("search", "1")
	if err := s.Audit(r.Context(), p.actor(), "logs.query", "source:"+q.SourceID+" account:"+q.Account, "console "+qs.Encode()+"&after="+q.After); err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	more := false
	var last slokeeper.LogPosition
	err = s.Logs.QueryLogs(r.Context(), q, func(rec *slokeeper.LogRecord) error {
		if len(pg.Records) == consolePageSize {
			more = true
			return errPageFull
		}
		pg.Records = append(pg.Records, logRow{At: maintenance.JST(rec.Received, loc, l), Class: rec.Class, Account: rec.Account,
			Source: rec.SourceID, Level: rec.Level, Message: rec.Message})
		last = rec.Pos
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		s.consoleError(w, r, p.op, err)
		return
	}
	dl := form.values()
	dl.Set("lang", l)
	pg.Download = "/admin/logs.ndjson?" + dl.Encode()
	if more {
		qs.Set("after", q.LogCursor(last))
		qs.Set("lang", l)
		pg.Next = "/admin/logs?" + qs.Encode()
	}
	s.renderPrivate(w, r, http.StatusOK, "console-logs.html", l, pg)
}

// handleConsoleLogsDownload streams the whole result as NDJSON, record
// by record, however large: nothing is held in memory, so today's open day
// comes in arrival order (a sealed day in the pages' order).
func (s *Server) handleConsoleLogsDownload(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "logs")
	if !ok {
		return
	}
	q, form, err := s.logQuery(r.URL.Query())
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	if err := s.Audit(r.Context(), p.actor(), "logs.query", "source:"+q.SourceID+" account:"+q.Account, "console download "+form.values().Encode()); err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="logs.ndjson"`)
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	started := false
	err = s.Logs.QueryLogs(r.Context(), q, func(rec *slokeeper.LogRecord) error {
		started = true
		return enc.Encode(rec)
	})
	if err != nil && !started {
		s.consoleError(w, r, p.op, err)
	} else if err != nil {
		s.Logger.Error("console log download failed mid-stream", "err", err)
	}
}
