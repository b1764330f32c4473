package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"
)

// ComponentService stores components and their check results in SQLite.
type ComponentService struct {
	db *DB
}

var _ slokeeper.ComponentService = (*ComponentService)(nil)

// NewComponentService returns a ComponentService on db.
func NewComponentService(db *DB) *ComponentService { return &ComponentService{db: db} }

// PutComponent creates or replaces a component.
func (s *ComponentService) PutComponent(ctx context.Context, c *slokeeper.Component) error {
	c.Defaults()
	if err := c.Validate(); err != nil {
		return err
	}
	probe, _ := json.Marshal(c.Probe)
	c.UpdatedAt = c.UpdatedAt.UTC().Truncate(time.Microsecond)
	_, err := s.db.write.ExecContext(ctx, `INSERT INTO components (id, grp, group_ja, group_en, name_ja, name_en, probe, ord, hidden, target, interval_ns, failures, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET grp = excluded.grp, group_ja = excluded.group_ja, group_en = excluded.group_en, name_ja = excluded.name_ja, name_en = excluded.name_en, probe = excluded.probe,
			ord = excluded.ord, hidden = excluded.hidden, target = excluded.target, interval_ns = excluded.interval_ns,
			failures = excluded.failures, updated_at = excluded.updated_at`,
		c.ID, c.Group, c.GroupJA, c.GroupEN, c.NameJA, c.NameEN, string(probe), c.Order, c.Hidden, c.Target, int64(c.Interval), c.Failures, formatTime(c.UpdatedAt))
	if err != nil {
		return fmt.Errorf("put component: %w", interpretError(err))
	}
	return nil
}

// FindComponents returns components by group, order and ID.
func (s *ComponentService) FindComponents(ctx context.Context, f slokeeper.ComponentFilter) ([]*slokeeper.Component, error) {
	where := sqlbuild.Question().Eq("id", f.ID).Eq("grp", f.Group)
	rows, err := s.db.read.QueryContext(ctx, `SELECT id, grp, group_ja, group_en, name_ja, name_en, probe, ord, hidden, target, interval_ns, failures, updated_at
		FROM components WHERE `+where.String()+` ORDER BY grp, ord, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find components: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Component
	for rows.Next() {
		var c slokeeper.Component
		var probe, updated string
		var interval int64
		if err := rows.Scan(&c.ID, &c.Group, &c.GroupJA, &c.GroupEN, &c.NameJA, &c.NameEN, &probe, &c.Order, &c.Hidden, &c.Target, &interval, &c.Failures, &updated); err != nil {
			return nil, fmt.Errorf("find components: %w", err)
		}
		if err := json.Unmarshal([]byte(probe), &c.Probe); err != nil {
			return nil, fmt.Errorf("component %s: stored probe: %w", c.ID, err)
		}
		c.Interval = slokeeper.Duration(interval)
		if c.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, err
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}

// DeleteComponent removes a component and its results.
func (s *ComponentService) DeleteComponent(ctx context.Context, id string) error {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM components WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete component: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No component %q.", id)
	}
	return nil
}

// AddCheckResults stores results in one transaction.
func (s *ComponentService) AddCheckResults(ctx context.Context, rs []slokeeper.CheckResult) error {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add check results: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO check_results (component, node, at, ok, latency_ns, detail) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("add check results: %w", err)
	}
	defer stmt.Close()
	for _, r := range rs {
		if _, err := stmt.ExecContext(ctx, r.Component, r.Node, formatTime(r.At), r.OK, int64(r.Latency), r.Detail); err != nil {
			return fmt.Errorf("add check results: %w", interpretError(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add check results: %w", err)
	}
	return nil
}

// FindCheckResults returns a component's results in [from, to), oldest first.
func (s *ComponentService) FindCheckResults(ctx context.Context, component string, from, to time.Time) ([]slokeeper.CheckResult, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT component, node, at, ok, latency_ns, detail FROM check_results
		WHERE component = ? AND at >= ? AND at < ? ORDER BY at, node`, component, formatTime(from), formatTime(to))
	if err != nil {
		return nil, fmt.Errorf("find check results: %w", err)
	}
	defer rows.Close()
	var out []slokeeper.CheckResult
	for rows.Next() {
		var r slokeeper.CheckResult
		var at string
		var latency int64
		if err := rows.Scan(&r.Component, &r.Node, &at, &r.OK, &latency, &r.Detail); err != nil {
			return nil, fmt.Errorf("find check results: %w", err)
		}
		if r.At, err = parseTime(at); err != nil {
			return nil, err
		}
		r.Latency = time.Duration(latency)
		out = append(out, r)
	}
	return out, rows.Err()
}

// PruneCheckResults deletes results older than before.
func (s *ComponentService) PruneCheckResults(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM check_results WHERE at < ?`, formatTime(before))
	if err != nil {
		return 0, fmt.Errorf("prune check results: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// PutComponentDays stores or replaces daily tallies in one transaction.
func (s *ComponentService) PutComponentDays(ctx context.Context, days []slokeeper.ComponentDay) error {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put component days: %w", err)
	}
	defer tx.Rollback()
	for _, d := range days {
		if _, err := tx.ExecContext(ctx, `INSERT INTO component_days (component, day, observed_ns, down_ns, maintenance_ns) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (component, day) DO UPDATE SET observed_ns = excluded.observed_ns, down_ns = excluded.down_ns, maintenance_ns = excluded.maintenance_ns`,
			d.Component, d.Day, int64(d.Observed), int64(d.Down), int64(d.Maintenance)); err != nil {
			return fmt.Errorf("put component days: %w", interpretError(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("put component days: %w", err)
	}
	return nil
}

// FindComponentDays returns a component's tallies of days in [from, to].
func (s *ComponentService) FindComponentDays(ctx context.Context, component, from, to string) ([]slokeeper.ComponentDay, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT component, day, observed_ns, down_ns, maintenance_ns FROM component_days
		WHERE component = ? AND day >= ? AND day <= ? ORDER BY day`, component, from, to)
	if err != nil {
		return nil, fmt.Errorf("find component days: %w", err)
	}
	defer rows.Close()
	var out []slokeeper.ComponentDay
	for rows.Next() {
		var d slokeeper.ComponentDay
		var obs, down, maint int64
		if err := rows.Scan(&d.Component, &d.Day, &obs, &down, &maint); err != nil {
			return nil, fmt.Errorf("find component days: %w", err)
		}
		d.Observed, d.Down, d.Maintenance = time.Duration(obs), time.Duration(down), time.Duration(maint)
		out = append(out, d)
	}
	return out, rows.Err()
}
