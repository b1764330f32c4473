// Package report builds the compliance report: for a period and the policy
// in force, every clause with its measured state, its figures, the
// exceptions one by one and the findings where evidence that must exist is
// missing. It does no I/O: the caller streams evidence in and renders the
// Report (JSON and CSV here; HTML and a signed bundle build on the same
// model). It reuses the engines' rules (uptime, maintenance, incident)
// instead of deriving them again.
package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/calendar"
	"slokeeper/incident"
	"slokeeper/maintenance"
	"slokeeper/policy"
	"slokeeper/uptime"
)

// States of a clause.
const (
	Held        = "held"         // measured, and every obligation met
	Breached    = "breached"     // an obligation was missed (late, violated)
	AtRisk      = "at_risk"      // nothing missed on record, but failures or missing evidence
	NotMeasured = "not_measured" // no evidence this report can measure it by; Reason says why
)

// Finding kinds.
const (
	NoEvidence   = "no_evidence"  // evidence that must exist does not
	NotEnough    = "not_enough"   // too little observation to judge (uptime.Enough)
	Inconsistent = "inconsistent" // two inventories disagree
)

// Component is one probed component and its confirmed timeline.
type Component struct {
	Name  string
	Spans []uptime.Span
}

// Input is everything a report reads. Evidence is streamed: it is called
// once and yields each row of the period, in any order, so a year's rows
// never have to be in memory at once.
type Input struct {
	Policy   *policy.Policy
	From, To time.Time // [From, To), normally midnights in the policy's zone

	Evidence func(yield func(*slokeeper.Evidence) bool) error

	Components  []Component // none: availability is not measured
	Maintenance []*slokeeper.Maintenance
	Incidents   []*slokeeper.Incident
	// Partitions lists, per log class ("system", "exec"), the days that
	// have a sealed partition in the log store (an inventory independent
	// of evidence); the days whose originals were erased on record are
	// added to it. Nil: every day of the period is expected.
	Partitions map[string][]string
}

// Report is the renderer-neutral model of a compliance report.
type Report struct {
	Service policy.Text `json:"service"`
	From    time.Time   `json:"from"`
	To      time.Time   `json:"to"`
	Zone    string      `json:"zone"`
	Clauses []*Clause   `json:"clauses"`
}

// Clause is one clause of the policy, measured.
type Clause struct {
	ID         string       `json:"id"`
	Text       policy.Text  `json:"text"`
	State      string       `json:"state"`
	Reason     *policy.Text `json:"reason,omitempty"` // why not measured
	Figures    []Figure     `json:"figures"`
	Exceptions []Exception  `json:"exceptions"`
	Findings   []Finding    `json:"findings"`
}

// Figure is one named measurement and the evidence rows it rests on.
type Figure struct {
	Name     string  `json:"name"`              // stable key, e.g. "backups_taken"
	Subject  string  `json:"subject,omitempty"` // e.g. "api/2026-11" or "system"
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"` // count, percent, seconds
	Evidence []int64 `json:"evidence"`
}

// Exception is one obligation not met on time, from its evidence row.
type Exception struct {
	Evidence int64     `json:"evidence"` // 0 when it rests on a store's record, not an evidence row
	Action   string    `json:"action"`
	Subject  string    `json:"subject"`
	Outcome  string    `json:"outcome"`
	Deadline time.Time `json:"deadline,omitzero"`
	DoneAt   time.Time `json:"done_at"`
	Lateness int64     `json:"lateness_seconds"` // DoneAt - Deadline, 0 when on time
	Cause    string    `json:"cause,omitempty"`
}

// Finding is something that should be on record and is not, or two
// inventories that disagree.
type Finding struct {
	Kind    string      `json:"kind"`
	Subject string      `json:"subject"`
	Text    policy.Text `json:"text"`
}

