package monitor

import (
	"context"
	"fmt"
	"slices"
	"time"

	"slokeeper"
	"slokeeper/incident"
)

// incidents opens an incident for each component that c's latest checks
// show confirmed down (unless a maintenance window covers it), and notes
// the recovery of those that are up again. The first notice is the status
// page itself, so the time from detection to opening is evidence against
// the policy's bound. Another node opening the same incident first is fine.
func (m *Monitor) incidents(ctx context.Context, checked []*slokeeper.Component) error {
	if m.cfg.Incidents == nil {
		return nil
	}
	now := m.cfg.Clock.Now()
	windows, err := m.windows(ctx, now, now.Add(time.Millisecond))
	if err != nil {
		return err
	}
	for _, c := range checked {
		st, err := m.State(ctx, c)
		if err != nil {
			return err
		}
		m.mu.Lock()
		wasDown, known := m.down[c.ID]
		m.down[c.ID] = st.Down
		if !st.Down {
			delete(m.short, c.ID)
		}
		m.mu.Unlock()
		if !st.Down && known && !wasDown {
			continue // up, as at its last check: nothing to open or note
		}
		open, err := m.cfg.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Open: true, AutoComponent: c.ID})
		if err != nil {
			return err
		}
		inMaintenance := slices.ContainsFunc(windows, func(w *slokeeper.Maintenance) bool { return w.Covers(c.ID) })
		next := incident.Next(st.Down, st.Since, open, inMaintenance)
		if m.cfg.Evidence != nil {
			hold, err := m.confirmations(ctx, c, st, now)
			if err != nil {
				return err
			}
			if hold && next == incident.OpenOne {
				next = incident.Nothing
			}
		}
		switch next {
		case incident.OpenOne:
			if err := m.open(ctx, c, st, now); err != nil {
				return err // still down at the next pass, which tries again
			}
		case incident.Recovered:
			u := &slokeeper.IncidentUpdate{Incident: open[0].ID, Status: slokeeper.IncidentMonitoring,
				BodyJA: fmt.Sprintf("%sの応答が回復したことを確認しました。引き続き状況を監視しています。", c.NameJA),
				BodyEN: fmt.Sprintf("%s is responding again. We are monitoring it.", c.NameEN)}
			if err := incident.Stamp(u, "system:"+m.cfg.Node, now); err != nil {
				return err
			}
			if err := m.cfg.Incidents.AddIncidentUpdate(ctx, u); err != nil && slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
				return err
			}
		}
	}
	return nil
}

func (m *Monitor) open(ctx context.Context, c *slokeeper.Component, st State, now time.Time) error {
	inc := &slokeeper.Incident{Components: []string{c.ID}, Impact: slokeeper.ImpactMajor,
		TitleJA: fmt.Sprintf("%sで障害が発生しています", c.NameJA), TitleEN: fmt.Sprintf("%s is unavailable", c.NameEN),
		DetectedAt: st.Since, AutoComponent: c.ID}
	first, notice, err := incident.Open(m.cfg.Policy, inc,
		fmt.Sprintf("%sをご利用いただけない状態を検知しました。現在、原因を調査しています。ご迷惑をおかけしており申し訳ございません。", c.NameJA),
		fmt.Sprintf("We detected that %s is unavailable and are investigating. We apologize for the inconvenience.", c.NameEN),
		"system:"+m.cfg.Node, m.cfg.Node, now)
	if err != nil {
		return err
	}
	notice.Detail = c.ID + ": " + notice.Detail
	if m.cfg.Evidence == nil {
		notice = nil
	}
	// The notice's evidence goes in the incident's transaction: if it
	// cannot be recorded, nothing is opened and the next pass tries again.
	if err := m.cfg.Incidents.OpenIncident(ctx, inc, first, notice); slokeeper.ErrorCode(err) == slokeeper.ECONFLICT {
		return nil // another node opened it
	} else if err != nil {
		return fmt.Errorf("open an incident for %s: %w", c.ID, err)
	}
	return nil
}
