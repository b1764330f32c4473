package monitor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/policy"
)

// Shortfall is a component's failure seen by fewer nodes than the
// policy's probe_confirmations: shown on the console, recorded as
// evidence.
type Shortfall struct {
	Component string    `json:"component"`
	Since     time.Time `json:"since"`
	Confirmed int       `json:"confirmed"` // nodes that could confirm it
	Required  int       `json:"required"`
	Serving   []string  `json:"serving"`
	// Held is true when no public incident was opened for it.
	Held bool `json:"held"`
}

// Shortfalls returns the failures seen now by fewer nodes than the policy
// asks, by component.
func (m *Monitor) Shortfalls() []Shortfall {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Shortfall, 0, len(m.short))
	for _, s := range m.short {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Shortfall) int { return strings.Compare(a.Component, b.Component) })
	return out
}

// capacity is how many nodes can confirm a failure now, and whether the
// cluster has had as many as the policy asks (so that fewer means nodes
// stopped, not a deployment of one): from the nodes table when there is
// one, else from the nodes whose results are at hand.
type capacity struct {
	serving []string
	known   int
}

func (m *Monitor) capacity(ctx context.Context, now time.Time, resultNodes []string) (capacity, error) {
	if m.cfg.Nodes == nil {
		return capacity{serving: resultNodes, known: len(resultNodes)}, nil
	}
	ns, err := m.cfg.Nodes.FindNodes(ctx)
	if err != nil {
		return capacity{}, err
	}
	var c capacity
	for _, n := range ns {
		if n.Serving(now, m.cfg.NodeTimeout) {
			c.serving = append(c.serving, n.Name)
		}
	}
	c.known = len(ns)
	return c, nil
}

// confirmations decides about a failure confirmed by fewer nodes than the
// policy asks: it is never silent. It records evidence once per failure
// (clause redundancy, "confirmed by 1 of 2 required"), keeps it for the
// console, and reports whether a public incident is held back: when the
// cluster has had enough nodes and they stopped, unless the policy's
// open_on_fewer_confirmations allows it. A deployment that never had
// enough nodes opens it, marked (its alert for too few nodes is raised
// apart).
func (m *Monitor) confirmations(ctx context.Context, c *slokeeper.Component, st State, now time.Time) (hold bool, err error) {
	required := max(m.cfg.Policy.Redundancy.ProbeConfirmations, 1)
	if !st.Down || st.confirmers >= required {
		m.mu.Lock()
		delete(m.short, c.ID)
		m.mu.Unlock()
		return false, nil
	}
	capa, err := m.capacity(ctx, now, st.nodes)
	if err != nil {
		return false, err
	}
	if len(capa.serving) >= required {
		return false, nil // enough nodes serve: the others will confirm it or not
	}
	hold = capa.known >= required && !m.cfg.Policy.Redundancy.OpenOnFewerConfirmations
	sf := Shortfall{Component: c.ID, Since: st.Since, Confirmed: st.confirmers, Required: required, Serving: capa.serving, Held: hold}
	m.mu.Lock()
	prev, seen := m.short[c.ID]
	m.short[c.ID] = sf
	m.mu.Unlock()
	if seen && prev.Since.Equal(sf.Since) {
		return hold, nil // recorded already
	}
	what := "a public incident is opened, marked so (the cluster has never had that many nodes)"
	switch {
	case hold:
		what = "no public incident is opened: nodes of the cluster stopped, so this may be the view of one node's own network; staff decide"
	case capa.known >= required:
		what = "a public incident is opened, marked so, as the policy allows (open_on_fewer_confirmations)"
	}
	e := &slokeeper.Evidence{At: now, Clause: policy.ClauseRedundancy, Action: "confirmations_short", Subject: "component:" + c.ID,
		Outcome: slokeeper.OutcomeViolated, Node: m.cfg.Node,
		Detail: fmt.Sprintf("%s down since %s, confirmed by %d of %d required nodes (serving: %s): %s",
			c.ID, st.Since.UTC().Format(time.RFC3339), st.confirmers, required, strings.Join(capa.serving, ", "), what)}
	if err := slokeeper.RecordEvidenceRetrying(ctx, m.cfg.Evidence, e); err != nil {
		m.mu.Lock()
		delete(m.short, c.ID) // owed: the next tick records it
		m.mu.Unlock()
		return hold, err
	}
	m.log.Warn("a failure is confirmed by fewer nodes than the policy asks", "component", c.ID, "confirmed", st.confirmers, "required", required, "held", hold)
	return hold, nil
}
