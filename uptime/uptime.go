// Package uptime turns probe results into what the availability clause is
// judged by, without I/O: a component's state over time (down only once a
// failure is confirmed: several checks in a row, and with several nodes,
// seen by more than one), uptime per day with maintenance windows left
// out, the error budget against the policy's target, and burn-rate alerts
// over several windows, as the SRE workbook describes them.
//
// Time a component was not observed (before its first check, or while no
// node checked it) counts neither as up nor as down.
package uptime

import (
	"cmp"
	"slices"
	"time"

	"slokeeper/calendar"
)

// Result is one check of a component by one node.
type Result struct {
	At   time.Time
	Node string
	OK   bool
}

// Rule says when failures make a component down.
type Rule struct {
	// Consecutive failures in a row one node must see (at least 1).
	Consecutive int
	// Nodes that must each see them (at least 1).
	Nodes int
}

// Span is a stretch of time a component spent in one state, [From, To).
type Span struct {
	From, To time.Time
	Down     bool
}

// Interval is a stretch of time, [From, To): a maintenance window.
type Interval struct {
	From, To time.Time
}

// Timeline returns the component's confirmed state from its first result
// to end, from results in any order. It is down once Rule.Nodes nodes each
// see Rule.Consecutive failures in a row, from the first failure of the
// latest such run to begin, and up again at the first result that leaves
// fewer nodes failing that way.
func Timeline(results []Result, rule Rule, end time.Time) []Span {
	rule.Consecutive, rule.Nodes = max(rule.Consecutive, 1), max(rule.Nodes, 1)
	rs := slices.SortedStableFunc(slices.Values(results), func(a, b Result) int { return a.At.Compare(b.At) })
	type streak struct {
		n     int       // failures in a row
		start time.Time // the first of them
	}
	streaks := map[string]*streak{}
	var out []Span
	down, since := false, time.Time{}
	for _, r := range rs {
		if !r.At.Before(end) {
			break
		}
		s := streaks[r.Node]
		if s == nil {
			s = &streak{}
			streaks[r.Node] = s
		}
		if r.OK {
			s.n = 0
		} else {
			if s.n == 0 {
				s.start = r.At
			}
			s.n++
		}
		// Is the component down after this result, and since when?
		var starts []time.Time
		for _, s := range streaks {
			if s.n >= rule.Consecutive {
				starts = append(starts, s.start)
			}
		}
		nowDown := len(starts) >= rule.Nodes
		if since.IsZero() {
			since = r.At
			down = nowDown
			if nowDown {
				since = confirmedFrom(starts, rule.Nodes)
			}
			continue
		}
		if nowDown == down {
			continue
		}
		at := r.At
		if nowDown {
			// Down from when the confirming runs began, not from when they
			// were confirmed: the failures before were downtime too.
			at = maxTime(confirmedFrom(starts, rule.Nodes), since)
		}
		out = add(out, Span{From: since, To: at, Down: down})
		down, since = nowDown, at
	}
	if !since.IsZero() {
		out = add(out, Span{From: since, To: end, Down: down})
	}
	return out
}

// add appends s to spans, dropping it if empty and merging it into the
// last span if that is in the same state (an up stretch of no length
// between two down ones leaves one down span).
func add(spans []Span, s Span) []Span {
	if !s.To.After(s.From) {
		return spans
	}
	if n := len(spans); n > 0 && spans[n-1].Down == s.Down && spans[n-1].To.Equal(s.From) {
		spans[n-1].To = s.To
		return spans
	}
	return append(spans, s)
}

// confirmedFrom returns when n of the runs had begun: the n-th earliest start.
func confirmedFrom(starts []time.Time, n int) time.Time {
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	return starts[n-1]
}

