package monitor

import (
	"cmp"
	"context"
	"slices"
	"time"

	"slokeeper"
	"slokeeper/uptime"
)

// Public states of a component and of the service.
const (
	Operational   = "operational" // up
	Outage        = "outage"      // confirmed down
	Unknown       = "unknown"     // not checked yet
	InMaintenance = "maintenance" // in an announced maintenance window
	Degraded      = "degraded"    // the service: some components down, not all
)

// View is the service's status as the status page and GET /api/v1/status
// show it.
type View struct {
	Updated    time.Time       `json:"updated"`
	Status     string          `json:"status"` // operational, degraded or outage
	Components []ComponentView `json:"components"`
}

// Name is a name in Japanese and English.
type Name struct {
	JA string `json:"ja"`
	EN string `json:"en"`
}

// ComponentView is one component on the status page.
type ComponentView struct {
	ID    string `json:"id"`
	Group string `json:"group,omitempty"`
	// GroupName is the group's heading (the group's ID where unnamed).
	GroupName Name      `json:"group_name,omitzero"`
	Name      Name      `json:"name"`
	Status    string    `json:"status"`
	Since     time.Time `json:"since,omitzero"`
	// Uptime is over the days shown, maintenance left out (1 when nothing
	// was observed); Target is the objective it is held to.
	Uptime float64 `json:"uptime"`
	Target float64 `json:"target"`
	// Observed is the time observed outside maintenance over the days
	// shown; EnoughData says whether it reaches uptime.MinObserved. Without
	// it, Uptime and Budget are no figures to show ("not enough data yet").
	Observed   float64 `json:"observed_seconds"`
	EnoughData bool    `json:"enough_data"`
	Budget     Budget  `json:"error_budget"`
	// Reason is why the latest check failed ("status 503", "connection
	// refused"): for staff only, so set only in a View with hidden, the
	// staff's view; never on the public page or GET /api/v1/status.
	Reason string `json:"reason,omitempty"`
	// Alerts are the burn-rate alerts firing (at the last tally).
	Alerts []BurnAlert `json:"burn_alerts,omitempty"`
	Days   []DayView   `json:"days"`
}

// Budget is a component's error budget over the last 30 days of the days
// shown: the downtime its target allows in the time observed, the downtime
// there was, and the share left (below 0 when overspent).
type Budget struct {
	Allowed float64 `json:"allowed_seconds"`
	Used    float64 `json:"used_seconds"`
	Left    float64 `json:"left"`
}

// DayView is one day's bar.
type DayView struct {
	Day         string   `json:"day"`
	Uptime      *float64 `json:"uptime"` // null: not observed
	Down        float64  `json:"down_seconds"`
	Maintenance float64  `json:"maintenance_seconds"`
}

// View returns the status of every public component (with hidden, of all,
// and why their latest check failed: the staff's view) and the bars of the
// last days days, today included.
func (m *Monitor) View(ctx context.Context, days int, hidden bool) (*View, error) {
	now, loc := m.cfg.Clock.Now(), m.cfg.Policy.Location()
	cs, err := m.cfg.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
	if err != nil {
		return nil, err
	}
	today := now.In(loc)
	first := time.Date(today.Year(), today.Month(), today.Day()-(days-1), 0, 0, 0, 0, loc)
	v := &View{Updated: now, Status: Operational, Components: []ComponentView{}}
	windows, err := m.windows(ctx, now, now.Add(time.Millisecond))
	if err != nil {
		return nil, err
	}
	down, shown := 0, 0
	for _, c := range cs {
		if c.Hidden && !hidden {
			continue
		}
		st, err := m.State(ctx, c)
		if err != nil {
			return nil, err
		}
		cv := ComponentView{ID: c.ID, Group: c.Group, GroupName: groupName(c), Name: Name{c.NameJA, c.NameEN}, Status: Operational, Since: st.Since,
			Target: c.Target, Uptime: 1, Days: make([]DayView, 0, days)}
		if cv.Target == 0 {
			cv.Target = m.cfg.Policy.Availability.Target.Fraction()
		}
		switch {
		case slices.ContainsFunc(windows, func(w *slokeeper.Maintenance) bool { return w.Covers(c.ID) }):
			cv.Status = InMaintenance
		case st.Since.IsZero():
			cv.Status = Unknown
		case st.Down:
			cv.Status = Outage
			down++
		}
		shown++
		if hidden && (st.Failing || st.Down) {
			cv.Reason = st.Detail
		}
		tallies, err := m.cfg.Components.FindComponentDays(ctx, c.ID, first.Format(time.DateOnly), today.Format(time.DateOnly))
		if err != nil {
			return nil, err
		}
		byDay := map[string]slokeeper.ComponentDay{}
		for _, t := range tallies {
			byDay[t.Day] = t
		}
		var observed, downFor, observed30, down30 time.Duration
		budgetFrom := today.AddDate(0, 0, -29).Format(time.DateOnly)
		for d := first; !d.After(today); d = d.AddDate(0, 0, 1) {
			day := d.Format(time.DateOnly)
			dv := DayView{Day: day}
			if t, ok := byDay[day]; ok && t.Observed > 0 {
				u := 1 - float64(t.Down)/float64(t.Observed)
				dv.Uptime, dv.Down, dv.Maintenance = &u, t.Down.Seconds(), t.Maintenance.Seconds()
				observed, downFor = observed+t.Observed, downFor+t.Down
				if day >= budgetFrom {
					observed30, down30 = observed30+t.Observed, down30+t.Down
				}
			}
			cv.Days = append(cv.Days, dv)
		}
		if observed > 0 {
			cv.Uptime = 1 - float64(downFor)/float64(observed)
		}
		cv.Observed, cv.EnoughData = observed.Seconds(), uptime.Enough(observed)
		b := uptime.Budget{Target: cv.Target, Allowed: time.Duration((1 - cv.Target) * float64(observed30)), Used: down30}
		cv.Budget = Budget{Allowed: b.Allowed.Seconds(), Used: b.Used.Seconds(), Left: b.Left()}
		cv.Alerts = m.Alerts()[c.ID]
		v.Components = append(v.Components, cv)
	}
	switch {
	case down > 0 && down == shown:
		v.Status = Outage
	case down > 0:
		v.Status = Degraded
	}
	return v, nil
}

// groupName is the heading of c's group: its names, the group's ID where
// one is missing; none outside a group.
func groupName(c *slokeeper.Component) Name {
	if c.Group == "" {
		return Name{}
	}
	return Name{JA: cmp.Or(c.GroupJA, c.GroupEN, c.Group), EN: cmp.Or(c.GroupEN, c.GroupJA, c.Group)}
}
