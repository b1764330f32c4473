package jobs_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/jobs"
	"slokeeper/internal/postgres"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/storetest"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestHeartbeatSQLite(t *testing.T) {
	db := openSQLite(t)
	testHeartbeat(t, sqlite.NewNodeService(db), sqlite.NewEvidenceService(db), db.Ready)
}

func TestHeartbeatPostgres(t *testing.T) {
	db, err := postgres.Open(context.Background(), storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	testHeartbeat(t, postgres.NewNodeService(db), postgres.NewEvidenceService(db), db.Ready)
}

// testHeartbeat: three nodes beat on one store, the policy asking for two.
// Each checks itself (its own self-check evidence). Node c stops: of the
// two that notice, one records "c stopped" once. Then b stops too: one
// node serves, so the alert is raised once; c's return clears it, and
// c's return is evidence once.
func testHeartbeat(t *testing.T, nodes slokeeper.NodeService, ev slokeeper.EvidenceService, ready func(context.Context) error) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)}
	hb := map[string]*jobs.Heartbeat{}
	for _, n := range []string{"a", "b", "c"} {
		hb[n] = jobs.NewHeartbeat(jobs.HeartbeatConfig{Nodes: nodes, Evidence: ev, Ready: ready, Clock: clk, Node: n, Version: "test",
			Interval: 5 * time.Second, Bound: 30 * time.Second, SelfCheckInterval: time.Minute, Want: 2})
	}
	beat := func(names ...string) {
		t.Helper()
		var wg sync.WaitGroup
		for _, n := range names {
			wg.Go(func() {
				if err := hb[n].RunOnce(ctx); err != nil {
					t.Errorf("%s: RunOnce: %v", n, err)
				}
			})
		}
		wg.Wait()
	}
	find := func(action string) []*slokeeper.Evidence {
		t.Helper()
		got, _, err := ev.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for range 3 {
		beat("a", "b", "c")
		clk.Add(5 * time.Second)
	}
	checks := map[string]int{}
	for _, e := range find("self_check") {
		checks[e.Node]++
	}
	if len(checks) != 3 || checks["a"] != 1 {
		t.Fatalf("self-checks by node = %v, want one each from a, b and c (due every minute)", checks)
	}

	// c stops; a and b notice at once.
	for range 8 {
		clk.Add(5 * time.Second)
		beat("a", "b")
	}
	stopped := find("node_stopped")
	if len(stopped) != 1 || stopped[0].Subject != "node:c" || stopped[0].Clause != "redundancy" || !strings.Contains(stopped[0].Detail, "node c stopped at ~2026-12-03T01:00:10Z") {
		t.Fatalf("node_stopped evidence = %+v, want c stopped at its last beat, once", stopped)
	}
	if got := find("nodes_below_policy"); len(got) != 0 {
		t.Fatalf("alert raised with 2 of 2 nodes serving: %+v", got)
	}
	// b stops too: a alone serves.
	for range 8 {
		clk.Add(5 * time.Second)
		beat("a")
	}
	alerts := find("nodes_below_policy")
	if len(alerts) != 1 || alerts[0].Outcome != slokeeper.OutcomeViolated || !strings.Contains(alerts[0].Detail, "1 of 2 nodes serving (a)") {
		t.Fatalf("alert evidence = %+v, want one violation, 1 of 2 serving", alerts)
	}
	if a, err := jobs.Alert(ctx, nodes); err != nil || !strings.Contains(a, "1 of 2 nodes serving") {
		t.Fatalf("Alert = %q, %v", a, err)
	}
	ns, _ := nodes.FindNodes(ctx)
	if len(ns) != 3 || ns[1].StoppedAt.IsZero() || ns[2].StoppedAt.IsZero() || !ns[0].StoppedAt.IsZero() {
		t.Fatalf("nodes = %+v; want a serving, b and c stopped", ns)
	}
	// c comes back.
	clk.Add(5 * time.Second)
	beat("c")
	beat("a", "c")
	back := find("node_back")
	if len(back) != 1 || back[0].Subject != "node:c" || back[0].Node != "c" {
		t.Fatalf("node_back evidence = %+v, want c's return once", back)
	}
	restored := find("nodes_restored")
	if len(restored) != 1 || !strings.Contains(restored[0].Detail, "2 of 2 nodes serving again (a, c)") {
		t.Fatalf("nodes_restored evidence = %+v", restored)
	}
	if a, _ := jobs.Alert(ctx, nodes); a != "" {
		t.Fatalf("alert still raised: %q", a)
	}
}
