package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"

	"github.com/jackc/pgx/v5"
)

// ComponentService stores components and their check results in PostgreSQL.
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
	_, err := s.db.pool.Exec(ctx, `INSERT INTO components (id, grp, group_ja, group_en, name_ja, name_en, probe, ord, hidden, target, interval_ns, failures, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO UPDATE SET grp = excluded.grp, group_ja = excluded.group_ja, group_en = excluded.group_en, name_ja = excluded.name_ja, name_en = excluded.name_en, probe = excluded.probe,
			ord = excluded.ord, hidden = excluded.hidden, target = excluded.target, interval_ns = excluded.interval_ns,
			failures = excluded.failures, updated_at = excluded.updated_at`,
		c.ID, c.Group, c.GroupJA, c.GroupEN, c.NameJA, c.NameEN, probe, c.Order, c.Hidden, c.Target, int64(c.Interval), c.Failures, c.UpdatedAt)
	if err != nil {
		return fmt.Errorf("put component: %w", interpretError(err))
	}
	return nil
}

// FindComponents returns components by group, order and ID.
func (s *ComponentService) FindComponents(ctx context.Context, f slokeeper.ComponentFilter) ([]*slokeeper.Component, error) {
	where := sqlbuild.Dollar().Eq("id", f.ID).Eq("grp", f.Group)
	rows, err := s.db.pool.Query(ctx, `SELECT id, grp, group_ja, group_en, name_ja, name_en, probe, ord, hidden, target, interval_ns, failures, updated_at
		FROM components WHERE `+where.String()+` ORDER BY grp, ord, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find components: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.Component, error) {
		var c slokeeper.Component
		var probe []byte
		var interval int64
		if err := row.Scan(&c.ID, &c.Group, &c.GroupJA, &c.GroupEN, &c.NameJA, &c.NameEN, &probe, &c.Order, &c.Hidden, &c.Target, &interval, &c.Failures, &c.UpdatedAt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(probe, &c.Probe); err != nil {
			return nil, fmt.Errorf("component %s: stored probe: %w", c.ID, err)
		}
		c.Interval, c.UpdatedAt = slokeeper.Duration(interval), c.UpdatedAt.UTC()
		return &c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("find components: %w", err)
	}
	return out, nil
}

// DeleteComponent removes a component and its results.
func (s *ComponentService) DeleteComponent(ctx context.Context, id string) error {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM components WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete component: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No component %q.", id)
	}
	return nil
}

// AddCheckResults stores results in one transaction.
func (s *ComponentService) AddCheckResults(ctx context.Context, rs []slokeeper.CheckResult) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, r := range rs {
			b.Queue(`INSERT INTO check_results (component, node, at, ok, latency_ns, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
				r.Component, r.Node, r.At, r.OK, int64(r.Latency), r.Detail)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("add check results: %w", interpretError(err))
	}
	return nil
}

// FindCheckResults returns a component's results in [from, to), oldest first.
func (s *ComponentService) FindCheckResults(ctx context.Context, component string, from, to time.Time) ([]slokeeper.CheckResult, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT component, node, at, ok, latency_ns, detail FROM check_results
		WHERE component = $1 AND at >= $2 AND at < $3 ORDER BY at, node`, component, from, to)
	if err != nil {
		return nil, fmt.Errorf("find check results: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (slokeeper.CheckResult, error) {
		var r slokeeper.CheckResult
		var latency int64
		err := row.Scan(&r.Component, &r.Node, &r.At, &r.OK, &latency, &r.Detail)
		r.At, r.Latency = r.At.UTC(), time.Duration(latency)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("find check results: %w", err)
	}
	return out, nil
}

// PruneCheckResults deletes results older than before.
func (s *ComponentService) PruneCheckResults(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM check_results WHERE at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("prune check results: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// PutComponentDays stores or replaces daily tallies in one transaction.
func (s *ComponentService) PutComponentDays(ctx context.Context, days []slokeeper.ComponentDay) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, d := range days {
			b.Queue(`INSERT INTO component_days (component, day, observed_ns, down_ns, maintenance_ns) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (component, day) DO UPDATE SET observed_ns = excluded.observed_ns, down_ns = excluded.down_ns, maintenance_ns = excluded.maintenance_ns`,
				d.Component, d.Day, int64(d.Observed), int64(d.Down), int64(d.Maintenance))
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("put component days: %w", interpretError(err))
	}
	return nil
}

// FindComponentDays returns a component's tallies of days in [from, to].
func (s *ComponentService) FindComponentDays(ctx context.Context, component, from, to string) ([]slokeeper.ComponentDay, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT component, day, observed_ns, down_ns, maintenance_ns FROM component_days
		WHERE component = $1 AND day >= $2 AND day <= $3 ORDER BY day`, component, from, to)
	if err != nil {
		return nil, fmt.Errorf("find component days: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (slokeeper.ComponentDay, error) {
		var d slokeeper.ComponentDay
		var obs, down, maint int64
		err := row.Scan(&d.Component, &d.Day, &obs, &down, &maint)
		d.Observed, d.Down, d.Maintenance = time.Duration(obs), time.Duration(down), time.Duration(maint)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("find component days: %w", err)
	}
	return out, nil
}
