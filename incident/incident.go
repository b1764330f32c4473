// Package incident holds the rules of incidents, without I/O, so that the
// monitor (incidents its checks open) and the HTTP API and console
// (incidents staff open) follow the same ones: what opening an incident
// sets and the evidence its first notice owes against the policy's bound,
// how an update is stamped, and when a component's checks open an
// incident or note its recovery (at most one open per component).
package incident

import (
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
	"slokeeper/policy"
)

// Open makes inc ready to be opened at now by by, with the first update
// of its timeline (investigating, bodyJA and bodyEN) and the evidence of
// its first notice, which the store records in the same transaction. It
// gives inc a new ID, opens it now, detects it now unless inc says
// earlier, and keeps both to the microsecond in UTC as the stores do, so
// the evidence says what is stored. Staff-opened incidents have no
// AutoComponent; the caller sets it for a component's failure.
func Open(p *policy.Policy, inc *slokeeper.Incident, bodyJA, bodyEN, by, node string, now time.Time) (first *slokeeper.IncidentUpdate, notice *slokeeper.Evidence, err error) {
	now = stamp(now)
	inc.ID, inc.OpenedAt, inc.ResolvedAt, inc.Updates = "in_"+auth.NewToken("")[:12], now, time.Time{}, nil
	if inc.DetectedAt.IsZero() {
		inc.DetectedAt = now
	}
	inc.DetectedAt = stamp(inc.DetectedAt)
	first = &slokeeper.IncidentUpdate{At: now, Status: slokeeper.IncidentInvestigating, BodyJA: bodyJA, BodyEN: bodyEN, By: by}
	if err := inc.Validate(); err != nil {
		return nil, nil, err
	}
	if err := first.Validate(); err != nil {
		return nil, nil, err
	}
	return first, NoticeEvidence(p, inc, now, node), nil
}

// NoticeEvidence is the evidence of inc's first notice at at, against the
// policy's bound from its detection.
func NoticeEvidence(p *policy.Policy, inc *slokeeper.Incident, at time.Time, node string) *slokeeper.Evidence {
	return slokeeper.NoticeEvidence(inc, at, p.Incidents.NotifyWithin.AddTo(inc.DetectedAt), node)
}

// Stamp makes u written at now by by, and checks it.
func Stamp(u *slokeeper.IncidentUpdate, by string, now time.Time) error {
	u.At, u.By = stamp(now), by
	return u.Validate()
}

func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Step is what a component's latest state calls for.
type Step int

// Steps.
const (
	Nothing   Step = iota
	OpenOne        // open an incident for the component
	Recovered      // note on its open incident that it responds again
)

// Next is the step for a component confirmed down (or not) since since,
// with open the incidents its failures opened that are still open: a
// failure opens one, unless one is open or an announced maintenance
// window covers it; a recovery is noted once, on the one open.
func Next(down bool, since time.Time, open []*slokeeper.Incident, inMaintenance bool) Step {
	switch {
	case down && len(open) == 0 && !inMaintenance:
		return OpenOne
	case !down && !since.IsZero() && len(open) == 1 && open[0].Status != slokeeper.IncidentMonitoring:
		return Recovered
	}
	return Nothing
}

// Service states, as the status page's banner and GET /api/v1/status
// name them, from best to worst.
const (
	ServiceOperational = "operational"
	ServiceDegraded    = "degraded"
	ServiceOutage      = "outage"
)

// ServiceState is the state of the service: the worst of what its
// components say (operational, degraded or outage) and of its open
// incidents, so the page never says all is well under an open incident.
// A minor or major incident makes the service degraded at least; a
// critical one, an outage.
func ServiceState(components string, open []*slokeeper.Incident) string {
	rank := map[string]int{ServiceOperational: 0, ServiceDegraded: 1, ServiceOutage: 2}
	worst := components
	if _, ok := rank[worst]; !ok {
		worst = ServiceOperational
	}
	for _, inc := range open {
		if inc == nil || !inc.ResolvedAt.IsZero() || inc.Status == slokeeper.IncidentResolved {
			continue
		}
		s := ServiceDegraded
		if inc.Impact == slokeeper.ImpactCritical {
			s = ServiceOutage
		}
		if rank[s] > rank[worst] {
			worst = s
		}
	}
	return worst
}
