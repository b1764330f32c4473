package monitor_test

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/monitor"
	"slokeeper/internal/netguard"
	"slokeeper/internal/probe"
	"slokeeper/internal/sqlite"
	"slokeeper/policy"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// TestMonitor: a real server goes down and comes back; the component is
// down only after three failed checks in a row, from the first of them,
// and checks run on each component's own interval.
func TestMonitor(t *testing.T) {
	ctx := context.Background()
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs := sqlite.NewComponentService(db)
	c := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	api := &slokeeper.Component{ID: "api", NameJA: "API", NameEN: "API", Interval: slokeeper.Duration(10 * time.Second), Failures: 3,
		Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL}}
	slow := &slokeeper.Component{ID: "slow", NameJA: "遅い", NameEN: "Slow", Interval: slokeeper.Duration(time.Minute),
		Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL}}
	cs.PutComponent(ctx, api)
	cs.PutComponent(ctx, slow)
	// The policy wants two nodes to confirm; alone, this one suffices.
	maint := sqlite.NewMaintenanceService(db)
	incidents, evidence := sqlite.NewIncidentService(db), sqlite.NewEvidenceService(db)
	m := monitor.New(monitor.Config{Components: cs, Prober: probe.New(c, nil, loopback(t)), Clock: c, Node: "n1", Policy: policy.Default(),
		Maintenance: maint, Incidents: incidents, Evidence: evidence})

	tick := func() []slokeeper.CheckResult {
		t.Helper()
		rs, err := m.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	state := func() monitor.State {
		t.Helper()
		s, err := m.State(ctx, api)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if rs := tick(); len(rs) != 2 || !rs[0].OK {
		t.Fatalf("first tick = %+v", rs)
	}
	c.Add(5 * time.Second)
	if rs := tick(); len(rs) != 0 {
		t.Errorf("nothing is due after 5s: %+v", rs)
	}
	c.Add(5 * time.Second)
	if rs := tick(); len(rs) != 1 || rs[0].Component != "api" {
		t.Errorf("after 10s only api is due: %+v", rs)
	}
	failing.Store(true)
	firstFailure := c.Now().Add(10 * time.Second)
	for i := range 3 {
		c.Add(10 * time.Second)
		tick()
		if s := state(); s.Down != (i == 2) {
			t.Fatalf("after %d failed checks: %+v", i+1, s)
		}
	}
	if s := state(); !s.Since.Equal(firstFailure) || s.Detail != "status 503 Service Unavailable" {
		t.Errorf("down = %+v, want since %v", s, firstFailure)
	}
	// The confirmed failure opened an incident, detected at the first
	// failure and announced now: evidence against the 30-minute bound.
	open, _ := incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Open: true})
	if len(open) != 1 || !open[0].DetectedAt.Equal(firstFailure) || open[0].AutoComponent != "api" || open[0].Status != slokeeper.IncidentInvestigating ||
		open[0].TitleJA != "APIで障害が発生しています" || len(open[0].Updates) != 1 {
		t.Fatalf("open incidents = %+v", open)
	}
	ev, _, _ := evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "incident.notice"})
	if len(ev) != 1 || ev[0].Outcome != slokeeper.OutcomeOK || !ev[0].Deadline.Equal(firstFailure.Add(30*time.Minute)) {
		t.Errorf("notice evidence = %+v", ev)
	}
	if v, err := m.View(ctx, 3, false); err != nil || v.Status != monitor.Degraded || v.Components[0].Status != monitor.Outage || v.Components[1].Status != monitor.Operational {
		t.Errorf("view while api is down = %+v, %v", v, err)
	}
	failing.Store(false)
	c.Add(10 * time.Second)
	tick()
	if s := state(); s.Down || !s.Since.Equal(c.Now()) {
		t.Errorf("after a good check = %+v", s)
	}
	if open, _ := incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Open: true}); len(open) != 1 || open[0].Status != slokeeper.IncidentMonitoring || len(open[0].Updates) != 2 {
		t.Errorf("after the recovery the incident = %+v", open)
	}
	// Today's bar: down 30s (from the first failed check to the good one)
	// of the 50s observed; the two days before were not observed.
	if err := m.Tally(ctx, c.Now()); err != nil {
		t.Fatal(err)
	}
	v, err := m.View(ctx, 3, false)
	if err != nil || v.Status != monitor.Operational || len(v.Components) != 2 {
		t.Fatalf("view = %+v, %v", v, err)
	}
	days := v.Components[0].Days
	if len(days) != 3 || days[0].Uptime != nil || days[2].Day != "2026-12-03" || days[2].Uptime == nil || math.Abs(*days[2].Uptime-(1-30/50.001)) > 1e-6 || days[2].Down != 30 {
		t.Errorf("api's bars = %+v", days)
	}
	if u := v.Components[0].Uptime; math.Abs(u-(1-30/50.001)) > 1e-6 {
		t.Errorf("api's uptime = %v", u)
	}
	// Its error budget at 99.9%: 0.1% of the 50s observed allowed, 30s used: overspent.
	if b := v.Components[0].Budget; math.Abs(b.Allowed-0.050001) > 1e-6 || b.Used != 30 || b.Left >= 0 {
		t.Errorf("api's error budget = %+v", b)
	}
	// An announced window over the first 10s of the outage: not downtime,
	// and the component shows as in maintenance while one runs.
	outage := firstFailure
	maint.CreateMaintenance(ctx, &slokeeper.Maintenance{ID: "mt_1", Components: []string{"api"}, TitleJA: "更新", TitleEN: "Upgrade",
		Start: outage, End: outage.Add(10 * time.Second), CreatedAt: outage.Add(-8 * 24 * time.Hour)})
	m.Tally(ctx, c.Now())
	v, _ = m.View(ctx, 1, false)
	if d := v.Components[0].Days[0]; d.Down != 20 || d.Maintenance != 10 || math.Abs(*d.Uptime-(1-20/40.001)) > 1e-6 {
		t.Errorf("with maintenance excluded: %+v (uptime %v)", d, *d.Uptime)
	}
	maint.CreateMaintenance(ctx, &slokeeper.Maintenance{ID: "mt_2", TitleJA: "全体", TitleEN: "All", Start: c.Now().Add(-time.Second), End: c.Now().Add(time.Hour), CreatedAt: outage})
	if v, _ := m.View(ctx, 1, false); v.Components[0].Status != monitor.InMaintenance || v.Components[1].Status != monitor.InMaintenance {
		t.Errorf("during a window = %+v", v.Components)
	}
	// A removed component is no longer checked.
	cs.DeleteComponent(ctx, "slow")
	c.Add(time.Minute)
	if rs := tick(); len(rs) != 1 || rs[0].Component != "api" {
		t.Errorf("after removing slow: %+v", rs)
	}
}

