// Package monitor checks every component on its interval, stores the
// results, and says what state each component is in: down only once its
// failures are confirmed (uptime.Timeline). It is driven by Tick, so a test
// moves its clock and ticks, and the server ticks every second.
package monitor

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"slokeeper"
	"slokeeper/calendar"
	"slokeeper/internal/probe"
	"slokeeper/policy"
	"slokeeper/uptime"
)

// Config configures a Monitor.
type Config struct {
	Components slokeeper.ComponentService
	Prober     *probe.Prober
	Clock      slokeeper.Clock
	Node       string
	// Policy gives the days' time zone, the uptime target of components
	// that set none, whether maintenance is downtime, how many nodes must
	// confirm a failure (never more than report), and the bound on an
	// incident's first notice.
	Policy *policy.Policy
	// Workers bounds the checks run at once (default 32).
	Workers int
	// Keep is how long results are kept (default 73h: the burn-rate
	// alerts' longest window and an hour); uptime history beyond it is
	// kept as daily tallies.
	Keep        time.Duration
	Maintenance slokeeper.MaintenanceService
	// Incidents, if set, are opened from confirmed failures, the time
	// from detection to the first notice recorded as Evidence.
	Incidents slokeeper.IncidentService
	Evidence  slokeeper.EvidenceService
	// Nodes, if set, tells how many nodes serve (seen within NodeTimeout,
	// default 30s) and how many the cluster has: a failure seen by fewer
	// nodes than the policy's probe_confirmations, because nodes stopped,
	// opens no public incident unless the policy allows it.
	Nodes       slokeeper.NodeService
	NodeTimeout time.Duration
	// Logger hears of burn-rate alerts. Default: slog.Default().
	Logger *slog.Logger
}

// Monitor runs the checks.
type Monitor struct {
	cfg     Config
	mu      sync.Mutex
	next    map[string]time.Time // component → when its next check is due
	pruned  time.Time            // when results were last pruned
	tallied time.Time            // when the days were last tallied
	down    map[string]bool      // component → down at its last check
	alerts  map[string][]BurnAlert
	short   map[string]Shortfall // component → its failure seen by too few nodes
	log     *slog.Logger
}

