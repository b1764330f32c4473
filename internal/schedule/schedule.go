// Package schedule schedules, reschedules and cancels maintenance windows
// for the API and the command line alike: the policy's rules
// (maintenance.Check), the components they name, and the audit ledger
// first, so that nothing changes unrecorded.
package schedule

import (
	"context"
	"fmt"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
	"slokeeper/maintenance"
	"slokeeper/policy"
)

// Service schedules maintenance windows.
type Service struct {
	Store      slokeeper.MaintenanceService
	Components slokeeper.ComponentService
	Policy     *policy.Policy
	// Audit records an action in the ledger; when it fails the action is refused.
	Audit func(ctx context.Context, actor, action, target, detail string) error
	Clock slokeeper.Clock
}

// Schedule checks and stores a new window, announced now.
func (s *Service) Schedule(ctx context.Context, actor string, m *slokeeper.Maintenance) (*slokeeper.Maintenance, error) {
	now := s.Clock.Now().UTC().Truncate(time.Microsecond)
	m.ID, m.CreatedAt, m.CancelledAt = "mt_"+auth.NewToken("")[:12], now, time.Time{}
	m.Start, m.End = m.Start.UTC().Truncate(time.Microsecond), m.End.UTC().Truncate(time.Microsecond)
	if err := maintenance.Check(s.Policy, m, now); err != nil {
		return nil, err
	}
	for _, id := range m.Components {
		cs, err := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{ID: id})
		if err != nil {
			return nil, err
		}
		if len(cs) == 0 {
			return nil, slokeeper.Errorf(slokeeper.EINVALID, "No component %q.", id)
		}
	}
	kind := "planned"
	if m.Emergency {
		kind = "emergency: " + m.Reason
	}
	loc := s.Policy.Location()
	if err := s.Audit(ctx, actor, "maintenance.schedule", "maintenance:"+m.ID,
		fmt.Sprintf("%s to %s, %s", maintenance.JST(m.Start, loc, "en"), maintenance.JST(m.End, loc, "en"), kind)); err != nil {
		return nil, err
	}
	return m, s.Store.CreateMaintenance(ctx, m)
}

// Reschedule moves a window that has not ended; a planned one keeps to
// the notice counted from its announcement. The reason, when given, is
// recorded in the ledger with the move.
func (s *Service) Reschedule(ctx context.Context, actor, id string, start, end time.Time, reason string) (*slokeeper.Maintenance, error) {
	m, err := s.find(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.Clock.Now()
	if st := m.State(now); st == slokeeper.MaintenanceCancelled || st == slokeeper.MaintenanceCompleted {
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Maintenance %s is %s.", id, st)
	}
	m.Start, m.End = start.UTC().Truncate(time.Microsecond), end.UTC().Truncate(time.Microsecond)
	if err := maintenance.Check(s.Policy, m, now); err != nil {
		return nil, err
	}
	loc := s.Policy.Location()
	detail := fmt.Sprintf("%s to %s", maintenance.JST(m.Start, loc, "en"), maintenance.JST(m.End, loc, "en"))
	if m.Emergency {
		detail += ", emergency"
	}
	if reason = strings.TrimSpace(reason); reason != "" {
		detail += ": " + reason
	}
	if err := s.Audit(ctx, actor, "maintenance.reschedule", "maintenance:"+id, detail); err != nil {
		return nil, err
	}
	return m, s.Store.UpdateMaintenance(ctx, id, slokeeper.MaintenanceUpdate{Start: &m.Start, End: &m.End, At: now.UTC().Truncate(time.Microsecond)})
}

// Cancel cancels a window that has not ended.
func (s *Service) Cancel(ctx context.Context, actor, id string) (*slokeeper.Maintenance, error) {
	m, err := s.find(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.Clock.Now().UTC().Truncate(time.Microsecond)
	if st := m.State(now); st == slokeeper.MaintenanceCancelled || st == slokeeper.MaintenanceCompleted {
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Maintenance %s is already %s.", id, st)
	}
	if err := s.Audit(ctx, actor, "maintenance.cancel", "maintenance:"+id, ""); err != nil {
		return nil, err
	}
	m.CancelledAt = now
	return m, s.Store.UpdateMaintenance(ctx, id, slokeeper.MaintenanceUpdate{CancelledAt: &now, At: now})
}

// Recent returns the windows not cancelled that end after History ago,
// upcoming ones included, by start.
func (s *Service) Recent(ctx context.Context) ([]*slokeeper.Maintenance, error) {
	now := s.Clock.Now()
	return s.Store.FindMaintenances(ctx, slokeeper.MaintenanceFilter{From: now.Add(-slokeeper.History), To: now.AddDate(100, 0, 0)})
}

func (s *Service) find(ctx context.Context, id string) (*slokeeper.Maintenance, error) {
	ms, err := s.Store.FindMaintenances(ctx, slokeeper.MaintenanceFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No maintenance window %q.", id)
	}
	return ms[0], nil
}
