package slokeeper

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Incident states, in the order they usually pass.
const (
	IncidentInvestigating = "investigating"
	IncidentIdentified    = "identified"
	IncidentMonitoring    = "monitoring"
	IncidentResolved      = "resolved"
)

// Incident impacts.
const (
	ImpactMinor    = "minor"    // some users or a part of a component
	ImpactMajor    = "major"    // a component unusable
	ImpactCritical = "critical" // the service unusable
)

// Incident is a failure that affects the service, announced on the status
// page (and by e-mail) promptly after detection, with a timeline of
// updates in Japanese and English until it is resolved.
type Incident struct {
	ID         string    `json:"id"`
	Components []string  `json:"components"`
	TitleJA    string    `json:"title_ja"`
	TitleEN    string    `json:"title_en"`
	Impact     string    `json:"impact"`
	Status     string    `json:"status"`
	DetectedAt time.Time `json:"detected_at"` // the first failure, or when staff noticed
	OpenedAt   time.Time `json:"opened_at"`   // announced on the site
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// AutoComponent is the component whose confirmed failure opened it
	// ("" for incidents staff opened). A component has at most one such
	// incident open.
	AutoComponent string           `json:"auto_component,omitempty"`
	PostmortemJA  string           `json:"postmortem_ja,omitempty"`
	PostmortemEN  string           `json:"postmortem_en,omitempty"`
	Updates       []IncidentUpdate `json:"updates,omitempty"` // oldest first
}

// IncidentUpdate is one entry of an incident's timeline.
type IncidentUpdate struct {
	ID       int64     `json:"id"`
	Incident string    `json:"incident"`
	At       time.Time `json:"at"`
	Status   string    `json:"status"`
	BodyJA   string    `json:"body_ja"`
	BodyEN   string    `json:"body_en"`
	// By is who wrote it: operator:alice (token:ID), or system:NODE. It
	// is for staff only: Public leaves it out.
	By string `json:"by,omitempty"`
}

// Public returns a copy of inc as the public sees it (the API, the feed,
// webhooks): the public texts, without who wrote the timeline.
func (inc *Incident) Public() *Incident {
	out := *inc
	if inc.Updates != nil {
		out.Updates = make([]IncidentUpdate, len(inc.Updates))
		for i, u := range inc.Updates {
			u.By = ""
			out.Updates[i] = u
		}
	}
	return &out
}

// Validate reports whether u can be recorded.
func (u *IncidentUpdate) Validate() error {
	switch u.Status {
	case IncidentInvestigating, IncidentIdentified, IncidentMonitoring, IncidentResolved:
	default:
		return Errorf(EINVALID, "An incident's status is investigating, identified, monitoring or resolved; not %q.", u.Status)
	}
	if strings.TrimSpace(u.BodyJA) == "" || strings.TrimSpace(u.BodyEN) == "" {
		return Errorf(EINVALID, "An incident update is written in Japanese and in English (body_ja, body_en).")
	}
	return nil
}

// Validate reports whether inc can be opened.
func (inc *Incident) Validate() error {
	switch {
	case strings.TrimSpace(inc.TitleJA) == "" || strings.TrimSpace(inc.TitleEN) == "":
		return Errorf(EINVALID, "An incident needs a title in Japanese and in English (title_ja, title_en).")
	case inc.Impact != ImpactMinor && inc.Impact != ImpactMajor && inc.Impact != ImpactCritical:
		return Errorf(EINVALID, "An incident's impact is minor, major or critical; not %q.", inc.Impact)
	case inc.DetectedAt.After(inc.OpenedAt):
		return Errorf(EINVALID, "An incident cannot be detected after it was opened.")
	}
	return nil
}

// IncidentFilter selects incidents. Zero fields do not filter.
type IncidentFilter struct {
	ID            string
	Open          bool   // not resolved
	AutoComponent string // opened by this component's failure
	Since         time.Time
}

// IncidentService stores incidents and their timelines.
type IncidentService interface {
	// OpenIncident stores an incident with its first update and, when
	// notice is not nil, the evidence of its notice, all in one
	// transaction: an incident is never open without the evidence owed
	// for it, and a failed evidence write opens nothing. ECONFLICT when
	// inc.AutoComponent already has an incident open.
	OpenIncident(ctx context.Context, inc *Incident, first *IncidentUpdate, notice *Evidence) error
	// FindIncidents returns incidents, newest first, with their updates.
	FindIncidents(ctx context.Context, f IncidentFilter) ([]*Incident, error)
	// AddIncidentUpdate appends to the timeline and sets the incident's
	// status (and, when resolved, its resolution time).
	AddIncidentUpdate(ctx context.Context, u *IncidentUpdate) error
	// SetPostmortem stores the postmortem of a resolved incident.
	SetPostmortem(ctx context.Context, id, ja, en string) error
}

// NoticeEvidence is the evidence of an incident's first notice at at:
// the time from detection against the deadline the policy's bound sets
// (clause "incidents").
func NoticeEvidence(inc *Incident, at, deadline time.Time, node string) *Evidence {
	outcome := OutcomeOK
	if at.After(deadline) {
		outcome = OutcomeLate
	}
	return &Evidence{At: at, Clause: "incidents", Action: "incident.notice", Subject: "incident:" + inc.ID, Deadline: deadline, Outcome: outcome, Node: node,
		Detail: fmt.Sprintf("announced on the status page %s after detection", at.Sub(inc.DetectedAt).Round(time.Second))}
}
