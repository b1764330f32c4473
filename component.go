package slokeeper

import (
	"context"
	"regexp"
	"time"
)

// Component is a part of the service the status page shows: checked from
// the outside by its probe, with its own uptime and objective.
type Component struct {
	ID    string `json:"id" yaml:"id"`                 // lower-case letters, digits and dashes
	Group string `json:"group,omitempty" yaml:"group"` // components of a group show together
	// GroupJA and GroupEN name the group as the status page's heading
	// (the group's ID when unset).
	GroupJA string  `json:"group_ja,omitempty" yaml:"group_ja"`
	GroupEN string  `json:"group_en,omitempty" yaml:"group_en"`
	NameJA  string  `json:"name_ja" yaml:"name_ja"`         // as the status page shows it in Japanese
	NameEN  string  `json:"name_en" yaml:"name_en"`         // …and in English
	Probe   Probe   `json:"probe" yaml:"probe"`             // how it is checked
	Order   int     `json:"order,omitempty" yaml:"order"`   // place on the status page
	Hidden  bool    `json:"hidden,omitempty" yaml:"hidden"` // checked, but not on the public page
	Target  float64 `json:"target,omitempty" yaml:"target"` // uptime objective as a fraction (0.999); 0: the policy's
	// Interval is the time between checks (default 60s, at least 5s).
	Interval Duration `json:"interval,omitempty" yaml:"interval"`
	// Failures is how many checks in a row must fail before it counts as
	// down (default 3); with several nodes, the policy's
	// redundancy.probe_confirmations of them must each see that many.
	Failures  int       `json:"failures,omitempty" yaml:"failures"`
	UpdatedAt time.Time `json:"updated_at" yaml:"-"`
}

var componentID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Defaults fills in the defaults of unset fields.
func (c *Component) Defaults() {
	if c.Interval == 0 {
		c.Interval = Duration(time.Minute)
	}
	if c.Failures == 0 {
		c.Failures = 3
	}
}

// Validate reports whether c can be stored, in words for the person who wrote it.
func (c *Component) Validate() error {
	switch {
	case !componentID.MatchString(c.ID):
		return Errorf(EINVALID, "Component ID %q must be 1 to 63 lower-case letters, digits or dashes.", c.ID)
	case c.Group != "" && !componentID.MatchString(c.Group):
		return Errorf(EINVALID, "Group %q must be 1 to 63 lower-case letters, digits or dashes.", c.Group)
	case (c.GroupJA != "" || c.GroupEN != "") && c.Group == "":
		return Errorf(EINVALID, "Component %s names a group (group_ja, group_en) but is in none; set group too.", c.ID)
	case len(c.GroupJA) > 200 || len(c.GroupEN) > 200:
		return Errorf(EINVALID, "Component %s: a group's name is at most 200 bytes.", c.ID)
	case c.NameJA == "" || c.NameEN == "":
		return Errorf(EINVALID, "Component %s needs a name in Japanese and in English (name_ja, name_en).", c.ID)
	case c.Interval < Duration(5*time.Second):
		return Errorf(EINVALID, "Component %s is checked every %s; at least every 5s is the limit.", c.ID, time.Duration(c.Interval))
	case c.Failures < 1 || c.Failures > 100:
		return Errorf(EINVALID, "Component %s: failures is 1 to 100, not %d.", c.ID, c.Failures)
	case c.Target < 0 || c.Target >= 1:
		return Errorf(EINVALID, "Component %s: an uptime target is below 100%%.", c.ID)
	}
	return c.Probe.Validate()
}

// CheckResult is one check of a component by one node.
type CheckResult struct {
	Component string        `json:"component"`
	Node      string        `json:"node"`
	At        time.Time     `json:"at"`
	OK        bool          `json:"ok"`
	Latency   time.Duration `json:"latency"`
	Detail    string        `json:"detail,omitempty"`
}

// ComponentDay is a component's tally of one calendar day (in the
// policy's time zone): time observed and down outside maintenance, and time
// in maintenance. Uptime is 1 - Down/Observed.
type ComponentDay struct {
	Component   string        `json:"component"`
	Day         string        `json:"day"` // YYYY-MM-DD
	Observed    time.Duration `json:"observed"`
	Down        time.Duration `json:"down"`
	Maintenance time.Duration `json:"maintenance"`
}

// ComponentFilter selects components. Zero fields do not filter.
type ComponentFilter struct {
	ID    string
	Group string
}

// ComponentService stores components and their check results.
type ComponentService interface {
	// PutComponent creates a component or replaces the one with its ID.
	PutComponent(ctx context.Context, c *Component) error
	// FindComponents returns components by group, order and ID.
	FindComponents(ctx context.Context, f ComponentFilter) ([]*Component, error)
	// DeleteComponent removes a component and its results; ENOTFOUND if none.
	DeleteComponent(ctx context.Context, id string) error

	// AddCheckResults stores results of known components, all or none.
	AddCheckResults(ctx context.Context, rs []CheckResult) error
	// FindCheckResults returns a component's results in [from, to), oldest first.
	FindCheckResults(ctx context.Context, component string, from, to time.Time) ([]CheckResult, error)
	// PruneCheckResults deletes results older than before and returns how many.
	PruneCheckResults(ctx context.Context, before time.Time) (int, error)

	// PutComponentDays stores or replaces daily tallies.
	PutComponentDays(ctx context.Context, days []ComponentDay) error
	// FindComponentDays returns a component's tallies of days in [from, to]
	// (YYYY-MM-DD), oldest first.
	FindComponentDays(ctx context.Context, component, from, to string) ([]ComponentDay, error)
}
