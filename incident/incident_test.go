package incident_test

import (
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/incident"
	"slokeeper/policy"
)

func TestOpen(t *testing.T) {
	p := policy.Default() // first notice within 30 minutes of detection
	jst := time.FixedZone("JST", 9*3600)
	now := time.Date(2026, 12, 3, 10, 0, 0, 123456789, jst)
	t.Run("OK", func(t *testing.T) {
		inc := &slokeeper.Incident{ID: "chosen", Components: []string{"api"}, TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMajor,
			DetectedAt: now.Add(-10 * time.Minute), Status: slokeeper.IncidentResolved, ResolvedAt: now, Updates: []slokeeper.IncidentUpdate{{}}}
		first, notice, err := incident.Open(p, inc, "調査中です。", "Investigating.", "operator:alice", "n1", now)
		if err != nil {
			t.Fatal(err)
		}
		stamped := time.Date(2026, 12, 3, 1, 0, 0, 123456000, time.UTC)
		if !strings.HasPrefix(inc.ID, "in_") || len(inc.ID) != 15 || !inc.OpenedAt.Equal(stamped) || inc.OpenedAt.Location() != time.UTC ||
			!inc.DetectedAt.Equal(stamped.Add(-10*time.Minute)) || !inc.ResolvedAt.IsZero() || inc.Updates != nil {
			t.Errorf("incident = %+v", inc)
		}
		if first.Status != slokeeper.IncidentInvestigating || !first.At.Equal(stamped) || first.By != "operator:alice" || first.BodyJA != "調査中です。" {
			t.Errorf("first update = %+v", first)
		}
		if notice.Action != "incident.notice" || notice.Subject != "incident:"+inc.ID || notice.Outcome != slokeeper.OutcomeOK ||
			!notice.Deadline.Equal(inc.DetectedAt.Add(30*time.Minute)) || !notice.At.Equal(stamped) || notice.Node != "n1" {
			t.Errorf("notice = %+v", notice)
		}
	})
	t.Run("DetectedNowByDefault", func(t *testing.T) {
		inc := &slokeeper.Incident{TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMinor}
		if _, _, err := incident.Open(p, inc, "x", "x", "operator:alice", "n1", now); err != nil || !inc.DetectedAt.Equal(inc.OpenedAt) {
			t.Errorf("detected %s, opened %s, err %v", inc.DetectedAt, inc.OpenedAt, err)
		}
	})
	t.Run("Late", func(t *testing.T) {
		inc := &slokeeper.Incident{TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMinor, DetectedAt: now.Add(-31 * time.Minute)}
		if _, notice, err := incident.Open(p, inc, "x", "x", "operator:alice", "n1", now); err != nil || notice.Outcome != slokeeper.OutcomeLate {
			t.Errorf("notice 31 minutes after detection = %+v, %v; want late", notice, err)
		}
	})
	for name, tc := range map[string]struct {
		inc    slokeeper.Incident
		ja, en string
	}{
		"ErrNoTitle":       {slokeeper.Incident{TitleEN: "Outage", Impact: slokeeper.ImpactMinor}, "x", "x"},
		"ErrImpact":        {slokeeper.Incident{TitleJA: "障害", TitleEN: "Outage", Impact: "huge"}, "x", "x"},
		"ErrDetectedLater": {slokeeper.Incident{TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMinor, DetectedAt: now.Add(time.Hour)}, "x", "x"},
		"ErrNoEnglishBody": {slokeeper.Incident{TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMinor}, "x", " "},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := incident.Open(p, &tc.inc, tc.ja, tc.en, "operator:alice", "n1", now); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
				t.Errorf("Open = %v, want EINVALID", err)
			}
		})
	}
}

func TestStamp(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 999, time.FixedZone("JST", 9*3600))
	u := &slokeeper.IncidentUpdate{Incident: "in_1", Status: slokeeper.IncidentMonitoring, BodyJA: "監視中", BodyEN: "Monitoring"}
	if err := incident.Stamp(u, "system:n1", now); err != nil || u.By != "system:n1" || u.At.Location() != time.UTC || !u.At.Equal(now.Truncate(time.Microsecond)) {
		t.Errorf("Stamp = %+v, %v", u, err)
	}
	if err := incident.Stamp(&slokeeper.IncidentUpdate{Status: "done", BodyJA: "x", BodyEN: "x"}, "operator:alice", now); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("a bad status = %v", err)
	}
}

func TestNext(t *testing.T) {
	since := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	investigating := []*slokeeper.Incident{{ID: "in_1", Status: slokeeper.IncidentInvestigating}}
	monitoring := []*slokeeper.Incident{{ID: "in_1", Status: slokeeper.IncidentMonitoring}}
	for _, tc := range []struct {
		name          string
		down          bool
		since         time.Time
		open          []*slokeeper.Incident
		inMaintenance bool
		want          incident.Step
	}{
		{"DownOpensOne", true, since, nil, false, incident.OpenOne},
		{"DownWithOneOpen", true, since, investigating, false, incident.Nothing},
		{"DownInMaintenance", true, since, nil, true, incident.Nothing},
		{"UpAgainNotesRecovery", false, since, investigating, false, incident.Recovered},
		{"UpAgainNotedAlready", false, since, monitoring, false, incident.Nothing},
		{"UpNeverChecked", false, time.Time{}, investigating, false, incident.Nothing},
		{"UpNothingOpen", false, since, nil, false, incident.Nothing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := incident.Next(tc.down, tc.since, tc.open, tc.inMaintenance); got != tc.want {
				t.Errorf("Next = %d, want %d", got, tc.want)
			}
		})
	}
}

// The banner never says all is well while an incident is open: the
// service's state is the worst of its components and its open incidents.
func TestServiceState(t *testing.T) {
	at := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	minor := &slokeeper.Incident{Impact: slokeeper.ImpactMinor, Status: slokeeper.IncidentInvestigating}
	critical := &slokeeper.Incident{Impact: slokeeper.ImpactCritical, Status: slokeeper.IncidentIdentified}
	resolved := &slokeeper.Incident{Impact: slokeeper.ImpactCritical, Status: slokeeper.IncidentResolved, ResolvedAt: at}
	for _, c := range []struct {
		components string
		open       []*slokeeper.Incident
		want       string
	}{
		{"operational", nil, "operational"},
		{"operational", []*slokeeper.Incident{resolved}, "operational"},
		{"operational", []*slokeeper.Incident{minor}, "degraded"},
		{"operational", []*slokeeper.Incident{minor, critical}, "outage"},
		{"outage", []*slokeeper.Incident{minor}, "outage"},
		{"degraded", nil, "degraded"},
		{"", []*slokeeper.Incident{minor}, "degraded"},
	} {
		if got := incident.ServiceState(c.components, c.open); got != c.want {
			t.Errorf("ServiceState(%q, %d open) = %q, want %q", c.components, len(c.open), got, c.want)
		}
	}
}
