package httpserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
	"slokeeper/policy"
)

// The console's audit ledger and evidence, for admins and auditors:
// browse and filter the ledger, see whether it verifies, export it as
// NDJSON; evidence by clause. Nothing on these pages changes anything.

// AuditVerify is what verifying the ledger found: how many entries, and
// the problems (none when it holds).
type AuditVerify struct {
	Entries     int64      `json:"entries"`
	Checkpoints int        `json:"checkpoints"` // valid signed checkpoints
	Keys        []AuditKey `json:"keys"`        // the verifier keys checkpoints were checked against
	Problems    []string   `json:"problems"`    // "#SEQ: what is wrong"
}

// AuditKey is a verifier key the ledger trusts, and the node that
// registered it in the ledger (entry Seq).
type AuditKey struct {
	Key  string `json:"key"`
	Node string `json:"node,omitempty"`
	Seq  int64  `json:"seq,omitempty"`
}

// OK reports whether the ledger verified.
func (v *AuditVerify) OK() bool { return len(v.Problems) == 0 }

type auditPage struct {
	consoleBase
	Actor, Action, Target string
	Entries               []auditRow
	Next, Export          string
	Verify                *AuditVerify
}

type auditRow struct {
	Seq                          int64
	At, Actor, Action, Target, D string
}

func (s *Server) handleConsoleAudit(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "audit")
	if !ok {
		return
	}
	l := lang(r)
	v := r.URL.Query()
	pg := auditPage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "audit"}, Actor: v.Get("actor"), Action: v.Get("action"), Target: v.Get("target")}
	pg.Title = pg.T("監査台帳", "Audit ledger")
	f := slokeeper.AuditFilter{Actor: pg.Actor, Action: pg.Action, Target: pg.Target}
	after := int64(0)
	if a := v.Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			pg.Error = pg.T("ページの指定が正しくありません。", "That is not a page of the ledger.")
			s.renderPrivate(w, r, http.StatusBadRequest, "console-audit.html", l, pg)
			return
		}
		after = n
	}
	loc := s.Policy.Location()
	more := false
	err := s.AuditLog.EachAuditEntry(r.Context(), after+1, 0, func(e *slokeeper.AuditEntry) error {
		if !f.Match(e) {
			return nil
		}
		if len(pg.Entries) == consolePageSize {
			more = true
			return errPageFull
		}
		pg.Entries = append(pg.Entries, auditRow{e.Seq, maintenance.JST(e.At, loc, l), e.Actor, e.Action, e.Target, e.Detail})
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		s.consoleError(w, r, p.op, err)
		return
	}
	q := url.Values{"lang": {l}}
	for k, x := range map[string]string{"actor": pg.Actor, "action": pg.Action, "target": pg.Target} {
		if x != "" {
			q.Set(k, x)
		}
	}
	pg.Export = "/admin/audit.ndjson?" + q.Encode()
	if more {
		q.Set("after", strconv.FormatInt(pg.Entries[len(pg.Entries)-1].Seq, 10))
		pg.Next = "/admin/audit?" + q.Encode()
	}
	if v.Get("verify") != "" && s.VerifyAudit != nil {
		if pg.Verify, err = s.VerifyAudit(r.Context()); err != nil {
			s.consoleError(w, r, p.op, err)
			return
		}
	}
	s.renderPrivate(w, r, http.StatusOK, "console-audit.html", l, pg)
}

// handleConsoleAuditExport streams the matching entries, hashes included,
// as NDJSON: what an auditor takes away to check with audit.pub.
func (s *Server) handleConsoleAuditExport(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "audit")
	if !ok {
		return
	}
	v := r.URL.Query()
	f := slokeeper.AuditFilter{Actor: v.Get("actor"), Action: v.Get("action"), Target: v.Get("target")}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="audit.ndjson"`)
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	started := false
	err := s.AuditLog.EachAuditEntry(r.Context(), 1, 0, func(e *slokeeper.AuditEntry) error {
		if !f.Match(e) {
			return nil
		}
		started = true
		return enc.Encode(e)
	})
	if err != nil && !started {
		s.consoleError(w, r, p.op, err)
	} else if err != nil {
		s.Logger.Error("audit export failed mid-stream", "err", err)
	}
}

// evidencePage is the evidence of one clause, newest first.
type evidencePage struct {
	consoleBase
	Clauses  []string
	Clause   string
	Outcome  string
	Total    int
	Evidence []evidenceRow
	Next     string
}

type evidenceRow struct {
	At, Action, Subject, Deadline, Outcome, Detail, Node string
}

var evidenceClauses = []string{policy.ClauseAvailability, policy.ClauseMaintenance, policy.ClauseRedundancy, policy.ClauseIncidents,
	policy.ClauseDataUse, policy.ClauseSystemLogs, policy.ClauseUserData, policy.ClauseExecLogs, policy.ClauseAccess,
	policy.ClauseSecurity, policy.ClauseSupport}

func (s *Server) handleConsoleEvidence(w http.ResponseWriter, r *http.Request) {
	p, ok := s.consoleSession(w, r, "audit")
	if !ok {
		return
	}
	l := lang(r)
	v := r.URL.Query()
	pg := evidencePage{consoleBase: consoleBase{page: page{Lang: l}, Operator: p.op, Section: "evidence"}, Clauses: evidenceClauses,
		Clause: v.Get("clause"), Outcome: v.Get("outcome")}
	pg.Title = pg.T("条項ごとの証跡", "Evidence by clause")
	offset, _ := strconv.Atoi(v.Get("offset"))
	es, total, err := s.Evidence.FindEvidence(r.Context(), slokeeper.EvidenceFilter{Clause: pg.Clause, Outcome: pg.Outcome, Offset: max(offset, 0), Limit: consolePageSize})
	if err != nil {
		s.consoleError(w, r, p.op, err)
		return
	}
	pg.Total = total
	loc := s.Policy.Location()
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return maintenance.JST(t, loc, l)
	}
	for _, e := range es {
		pg.Evidence = append(pg.Evidence, evidenceRow{when(e.At), e.Action, e.Subject, when(e.Deadline), e.Outcome, e.Detail, e.Node})
	}
	if next := max(offset, 0) + len(es); next < total {
		q := url.Values{"lang": {l}, "clause": {pg.Clause}, "outcome": {pg.Outcome}, "offset": {strconv.Itoa(next)}}
		pg.Next = "/admin/evidence?" + q.Encode()
	}
	s.renderPrivate(w, r, http.StatusOK, "console-evidence.html", l, pg)
}