// New returns a Monitor.
func New(cfg Config) *Monitor {
	if cfg.Clock == nil {
		cfg.Clock = slokeeper.SystemClock{}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.Keep <= 0 {
		cfg.Keep = burnSpan() + time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NodeTimeout <= 0 {
		cfg.NodeTimeout = 30 * time.Second
	}
	return &Monitor{cfg: cfg, next: map[string]time.Time{}, down: map[string]bool{}, short: map[string]Shortfall{}, log: cfg.Logger.With("component", "monitor")}
}

// CheckTarget refuses a probe whose target the prober may not reach
// (probe.Prober.CheckTarget), for those who configure components.
func (m *Monitor) CheckTarget(p slokeeper.Probe) error { return m.cfg.Prober.CheckTarget(p) }

// tallyEvery is how often today's uptime is counted again.
const tallyEvery = time.Minute

// Tick checks every component whose check is due at the clock's now, at
// once (up to Workers at a time), stores the results, and returns them.
// Once an hour it also deletes results older than Keep.
func (m *Monitor) Tick(ctx context.Context) ([]slokeeper.CheckResult, error) {
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	prune, tally := now.Sub(m.pruned) >= time.Hour, now.Sub(m.tallied) >= tallyEvery
	if prune {
		m.pruned = now
	}
	if tally {
		m.tallied = now
	}
	m.mu.Unlock()
	if prune {
		if _, err := m.cfg.Components.PruneCheckResults(ctx, now.Add(-m.cfg.Keep)); err != nil {
			return nil, err
		}
	}
	cs, err := m.cfg.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
	if err != nil {
		return nil, err
	}
	var due []*slokeeper.Component
	m.mu.Lock()
	known := map[string]bool{}
	for _, c := range cs {
		known[c.ID] = true
		if next, ok := m.next[c.ID]; !ok || !now.Before(next) {
			due = append(due, c)
			m.next[c.ID] = now.Add(time.Duration(c.Interval))
		}
	}
	for id := range m.next {
		if !known[id] {
			delete(m.next, id) // removed since
		}
	}
	m.mu.Unlock()
	if len(due) == 0 {
		if tally {
			m.mu.Lock()
			m.tallied = time.Time{} // tally with the next results
			m.mu.Unlock()
		}
		return nil, nil
	}
	results := make([]slokeeper.CheckResult, len(due))
	sem := make(chan struct{}, m.cfg.Workers)
	var wg sync.WaitGroup
	for i, c := range due {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := m.cfg.Prober.Check(ctx, c.Probe)
			results[i] = slokeeper.CheckResult{Component: c.ID, Node: m.cfg.Node, At: now, OK: r.OK, Latency: r.Latency, Detail: r.Detail}
		}()
	}
	wg.Wait()
	if err := m.cfg.Components.AddCheckResults(ctx, results); err != nil {
		return results, err
	}
	if tally { // yesterday's final tally, and today's so far, this tick's results included
		if err := m.Tally(ctx, now.Add(-24*time.Hour)); err != nil {
			return results, err
		}
		if err := m.Tally(ctx, now); err != nil {
			return results, err
		}
		if err := m.burn(ctx, now); err != nil {
			return results, err
		}
	}
	return results, m.incidents(ctx, due)
}

// State is a component's confirmed state now.
type State struct {
	Component string
	Down      bool
	Since     time.Time // when it entered this state, or the oldest result read (zero: never checked)
	Detail    string    // the latest result's
	Failing   bool      // the latest result is a failure (confirmed or not yet)
	// confirmers is how many nodes the state was confirmed by (the
	// policy's probe_confirmations, or fewer when fewer probed); nodes
	// are those with results at hand.
	confirmers int
	nodes      []string
}

// State returns c's confirmed state at now, from the results of the last
// few intervals.
func (m *Monitor) State(ctx context.Context, c *slokeeper.Component) (State, error) {
	now := m.cfg.Clock.Now()
	end := now.Add(time.Millisecond) // past now, as the stores keep time (microseconds)
	spans, rs, err := m.timeline(ctx, c, now, end)
	if err != nil || len(spans) == 0 {
		return State{Component: c.ID}, err
	}
	last := spans[len(spans)-1]
	st := State{Component: c.ID, Down: last.Down, Since: last.From, Detail: rs[len(rs)-1].Detail, Failing: !rs[len(rs)-1].OK}
	for _, r := range rs {
		if !slices.Contains(st.nodes, r.Node) {
			st.nodes = append(st.nodes, r.Node)
		}
	}
	st.confirmers = min(max(m.cfg.Policy.Redundancy.ProbeConfirmations, 1), len(st.nodes))
	return st, nil
}

// timeline returns c's confirmed states over [from, end), from its
// results since enough earlier to see a run of Failures checks.
func (m *Monitor) timeline(ctx context.Context, c *slokeeper.Component, from, end time.Time) ([]uptime.Span, []slokeeper.CheckResult, error) {
	rs, err := m.cfg.Components.FindCheckResults(ctx, c.ID, from.Add(-time.Duration(c.Failures+2)*time.Duration(c.Interval)*2), end)
	if err != nil || len(rs) == 0 {
		return nil, nil, err
	}
	in := make([]uptime.Result, len(rs))
	nodes := map[string]bool{}
	for i, r := range rs {
		in[i] = uptime.Result{At: r.At, Node: r.Node, OK: r.OK}
		nodes[r.Node] = true
	}
	// No more confirmations than there are nodes probing: one node alone
	// must be able to see an outage. Never silently: a failure confirmed
	// by fewer is evidence and held from the public (confirmations).
	return uptime.Timeline(in, uptime.Rule{Consecutive: c.Failures, Nodes: min(max(m.cfg.Policy.Redundancy.ProbeConfirmations, 1), len(nodes))}, end), rs, nil
}

// windows returns the maintenance windows overlapping [from, to), none
// being cancelled.
func (m *Monitor) windows(ctx context.Context, from, to time.Time) ([]*slokeeper.Maintenance, error) {
	if m.cfg.Maintenance == nil {
		return nil, nil
	}
	return m.cfg.Maintenance.FindMaintenances(ctx, slokeeper.MaintenanceFilter{From: from, To: to})
}

// Tally counts every component's uptime on the day holding at (up to now,
// if that is today) and stores it.
func (m *Monitor) Tally(ctx context.Context, at time.Time) error {
	now, loc := m.cfg.Clock.Now(), m.cfg.Policy.Location()
	start := calendar.StartOfDay(at, loc)
	end := calendar.NextDay(start, loc)
	if end.After(now) {
		end = now.Add(time.Millisecond)
	}
	if !end.After(start) {
		return nil
	}
	cs, err := m.cfg.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
	if err != nil {
		return err
	}
	windows, err := m.windows(ctx, start, end)
	if err != nil {
		return err
	}
	var days []slokeeper.ComponentDay
	for _, c := range cs {
		spans, _, err := m.timeline(ctx, c, start, end)
		if err != nil {
			return err
		}
		var in []uptime.Interval
		for _, w := range windows {
			if w.Covers(c.ID) {
				in = append(in, uptime.Interval{From: w.Start, To: w.End})
			}
		}
		t := uptime.Count(spans, in, start, end, m.cfg.Policy.Availability.ExcludeMaintenance)
		days = append(days, slokeeper.ComponentDay{Component: c.ID, Day: start.Format(time.DateOnly), Observed: t.Observed, Down: t.Down, Maintenance: t.Maintenance})
	}
	return m.cfg.Components.PutComponentDays(ctx, days)
}

// Timeline returns c's confirmed states over [from, end), as the status
// page counts them: the compliance report's availability reads it.
func (m *Monitor) Timeline(ctx context.Context, c *slokeeper.Component, from, end time.Time) ([]uptime.Span, error) {
	spans, _, err := m.timeline(ctx, c, from, end)
	return spans, err
}