// clauses of the policy, in policy order, with their text.
func clauses(p *policy.Policy) []*Clause {
	return []*Clause{
		{ID: policy.ClauseAvailability, Text: p.Availability.Text},
		{ID: policy.ClauseMaintenance, Text: p.Maintenance.Text},
		{ID: policy.ClauseRedundancy, Text: p.Redundancy.Text},
		{ID: policy.ClauseIncidents, Text: p.Incidents.Text},
		{ID: policy.ClauseDataUse, Text: p.Data.AnonUse.Text},
		{ID: policy.ClauseSystemLogs, Text: p.Data.SystemLogs.Text},
		{ID: policy.ClauseUserData, Text: p.Data.UserData.Text},
		{ID: policy.ClauseExecLogs, Text: p.Data.ExecLogs.Text},
		{ID: policy.ClauseAccess, Text: p.Access.Text},
		{ID: policy.ClauseSecurity, Text: p.Security.Text},
		{ID: policy.ClauseSupport, Text: p.Support.Text},
	}
}

// notMeasured are the clauses whose evidence does not exist yet.
var notMeasured = map[string]policy.Text{
	policy.ClauseDataUse:  {JA: "匿名化データのエクスポートはまだ証跡を記録していません。", EN: "Anonymized exports record no evidence yet."},
	policy.ClauseAccess:   {JA: "アクセス権限の付与・利用とアクセスレビューはまだこのレポートに読み込まれていません。", EN: "Access grants, their uses and access reviews are not loaded into this report yet."},
	policy.ClauseSecurity: {JA: "監査台帳の検証とチェックポイント、社内監査はまだこのレポートに読み込まれていません。", EN: "Audit-ledger verifications, checkpoints and internal audits are not loaded into this report yet."},
	policy.ClauseSupport:  {JA: "サポートデスクはまだ稼働していないため、測定できません。", EN: "The support desk does not run yet, so there is nothing to measure."},
}

// builder accumulates what the evidence stream shows.
type builder struct {
	in  Input
	loc *time.Location
	by  map[string]*Clause
	// counts[clause][action] and the rows behind them
	counts map[string]map[string][]int64
	// done[class/day][action] = evidence ID of a successful backup/verify
	done map[string]map[string]int64
	// notices[subject] = first notice evidence
	notices map[string]*slokeeper.Evidence
}

// Build reads in and returns the report. It fails only when the evidence
// stream fails or the period is invalid.
func Build(in Input) (*Report, error) {
	p := in.Policy
	if p == nil || !in.From.Before(in.To) {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "A report needs a policy and a period whose start is before its end.")
	}
	b := &builder{in: in, loc: p.Location(), by: map[string]*Clause{}, counts: map[string]map[string][]int64{},
		done: map[string]map[string]int64{}, notices: map[string]*slokeeper.Evidence{}}
	r := &Report{Service: p.Service.Name, From: in.From, To: in.To, Zone: p.Service.TimeZone, Clauses: clauses(p)}
	for _, c := range r.Clauses {
		b.by[c.ID] = c
		c.Figures, c.Exceptions, c.Findings = []Figure{}, []Exception{}, []Finding{}
	}
	if in.Evidence != nil {
		if err := in.Evidence(b.add); err != nil {
			return nil, fmt.Errorf("report: read evidence: %w", err)
		}
	}
	b.availability()
	b.maintenance()
	b.incidents()
	for _, nc := range p.Data.Classes() {
		b.dataClass(nc)
	}
	b.redundancy()
	for _, c := range r.Clauses {
		b.finish(c)
	}
	return r, nil
}

func (b *builder) add(e *slokeeper.Evidence) bool {
	if e.At.Before(b.in.From) || !e.At.Before(b.in.To) {
		return true
	}
	c, ok := b.by[e.Clause]
	if !ok {
		return true
	}
	m := b.counts[e.Clause]
	if m == nil {
		m = map[string][]int64{}
		b.counts[e.Clause] = m
	}
	m[e.Action+"/"+e.Outcome] = append(m[e.Action+"/"+e.Outcome], e.ID)
	// A row done after its deadline is late whatever its outcome says:
	// the report judges by the deadline on the row.
	if e.Outcome != slokeeper.OutcomeOK || (!e.Deadline.IsZero() && e.At.After(e.Deadline)) {
		x := exception(e)
		if x.Outcome == slokeeper.OutcomeOK {
			x.Outcome = slokeeper.OutcomeLate
		}
		c.Exceptions = append(c.Exceptions, x)
	}
	if e.Outcome == slokeeper.OutcomeOK || e.Outcome == slokeeper.OutcomeLate {
		switch e.Action {
		case "backup", "verify", "erase_original":
			key, _, _ := strings.Cut(e.Subject, " ")
			if b.done[key] == nil {
				b.done[key] = map[string]int64{}
			}
			b.done[key][e.Action] = e.ID
		}
	}
	if strings.HasPrefix(e.Subject, "incident:") || strings.HasPrefix(e.Subject, "maintenance:") {
		if f, ok := b.notices[e.Subject]; !ok || e.At.Before(f.At) {
			cp := *e
			b.notices[e.Subject] = &cp
		}
	}
	return true
}

