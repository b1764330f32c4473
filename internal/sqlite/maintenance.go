package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"
)

// MaintenanceService stores maintenance windows in SQLite.
type MaintenanceService struct {
	db *DB
}

var _ slokeeper.MaintenanceService = (*MaintenanceService)(nil)

// NewMaintenanceService returns a MaintenanceService on db.
func NewMaintenanceService(db *DB) *MaintenanceService { return &MaintenanceService{db: db} }

// CreateMaintenance stores a window.
func (s *MaintenanceService) CreateMaintenance(ctx context.Context, m *slokeeper.Maintenance) error {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create maintenance: %w", err)
	}
	defer tx.Rollback()
	components, _ := json.Marshal(append([]string{}, m.Components...))
	_, err = tx.ExecContext(ctx, `INSERT INTO maintenances (id, components, title_ja, title_en, body_ja, body_en, start_at, end_at, emergency, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, string(components), m.TitleJA, m.TitleEN, m.BodyJA, m.BodyEN, formatTime(m.Start), formatTime(m.End), m.Emergency, m.Reason, formatTime(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("create maintenance: %w", interpretError(err))
	}
	if err := insertAnnouncement(ctx, tx, m.Announcement(slokeeper.AnnounceMaintenanceScheduled, m.CreatedAt)); err != nil {
		return err
	}
	return tx.Commit()
}

// FindMaintenances returns windows by start.
func (s *MaintenanceService) FindMaintenances(ctx context.Context, f slokeeper.MaintenanceFilter) ([]*slokeeper.Maintenance, error) {
	where := sqlbuild.Question().Eq("id", f.ID)
	if !f.From.IsZero() || !f.To.IsZero() {
		where.Raw("cancelled_at IS NULL")
	}
	if !f.From.IsZero() {
		where.Add("end_at > ?", formatTime(f.From))
	}
	if !f.To.IsZero() {
		where.Add("start_at < ?", formatTime(f.To))
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT id, components, title_ja, title_en, body_ja, body_en, start_at, end_at, emergency, reason, created_at, cancelled_at
		FROM maintenances WHERE `+where.String()+` ORDER BY start_at, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find maintenances: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Maintenance
	for rows.Next() {
		var m slokeeper.Maintenance
		var components, start, end, created string
		var cancelled sql.NullString
		if err := rows.Scan(&m.ID, &components, &m.TitleJA, &m.TitleEN, &m.BodyJA, &m.BodyEN, &start, &end, &m.Emergency, &m.Reason, &created, &cancelled); err != nil {
			return nil, fmt.Errorf("find maintenances: %w", err)
		}
		if err := json.Unmarshal([]byte(components), &m.Components); err != nil {
			return nil, fmt.Errorf("maintenance %s: stored components: %w", m.ID, err)
		}
		for _, p := range []struct {
			dst *time.Time
			v   string
		}{{&m.Start, start}, {&m.End, end}, {&m.CreatedAt, created}} {
			if *p.dst, err = parseTime(p.v); err != nil {
				return nil, err
			}
		}
		if m.CancelledAt, err = scanNullTime(cancelled); err != nil {
			return nil, err
		}
		out = append(out, &m)
	}
	return out, rows.Err()
}

// UpdateMaintenance reschedules or cancels a window.
func (s *MaintenanceService) UpdateMaintenance(ctx context.Context, id string, upd slokeeper.MaintenanceUpdate) error {
	set := sqlbuild.Question()
	for _, p := range []struct {
		col string
		v   *time.Time
	}{{"start_at", upd.Start}, {"end_at", upd.End}, {"cancelled_at", upd.CancelledAt}} {
		if p.v != nil {
			set.Add(p.col+" = ?", nullTime(*p.v))
		}
	}
	if set.Len() == 0 {
		return nil
	}
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update maintenance: %w", err)
	}
	defer tx.Rollback()
	var components, start, end string
	err = tx.QueryRowContext(ctx, `UPDATE maintenances SET `+set.Set()+` WHERE id = `+set.Arg(id)+` RETURNING components, start_at, end_at`,
		set.Args()...).Scan(&components, &start, &end)
	if err == sql.ErrNoRows {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No maintenance window %q.", id)
	}
	if err != nil {
		return fmt.Errorf("update maintenance: %w", interpretError(err))
	}
	m := slokeeper.Maintenance{ID: id}
	if err := json.Unmarshal([]byte(components), &m.Components); err != nil {
		return fmt.Errorf("maintenance %s: stored components: %w", id, err)
	}
	if m.Start, err = parseTime(start); err != nil {
		return err
	}
	if m.End, err = parseTime(end); err != nil {
		return err
	}
	kind := slokeeper.AnnounceMaintenanceRescheduled
	if upd.CancelledAt != nil {
		kind = slokeeper.AnnounceMaintenanceCancelled
	}
	if err := insertAnnouncement(ctx, tx, m.Announcement(kind, upd.At)); err != nil {
		return err
	}
	return tx.Commit()
}
