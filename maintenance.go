package slokeeper

import (
	"context"
	"slices"
	"time"
)

// History is how far back the status page, its feed and API show
// incidents and maintenance windows (and uptime bars: 90 days).
const History = 90 * 24 * time.Hour

// Maintenance states, from the window's times and whether it was cancelled.
const (
	MaintenanceScheduled  = "scheduled"
	MaintenanceInProgress = "in_progress"
	MaintenanceCompleted  = "completed"
	MaintenanceCancelled  = "cancelled"
)

// Maintenance is a window in which components may be unavailable. An
// announced window is not downtime; a planned one must be announced the
// policy's notice ahead, an emergency one is announced at once, with a
// reason.
type Maintenance struct {
	ID          string    `json:"id"`
	Components  []string  `json:"components"` // affected; empty: every component
	TitleJA     string    `json:"title_ja"`
	TitleEN     string    `json:"title_en"`
	BodyJA      string    `json:"body_ja,omitempty"` // what happens, in Japanese
	BodyEN      string    `json:"body_en,omitempty"` // …and in English
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Emergency   bool      `json:"emergency,omitempty"`
	Reason      string    `json:"reason,omitempty"` // why an emergency window could not be announced in time
	CreatedAt   time.Time `json:"created_at"`
	CancelledAt time.Time `json:"cancelled_at,omitzero"`
}

// State returns the window's state at now.
func (m *Maintenance) State(now time.Time) string {
	switch {
	case !m.CancelledAt.IsZero():
		return MaintenanceCancelled
	case now.Before(m.Start):
		return MaintenanceScheduled
	case now.Before(m.End):
		return MaintenanceInProgress
	}
	return MaintenanceCompleted
}

// Covers reports whether the window applies to a component.
func (m *Maintenance) Covers(component string) bool {
	return len(m.Components) == 0 || slices.Contains(m.Components, component)
}

// MaintenanceFilter selects windows. Zero fields do not filter.
type MaintenanceFilter struct {
	ID string
	// Windows overlapping [From, To), cancelled ones left out.
	From, To time.Time
}

// MaintenanceService stores maintenance windows.
type MaintenanceService interface {
	CreateMaintenance(ctx context.Context, m *Maintenance) error
	// FindMaintenances returns windows by start.
	FindMaintenances(ctx context.Context, f MaintenanceFilter) ([]*Maintenance, error)
	// UpdateMaintenance reschedules (start, end) or cancels a window.
	UpdateMaintenance(ctx context.Context, id string, upd MaintenanceUpdate) error
}

// MaintenanceUpdate changes a window; nil fields stay as they are.
type MaintenanceUpdate struct {
	Start, End  *time.Time
	CancelledAt *time.Time
	At          time.Time // when the change was made: its announcement's time
}