func exception(e *slokeeper.Evidence) Exception {
	x := Exception{Evidence: e.ID, Action: e.Action, Subject: e.Subject, Outcome: e.Outcome, Deadline: e.Deadline, DoneAt: e.At, Cause: e.Detail}
	if !e.Deadline.IsZero() && e.At.After(e.Deadline) {
		x.Lateness = int64(e.At.Sub(e.Deadline) / time.Second)
	}
	return x
}

// availability: per component per month, uptime against the target with
// maintenance excluded as the policy says, and the month's error budget.
func (b *builder) availability() {
	c, p := b.by[policy.ClauseAvailability], b.in.Policy
	if len(b.in.Components) == 0 {
		c.Reason = &policy.Text{JA: "監視しているコンポーネントがないか、その監視結果が読み込まれていません。", EN: "No component is probed, or no probe results were loaded."}
		return
	}
	target := p.Availability.Target.Fraction()
	for _, comp := range b.in.Components {
		iv := b.windows(comp.Name)
		for m := calendar.StartOfMonth(b.in.From, b.loc); m.Before(b.in.To); m = calendar.NextMonth(m, b.loc) {
			from, to := maxT(m, b.in.From), minT(calendar.NextMonth(m, b.loc), b.in.To)
			subject := comp.Name + "/" + m.Format("2006-01")
			t := uptime.Count(comp.Spans, iv, from, to, p.Availability.ExcludeMaintenance)
			if !uptime.Enough(t.Observed) {
				c.Findings = append(c.Findings, Finding{Kind: NotEnough, Subject: subject, Text: policy.Text{
					JA: fmt.Sprintf("%s の観測時間(%s)が判定に足りません。", subject, t.Observed),
					EN: fmt.Sprintf("%s was observed for %s, not enough to judge.", subject, t.Observed)}})
				continue
			}
			bud := uptime.ErrorBudget(comp.Spans, iv, target, to, to.Sub(from), p.Availability.ExcludeMaintenance)
			c.Figures = append(c.Figures,
				Figure{Name: "uptime", Subject: subject, Value: round(t.Uptime() * 100), Unit: "percent", Evidence: []int64{}},
				Figure{Name: "downtime", Subject: subject, Value: t.Down.Seconds(), Unit: "seconds", Evidence: []int64{}},
				Figure{Name: "error_budget_left", Subject: subject, Value: round(bud.Left() * 100), Unit: "percent", Evidence: []int64{}})
			if t.Uptime() < target {
				c.Exceptions = append(c.Exceptions, Exception{Action: "uptime", Subject: subject, Outcome: slokeeper.OutcomeViolated, DoneAt: to,
					Cause: fmt.Sprintf("uptime %.3f%% below the objective %.3f%%", t.Uptime()*100, target*100)})
			}
		}
	}
}

// windows returns the maintenance windows that cover a component.
func (b *builder) windows(comp string) []uptime.Interval {
	var iv []uptime.Interval
	for _, m := range b.in.Maintenance {
		if !m.CancelledAt.IsZero() {
			continue
		}
		if len(m.Components) == 0 || contains(m.Components, comp) {
			iv = append(iv, uptime.Interval{From: m.Start, To: m.End})
		}
	}
	return iv
}