// TestBurnAlerts: ten minutes down after half an hour up burns a 99.9%
// objective's budget hundreds of times too fast: the workbook's page
// alerts fire (and the three-day ticket); five minutes up again end the
// one-hour alert, whose short window is clean, while the six-hour one,
// whose short window still holds the outage, goes on.
func TestBurnAlerts(t *testing.T) {
	ctx := context.Background()
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs := sqlite.NewComponentService(db)
	c := &clock{now: time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)}
	cs.PutComponent(ctx, &slokeeper.Component{ID: "api", NameJA: "API", NameEN: "API", Interval: slokeeper.Duration(10 * time.Second), Failures: 1,
		Target: 0.999, Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL}})
	m := monitor.New(monitor.Config{Components: cs, Prober: probe.New(c, nil, loopback(t)), Clock: c, Node: "n1", Policy: policy.Default(),
		Logger: slog.New(slog.DiscardHandler)})
	run := func(d time.Duration, step ...time.Duration) {
		t.Helper()
		every := 10 * time.Second
		if len(step) > 0 {
			every = step[0]
		}
		for end := c.Now().Add(d); c.Now().Before(end); c.Add(every) {
			if _, err := m.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	firing := func() []string {
		v, err := m.View(ctx, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range v.Components[0].Alerts {
			out = append(out, a.Severity+" "+a.Long+"/"+a.Short)
		}
		return out
	}
	run(30 * time.Minute)
	if got := firing(); len(got) != 0 {
		t.Fatalf("up for 30 minutes: %v", got)
	}
	// Checked for 40 minutes, down for the last ten: only the fast page
	// has enough data (half of each window, uptime.MinBurnCoverage); the
	// 6 h and 3 d rows wait for 3 h and 36 h of checks.
	failing.Store(true)
	run(10 * time.Minute)
	if got, want := strings.Join(firing(), ", "), "page 1h0m0s/5m0s"; got != want {
		t.Errorf("a new component ten minutes down: %s, want %s", got, want)
	}
	// Up for two days (checked every ten minutes, to be quick), then down
	// for ten minutes: every row fires.
	failing.Store(false)
	run(48*time.Hour, 10*time.Minute)
	if got := firing(); len(got) != 0 {
		t.Fatalf("up for two days: %v", got)
	}
	failing.Store(true)
	run(10 * time.Minute)
	if got, want := strings.Join(firing(), ", "), "page 1h0m0s/5m0s, page 6h0m0s/30m0s, ticket 72h0m0s/6h0m0s"; got != want {
		t.Errorf("ten minutes down: %s, want %s", got, want)
	}
	failing.Store(false)
	run(6 * time.Minute)
	if got, want := strings.Join(firing(), ", "), "page 6h0m0s/30m0s, ticket 72h0m0s/6h0m0s"; got != want {
		t.Errorf("six minutes up again: %s, want %s", got, want)
	}
}

// TestIncidentNoticeNeverWithoutEvidence: while the evidence store
// refuses inserts, a confirmed failure opens no incident (the pass fails
// visibly); once the store is back the next pass opens it with the
// evidence of its notice. Never open and unproven.
func TestIncidentNoticeNeverWithoutEvidence(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs := sqlite.NewComponentService(db)
	c := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	api := &slokeeper.Component{ID: "api", NameJA: "API", NameEN: "API", Interval: slokeeper.Duration(10 * time.Second), Failures: 1,
		Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL}}
	if err := cs.PutComponent(ctx, api); err != nil {
		t.Fatal(err)
	}
	incidents, evidence := sqlite.NewIncidentService(db), sqlite.NewEvidenceService(db)
	m := monitor.New(monitor.Config{Components: cs, Prober: probe.New(c, nil, loopback(t)), Clock: c, Node: "n1", Policy: policy.Default(),
		Maintenance: sqlite.NewMaintenanceService(db), Incidents: incidents, Evidence: evidence})
	refuse := func(on bool) {
		t.Helper()
		q := `DROP TRIGGER refuse_evidence`
		if on {
			q = `CREATE TRIGGER refuse_evidence BEFORE INSERT ON evidence BEGIN SELECT RAISE(ABORT, 'evidence store unavailable'); END`
		}
		if _, err := db.Writer().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	state := func() (open, notices int) {
		t.Helper()
		incs, err := incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Open: true})
		if err != nil {
			t.Fatal(err)
		}
		ev, _, err := evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "incident.notice"})
		if err != nil {
			t.Fatal(err)
		}
		return len(incs), len(ev)
	}

	refuse(true)
	if _, err := m.Tick(ctx); err == nil {
		t.Error("a pass that could not record the notice's evidence reported no error")
	}
	if open, notices := state(); open != 0 || notices != 0 {
		t.Errorf("while evidence is refused: %d open incidents, %d notices; want 0 and 0 (never open and unproven)", open, notices)
	}
	refuse(false)
	c.Add(10 * time.Second)
	if _, err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if open, notices := state(); open != 1 || notices != 1 {
		t.Errorf("once the store is back: %d open incidents, %d notices; want 1 and 1", open, notices)
	}
}

// loopback allows probes of this machine: the tests' servers listen on
// loopback, which probes may not reach by default.
func loopback(tb testing.TB) *netguard.Policy {
	tb.Helper()
	p, err := netguard.Parse("loopback", "probe_allow_targets")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
