package monitor

import (
	"context"
	"time"

	"slokeeper"
	"slokeeper/uptime"
)

// BurnAlert is a burn-rate alert that fires for a component: its error
// budget burns Factor times or more faster than the objective allows, over
// both the long and the short window (the SRE workbook's multi-window,
// multi-burn-rate alert). Severity "page" wants someone now; "ticket"
// wants someone today.
type BurnAlert struct {
	Severity  string  `json:"severity"`
	Long      string  `json:"long_window"`
	Short     string  `json:"short_window"`
	Factor    float64 `json:"factor"`
	LongRate  float64 `json:"long_rate"`
	ShortRate float64 `json:"short_rate"`
}

// burnSpan is the longest window of the table: results are kept at least
// this long (and an hour more).
func burnSpan() time.Duration {
	var d time.Duration
	for _, w := range uptime.Workbook {
		d = max(d, w.Long)
	}
	return d
}

// burn works out which burn-rate alerts fire at now for each component,
// keeps them for View, and logs when one starts or stops. Components with
// no downtime in their daily tallies of the longest window cannot burn and
// are not read further.
func (m *Monitor) burn(ctx context.Context, now time.Time) error {
	cs, err := m.cfg.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
	if err != nil {
		return err
	}
	span := burnSpan()
	from, loc := now.Add(-span), m.cfg.Policy.Location()
	windows, err := m.windows(ctx, from, now.Add(time.Millisecond))
	if err != nil {
		return err
	}
	firing := map[string][]BurnAlert{}
	for _, c := range cs {
		days, err := m.cfg.Components.FindComponentDays(ctx, c.ID, from.In(loc).Format(time.DateOnly), now.In(loc).Format(time.DateOnly))
		if err != nil {
			return err
		}
		var down time.Duration
		for _, d := range days {
			down += d.Down
		}
		if down == 0 {
			continue
		}
		spans, _, err := m.timeline(ctx, c, from, now.Add(time.Millisecond))
		if err != nil {
			return err
		}
		var in []uptime.Interval
		for _, w := range windows {
			if w.Covers(c.ID) {
				in = append(in, uptime.Interval{From: w.Start, To: w.End})
			}
		}
		target := c.Target
		if target == 0 {
			target = m.cfg.Policy.Availability.Target.Fraction()
		}
		for _, a := range uptime.BurnAlerts(spans, in, target, now, uptime.Workbook, m.cfg.Policy.Availability.ExcludeMaintenance) {
			firing[c.ID] = append(firing[c.ID], BurnAlert{Severity: a.Severity, Long: a.Long.String(), Short: a.Short.String(), Factor: a.Factor,
				LongRate: a.LongRate, ShortRate: a.ShortRate})
		}
	}
	m.mu.Lock()
	before := m.alerts
	m.alerts = firing
	m.mu.Unlock()
	for id, as := range firing {
		if len(before[id]) == 0 {
			m.log.Warn("burn-rate alert: the error budget burns too fast", "component", id, "severity", as[0].Severity,
				"window", as[0].Long, "rate", as[0].LongRate, "factor", as[0].Factor)
		}
	}
	for id := range before {
		if len(firing[id]) == 0 {
			m.log.Info("burn-rate alert over", "component", id)
		}
	}
	return nil
}

// Alerts returns the burn-rate alerts firing at the last tally, by component.
func (m *Monitor) Alerts() map[string][]BurnAlert {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.alerts
}