// maintenance: each window starting in the period, announced by
// maintenance.NoticeDeadline, with its notice on record.
func (b *builder) maintenance() {
	c, p := b.by[policy.ClauseMaintenance], b.in.Policy
	var n int
	for _, m := range b.in.Maintenance {
		if !m.CancelledAt.IsZero() || m.Start.Before(b.in.From) || !m.Start.Before(b.in.To) {
			continue
		}
		n++
		subject := "maintenance:" + m.ID
		lead := m.Start.Sub(m.CreatedAt)
		var ids []int64
		var notice int64
		if e := b.notices[subject]; e != nil {
			ids, notice = []int64{e.ID}, e.ID
		} else {
			c.Findings = append(c.Findings, noEvidence(subject, "告知", "notice"))
		}
		c.Figures = append(c.Figures, Figure{Name: "notice_lead_time", Subject: subject, Value: lead.Seconds(), Unit: "seconds", Evidence: orEmpty(ids)})
		if deadline := maintenance.NoticeDeadline(p, m.Start); !m.Emergency && m.CreatedAt.After(deadline) {
			c.Exceptions = append(c.Exceptions, Exception{Evidence: notice, Action: "notice", Subject: subject, Outcome: slokeeper.OutcomeLate, Deadline: deadline,
				DoneAt: m.CreatedAt, Lateness: int64(m.CreatedAt.Sub(deadline) / time.Second), Cause: "announced with less notice than the policy's " + p.Maintenance.Notice.String()})
		}
	}
	c.Figures = append(c.Figures, Figure{Name: "windows", Value: float64(n), Unit: "count", Evidence: []int64{}})
}

// incidents: detection to first notice against the policy's bound.
func (b *builder) incidents() {
	c, p := b.by[policy.ClauseIncidents], b.in.Policy
	var n int
	for _, inc := range b.in.Incidents {
		if inc.DetectedAt.Before(b.in.From) || !inc.DetectedAt.Before(b.in.To) {
			continue
		}
		n++
		subject := "incident:" + inc.ID
		e := b.notices[subject]
		if e == nil {
			c.Findings = append(c.Findings, noEvidence(subject, "初報", "first notice"))
			continue
		}
		c.Figures = append(c.Figures, Figure{Name: "detection_to_notice", Subject: subject, Value: e.At.Sub(inc.DetectedAt).Seconds(), Unit: "seconds", Evidence: []int64{e.ID}})
		// The bound is incident.NoticeEvidence's: one rule, in one place.
		if want := incident.NoticeEvidence(p, inc, e.At, ""); want.Outcome != slokeeper.OutcomeOK && e.Outcome == slokeeper.OutcomeOK {
			c.Exceptions = append(c.Exceptions, exception(want))
			c.Exceptions[len(c.Exceptions)-1].Evidence = e.ID
		}
	}
	c.Figures = append(c.Figures, Figure{Name: "incidents", Value: float64(n), Unit: "count", Evidence: []int64{}})
}

