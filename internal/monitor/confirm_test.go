package monitor_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/monitor"
	"slokeeper/internal/probe"
	"slokeeper/internal/sqlite"
	"slokeeper/policy"
)

// TestConfirmationsShort: three nodes belong to the cluster, two stopped;
// the one left sees a component fail. The policy asks for two
// confirmations: no public incident is opened on one node's view, the
// shortfall is evidence (once) and listed for the console. With
// open_on_fewer_confirmations the incident is opened, and marked.
func TestConfirmationsShort(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(map[bool]string{false: "Held", true: "OpenedByPolicy"}[open], func(t *testing.T) {
			ctx := context.Background()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
			defer srv.Close()
			db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "slokeeper.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			c := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
			nodes := sqlite.NewNodeService(db)
			for _, n := range []string{"n1", "n2", "n3"} {
				if _, err := nodes.BeatNode(ctx, &slokeeper.Node{Name: n, StartedAt: c.Now(), LastSeen: c.Now()}, nil); err != nil {
					t.Fatal(err)
				}
			}
			cs := sqlite.NewComponentService(db)
			cs.PutComponent(ctx, &slokeeper.Component{ID: "api", NameJA: "API", NameEN: "API", Interval: slokeeper.Duration(10 * time.Second), Failures: 3,
				Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL}})
			p := policy.Default()
			p.Redundancy.OpenOnFewerConfirmations = open
			incidents, evidence := sqlite.NewIncidentService(db), sqlite.NewEvidenceService(db)
			m := monitor.New(monitor.Config{Components: cs, Prober: probe.New(c, nil, loopback(t)), Clock: c, Node: "n1", Policy: p,
				Incidents: incidents, Evidence: evidence, Nodes: nodes, NodeTimeout: 30 * time.Second})
			c.Add(time.Minute) // n2 and n3 are silent from now on
			for range 5 {
				if _, err := nodes.BeatNode(ctx, &slokeeper.Node{Name: "n1", StartedAt: c.Now(), LastSeen: c.Now()}, nil); err != nil {
					t.Fatal(err)
				}
				if _, err := m.Tick(ctx); err != nil {
					t.Fatal(err)
				}
				c.Add(10 * time.Second)
			}
			got, _ := incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Open: true})
			ev, _, _ := evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "confirmations_short"})
			if len(ev) != 1 || ev[0].Clause != "redundancy" || ev[0].Outcome != slokeeper.OutcomeViolated ||
				!strings.Contains(ev[0].Detail, "confirmed by 1 of 2 required nodes (serving: n1)") {
				t.Fatalf("evidence = %+v, want one shortfall: confirmed by 1 of 2", ev)
			}
			sf := m.Shortfalls()
			if len(sf) != 1 || sf[0].Component != "api" || sf[0].Confirmed != 1 || sf[0].Required != 2 || sf[0].Held == open {
				t.Fatalf("shortfalls = %+v", sf)
			}
			if open {
				if len(got) != 1 || !strings.Contains(ev[0].Detail, "as the policy allows") {
					t.Fatalf("with open_on_fewer_confirmations: incidents %+v, evidence %q", got, ev[0].Detail)
				}
				return
			}
			if len(got) != 0 || !strings.Contains(ev[0].Detail, "no public incident is opened") {
				t.Fatalf("one node's view opened incidents %+v (evidence %q)", got, ev[0].Detail)
			}
		})
	}
}
