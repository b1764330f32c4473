package storetest

import (
	"context"
	"testing"
	"time"

	"slokeeper"
)

func testIncidents(t *testing.T, s Store) {
	ctx := context.Background()
	detected := time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)
	opened := detected.Add(90 * time.Second)
	inc := &slokeeper.Incident{ID: "in_1", Components: []string{"api"}, TitleJA: "クラウド実行環境の障害", TitleEN: "Cloud runtime outage",
		Impact: slokeeper.ImpactMajor, DetectedAt: detected, OpenedAt: opened, AutoComponent: "api"}
	first := &slokeeper.IncidentUpdate{At: opened, Status: slokeeper.IncidentInvestigating, BodyJA: "調査中です。", BodyEN: "We are investigating.", By: "system:n1"}
	if err := s.Incidents.OpenIncident(ctx, inc, first, nil); err != nil {
		t.Fatal(err)
	}
	if first.ID == 0 || inc.Status != slokeeper.IncidentInvestigating {
		t.Errorf("after opening: %+v %+v", inc, first)
	}
	// A second node seeing the same failure opens nothing more.
	dup := *inc
	dup.ID = "in_2"
	if err := s.Incidents.OpenIncident(ctx, &dup, &slokeeper.IncidentUpdate{At: opened, Status: slokeeper.IncidentInvestigating, BodyJA: "x", BodyEN: "x"}, nil); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("a second open incident for api = %v, want ECONFLICT", err)
	}
	if err := s.Incidents.OpenIncident(ctx, &slokeeper.Incident{ID: "in_3", TitleJA: "x", TitleEN: "x", Impact: "huge", DetectedAt: detected, OpenedAt: opened},
		&slokeeper.IncidentUpdate{At: opened, Status: slokeeper.IncidentInvestigating, BodyJA: "x", BodyEN: "x"}, nil); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("a bad impact = %v", err)
	}
	if err := s.Incidents.SetPostmortem(ctx, "in_1", "x", "x"); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("a postmortem before the resolution = %v", err)
	}
	for _, u := range []*slokeeper.IncidentUpdate{
		{Incident: "in_1", At: opened.Add(10 * time.Minute), Status: slokeeper.IncidentIdentified, BodyJA: "原因を特定しました。", BodyEN: "We found the cause.", By: "operator:alice"},
		{Incident: "in_1", At: opened.Add(40 * time.Minute), Status: slokeeper.IncidentResolved, BodyJA: "復旧しました。", BodyEN: "Resolved.", By: "operator:alice"},
	} {
		if err := s.Incidents.AddIncidentUpdate(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Incidents.AddIncidentUpdate(ctx, &slokeeper.IncidentUpdate{Incident: "in_1", At: opened.Add(time.Hour), Status: slokeeper.IncidentMonitoring, BodyJA: "x", BodyEN: "x"}); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("an update after the resolution = %v", err)
	}
	if err := s.Incidents.SetPostmortem(ctx, "in_1", "原因はディスクの枯渇でした。", "A full disk."); err != nil {
		t.Fatal(err)
	}
	got, err := s.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{ID: "in_1"})
	if err != nil || len(got) != 1 {
		t.Fatalf("FindIncidents = %v, %v", got, err)
	}
	g := got[0]
	if g.Status != slokeeper.IncidentResolved || !g.ResolvedAt.Equal(opened.Add(40*time.Minute)) || len(g.Updates) != 3 || g.Updates[0].BodyJA != "調査中です。" ||
		g.Updates[2].Status != slokeeper.IncidentResolved || g.PostmortemJA != "原因はディスクの枯渇でした。" || !g.DetectedAt.Equal(detected) || g.Components[0] != "api" {
		t.Errorf("incident = %+v", g)
	}
	// Resolved, the component may open a new one.
	dup.OpenedAt = opened.Add(2 * time.Hour)
	if err := s.Incidents.OpenIncident(ctx, &dup, &slokeeper.IncidentUpdate{At: dup.OpenedAt, Status: slokeeper.IncidentInvestigating, BodyJA: "x", BodyEN: "x"}, nil); err != nil {
		t.Errorf("a new incident after the last was resolved = %v", err)
	}
	if open, _ := s.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Open: true}); len(open) != 1 || open[0].ID != "in_2" || len(open[0].Updates) != 1 {
		t.Errorf("open = %+v", open)
	}
	if all, _ := s.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{}); len(all) != 2 || all[0].ID != "in_2" {
		t.Errorf("newest first = %+v", all)
	}
}