// dataClass: backups taken and verified, erasures, holds, and a verified
// backup expected per sealed day partition whose backup period closed.
func (b *builder) dataClass(nc policy.NamedClass) {
	c := b.by[nc.Clause]
	m := b.counts[nc.Clause]
	for _, a := range []struct{ name, action string }{
		{"backups_taken", "backup"}, {"backups_verified", "verify"}, {"originals_erased", "erase_original"},
		{"backups_erased", "erase_backup"}, {"interlock_holds", "held"}, {"accounts_erased", "erase_account"}, {"keys_destroyed", "destroy_key"},
	} {
		ids := append(append([]int64{}, m[a.action+"/"+slokeeper.OutcomeOK]...), m[a.action+"/"+slokeeper.OutcomeLate]...)
		if a.action == "held" {
			ids = append(ids, m[a.action+"/"+slokeeper.OutcomeViolated]...)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		c.Figures = append(c.Figures, Figure{Name: a.name, Subject: nc.Key, Value: float64(len(ids)), Unit: "count", Evidence: ids})
	}
	class := strings.TrimSuffix(nc.Key, "_logs")
	if class == nc.Key { // user data: backups are per account; expected rows need the account inventory
		return
	}
	days := append([]string(nil), b.in.Partitions[class]...)
	if b.in.Partitions != nil {
		// The log store lists the partitions it holds; those whose
		// originals were erased existed too, as their erasure shows.
		known := map[string]bool{}
		for _, d := range days {
			known[d] = true
		}
		for key, acts := range b.done {
			if cl, day, ok := strings.Cut(key, "/"); ok && cl == class && acts["erase_original"] != 0 && !known[day] {
				days = append(days, day)
			}
		}
		sort.Strings(days)
	} else {
		for d := calendar.StartOfDay(b.in.From, b.loc); d.Before(b.in.To); d = calendar.NextDay(d, b.loc) {
			days = append(days, d.Format(time.DateOnly))
		}
	}
	var expected int
	for _, day := range days {
		d, err := time.ParseInLocation(time.DateOnly, day, b.loc)
		if err != nil || d.Before(calendar.StartOfDay(b.in.From, b.loc)) || !d.Before(b.in.To) {
			continue
		}
		closes := calendar.NextDay(d, b.loc)
		if nc.Backup.Every == policy.Monthly {
			closes = calendar.NextMonth(d, b.loc)
		}
		if nc.Backup.Grace.AddTo(closes).After(b.in.To) {
			continue // not due yet within the period
		}
		expected++
		subject := class + "/" + day
		for _, a := range []struct{ action, ja, en string }{{"backup", "バックアップ", "backup"}, {"verify", "バックアップの検証", "backup verification"}} {
			if b.done[subject][a.action] == 0 {
				c.Findings = append(c.Findings, noEvidence(subject, a.ja, a.en))
			}
		}
	}
	c.Figures = append(c.Figures, Figure{Name: "backups_expected", Subject: nc.Key, Value: float64(expected), Unit: "count", Evidence: []int64{}})
	if b.in.Partitions != nil {
		b.crossCheck(c, class, days)
	}
}

// crossCheck reports evidence of a backup of a day of the period that
// the log store's inventory does not know: one of the two is wrong.
func (b *builder) crossCheck(c *Clause, class string, days []string) {
	known := map[string]bool{}
	for _, d := range days {
		known[d] = true
	}
	first, last := calendar.StartOfDay(b.in.From, b.loc).Format(time.DateOnly), b.in.To.In(b.loc).Format(time.DateOnly)
	var odd []string
	for key, acts := range b.done {
		cl, day, ok := strings.Cut(key, "/")
		if !ok || cl != class || known[day] || day < first || day >= last || acts["backup"] == 0 {
			continue
		}
		odd = append(odd, key)
	}
	sort.Strings(odd)
	for _, key := range odd {
		c.Findings = append(c.Findings, Finding{Kind: Inconsistent, Subject: key, Text: policy.Text{
			JA: fmt.Sprintf("%s のバックアップの証跡(%d)がありますが、ログストアにその日のパーティションがありません。", key, b.done[key]["backup"]),
			EN: fmt.Sprintf("Evidence %d backs up %s, but the log store has no partition of that day.", b.done[key]["backup"], key)}})
	}
}

// redundancy: the nodes' own evidence of running below the policy.
func (b *builder) redundancy() {
	c := b.by[policy.ClauseRedundancy]
	if len(b.counts[policy.ClauseRedundancy]) == 0 {
		c.Reason = &policy.Text{JA: "ノードの稼働記録(1日ごとの確認)はまだこのレポートに読み込まれていません。", EN: "Node sightings per day are not loaded into this report yet."}
	}
}

func (b *builder) finish(c *Clause) {
	if r, ok := notMeasured[c.ID]; ok && len(c.Exceptions) == 0 && len(b.counts[c.ID]) == 0 {
		c.Reason = &r
	}
	sort.SliceStable(c.Exceptions, func(i, j int) bool {
		x, y := c.Exceptions[i], c.Exceptions[j]
		if !x.DoneAt.Equal(y.DoneAt) {
			return x.DoneAt.Before(y.DoneAt)
		}
		return x.Evidence < y.Evidence
	})
	breached, failed := false, false
	for _, x := range c.Exceptions {
		if x.Outcome == slokeeper.OutcomeFailed && x.Lateness == 0 {
			failed = true // a try that fails before its deadline is retried: at risk, not missed
		} else {
			breached = true
		}
	}
	switch {
	case breached:
		c.State = Breached
	case failed || len(c.Findings) > 0:
		c.State = AtRisk
	case c.Reason != nil:
		c.State = NotMeasured
	default:
		c.State = Held
	}
}

func noEvidence(subject, ja, en string) Finding {
	return Finding{Kind: NoEvidence, Subject: subject, Text: policy.Text{
		JA: fmt.Sprintf("%s の%sの証跡がありません。", subject, ja),
		EN: fmt.Sprintf("No evidence of the %s of %s.", en, subject)}}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func orEmpty(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