// union merges intervals into disjoint ones, in order.
func union(iv []Interval) []Interval {
	iv = slices.Clone(iv)
	slices.SortFunc(iv, func(a, b Interval) int { return cmp.Or(a.From.Compare(b.From), a.To.Compare(b.To)) })
	var out []Interval
	for _, x := range iv {
		if !x.To.After(x.From) {
			continue
		}
		if n := len(out); n > 0 && !x.From.After(out[n-1].To) {
			out[n-1].To = maxTime(out[n-1].To, x.To)
			continue
		}
		out = append(out, x)
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// overlap returns how long [a0, a1) and [b0, b1) share.
func overlap(a0, a1, b0, b1 time.Time) time.Duration {
	from, to := maxTime(a0, b0), minTime(a1, b1)
	if !to.After(from) {
		return 0
	}
	return to.Sub(from)
}

// Tally is the time of [From, To) a component was observed, down, and in
// maintenance, counted outside maintenance.
type Tally struct {
	From, To    time.Time
	Observed    time.Duration // observed and outside maintenance: what uptime is a share of
	Down        time.Duration // down and outside maintenance
	Maintenance time.Duration // in a maintenance window (observed or not)
}

// Uptime is the share of the observed time outside maintenance the
// component was up; 1 when none was observed.
func (t Tally) Uptime() float64 {
	if t.Observed <= 0 {
		return 1
	}
	return 1 - float64(t.Down)/float64(t.Observed)
}

// Count tallies spans over [from, to). With excludeMaintenance false the
// windows still show in Maintenance, but count like any other time.
func Count(spans []Span, maintenance []Interval, from, to time.Time, excludeMaintenance bool) Tally {
	t := Tally{From: from, To: to}
	windows := union(maintenance)
	for _, w := range windows {
		t.Maintenance += overlap(w.From, w.To, from, to)
	}
	for _, s := range spans {
		d := overlap(s.From, s.To, from, to)
		if d == 0 {
			continue
		}
		if excludeMaintenance {
			lo, hi := maxTime(s.From, from), minTime(s.To, to)
			for _, w := range windows {
				d -= overlap(w.From, w.To, lo, hi)
			}
		}
		t.Observed += d
		if s.Down {
			t.Down += d
		}
	}
	return t
}

// Day is one calendar day's tally.
type Day struct {
	Day string // YYYY-MM-DD in the policy's time zone
	Tally
}

// Days tallies each calendar day in loc from the day of from up to the
// day of to, the last one up to to: the bars of a status page.
func Days(spans []Span, maintenance []Interval, from, to time.Time, loc *time.Location, excludeMaintenance bool) []Day {
	var out []Day
	for d := calendar.StartOfDay(from, loc); d.Before(to); d = calendar.NextDay(d, loc) {
		out = append(out, Day{Day: d.In(loc).Format(time.DateOnly), Tally: Count(spans, maintenance, d, minTime(calendar.NextDay(d, loc), to), excludeMaintenance)})
	}
	return out
}

// Budget is the error budget over a window ending now.
type Budget struct {
	Target  float64       // e.g. 0.999
	Allowed time.Duration // downtime the target allows in the observed time
	Used    time.Duration // downtime there was
}

// Left is the share of the budget left: 1 untouched, 0 spent, below 0 overspent.
func (b Budget) Left() float64 {
	if b.Allowed <= 0 {
		if b.Used > 0 {
			return -1
		}
		return 1
	}
	return 1 - float64(b.Used)/float64(b.Allowed)
}

// ErrorBudget returns the budget of [now-window, now) against target.
func ErrorBudget(spans []Span, maintenance []Interval, target float64, now time.Time, window time.Duration, excludeMaintenance bool) Budget {
	t := Count(spans, maintenance, now.Add(-window), now, excludeMaintenance)
	return Budget{Target: target, Allowed: time.Duration((1 - target) * float64(t.Observed)), Used: t.Down}
}

// BurnRate is how fast [now-window, now) spent the budget: its error rate
// over the rate the target allows. 1 spends the budget exactly over the
// SLO's period; 14.4 spends 2% of a 30-day budget in an hour.
func BurnRate(spans []Span, maintenance []Interval, target float64, now time.Time, window time.Duration, excludeMaintenance bool) float64 {
	t := Count(spans, maintenance, now.Add(-window), now, excludeMaintenance)
	if t.Observed <= 0 || target >= 1 {
		return 0
	}
	return float64(t.Down) / float64(t.Observed) / (1 - target)
}

// Severities of a burn-rate alert.
const (
	Page   = "page"   // someone acts now
	Ticket = "ticket" // someone acts in working hours
)

// BurnWindow is one row of the multi-window, multi-burn-rate table: the
// alert fires when both the long and the short window burn at Factor or
// faster (the short one makes it stop soon after the burning does).
type BurnWindow struct {
	Severity    string
	Long, Short time.Duration
	Factor      float64
}

// Workbook is the SRE workbook's table for a 30-day SLO: 2% of the budget
// in an hour, 5% in six hours, 10% in three days.
var Workbook = []BurnWindow{
	{Page, time.Hour, 5 * time.Minute, 14.4},
	{Page, 6 * time.Hour, 30 * time.Minute, 6},
	{Ticket, 72 * time.Hour, 6 * time.Hour, 1},
}

// Alert is a burn-rate alert that fires, with the rates that fired it.
type Alert struct {
	BurnWindow
	LongRate, ShortRate float64
}

// MinObserved is the observed time (outside maintenance) below which a
// component's uptime and error budget are "not enough data yet" rather
// than a figure: a component checked for ten minutes, one of them down,
// is not "90% up", and its budget is not "−99900% left".
const MinObserved = 24 * time.Hour

// Enough reports whether observed is enough to state an uptime or an
// error budget.
func Enough(observed time.Duration) bool { return observed >= MinObserved }

// MinBurnCoverage is the share of each of a burn-rate row's windows that
// must have been observed for the row to fire: a component first checked
// five minutes ago, with one failure, does not page anyone.
const MinBurnCoverage = 0.5

// BurnAlerts returns the rows of table that fire at now. A row fires only
// when at least MinBurnCoverage of both its windows was observed.
func BurnAlerts(spans []Span, maintenance []Interval, target float64, now time.Time, table []BurnWindow, excludeMaintenance bool) []Alert {
	var out []Alert
	covered := func(window time.Duration) bool {
		t := Count(spans, maintenance, now.Add(-window), now, excludeMaintenance)
		return float64(t.Observed) >= MinBurnCoverage*float64(window)
	}
	for _, w := range table {
		if !covered(w.Long) || !covered(w.Short) {
			continue
		}
		long := BurnRate(spans, maintenance, target, now, w.Long, excludeMaintenance)
		short := BurnRate(spans, maintenance, target, now, w.Short, excludeMaintenance)
		if long >= w.Factor && short >= w.Factor {
			out = append(out, Alert{BurnWindow: w, LongRate: long, ShortRate: short})
		}
	}
	return out
}
