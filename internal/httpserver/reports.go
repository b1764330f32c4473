package httpserver

import (
	"context"
	"net/http"
	"time"

	"slokeeper"
	"slokeeper/report"
)

// reportPage is how many evidence rows the report loader reads at once:
// the report streams, so a year never sits in memory.
const reportPage = 5000

// handleReportIndex renders the compliance report of [from, to):
// GET /api/v1/reports?from=DATE&to=DATE&lang=ja|en&format=json|csv. It
// is read like evidence, by every staff role (the auditor included), and
// each reading is audited.
func (s *Server) handleReportIndex(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	loc := s.Policy.Location()
	lang, format := q.Get("lang"), q.Get("format")
	if lang == "" {
		lang = report.LangJA
	}
	if format == "" {
		format = "json"
	}
	from, err := report.ParseDate("from", q.Get("from"), loc)
	var to time.Time
	if err == nil {
		to, err = report.ParseDate("to", q.Get("to"), loc)
	}
	if err == nil {
		err = report.CheckLang(lang)
	}
	if err == nil && format != "json" && format != "csv" {
		err = slokeeper.Errorf(slokeeper.EINVALID, "format=%q is not json or csv. / 形式 %q は json でも csv でもありません。", format, format)
	}
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	rep, err := s.buildReport(r.Context(), from, to)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.Audit(r.Context(), p.actor(), "report.read", "report:"+q.Get("from")+".."+q.Get("to"), "lang "+lang+", format "+format); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		if err := report.WriteCSV(w, rep, lang); err != nil {
			s.Logger.Error("write report", "err", err)
		}
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err := report.WriteJSON(w, rep, lang); err != nil {
		s.Logger.Error("write report", "err", err)
	}
}

// buildReport fills the report's input from the stores.
func (s *Server) buildReport(ctx context.Context, from, to time.Time) (*report.Report, error) {
	in := report.Input{Policy: s.Policy, From: from, To: to}
	in.Evidence = func(yield func(*slokeeper.Evidence) bool) error {
		for off := 0; ; off += reportPage {
			es, _, err := s.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Since: from, Until: to, Offset: off, Limit: reportPage})
			if err != nil {
				return err
			}
			for _, e := range es {
				if !yield(e) {
					return nil
				}
			}
			if len(es) < reportPage {
				return nil
			}
		}
	}
	parts, err := s.Logs.LogPartitions(ctx)
	if err != nil {
		return nil, err
	}
	in.Partitions = map[string][]string{}
	for _, p := range parts {
		if p.Sealed {
			in.Partitions[p.Class] = append(in.Partitions[p.Class], p.Day)
		}
	}
	ms, err := s.Schedule.Store.FindMaintenances(ctx, slokeeper.MaintenanceFilter{From: from.AddDate(0, -1, 0), To: to})
	if err != nil {
		return nil, err
	}
	in.Maintenance = ms
	incs, err := s.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Since: from})
	if err != nil {
		return nil, err
	}
	in.Incidents = incs
	if s.Monitor != nil {
		cs, err := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
		if err != nil {
			return nil, err
		}
		in.Components = []report.Component{}
		for _, c := range cs {
			spans, err := s.Monitor.Timeline(ctx, c, from, to)
			if err != nil {
				return nil, err
			}
			in.Components = append(in.Components, report.Component{Name: c.ID, Spans: spans})
		}
	}
	return report.Build(in)
}
