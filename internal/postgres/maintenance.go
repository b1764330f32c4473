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

// MaintenanceService stores maintenance windows in PostgreSQL.
type MaintenanceService struct {
	db *DB
}

var _ slokeeper.MaintenanceService = (*MaintenanceService)(nil)

// NewMaintenanceService returns a MaintenanceService on db.
func NewMaintenanceService(db *DB) *MaintenanceService { return &MaintenanceService{db: db} }

// CreateMaintenance stores a window.
func (s *MaintenanceService) CreateMaintenance(ctx context.Context, m *slokeeper.Maintenance) error {
	components, _ := json.Marshal(append([]string{}, m.Components...))
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO maintenances (id, components, title_ja, title_en, body_ja, body_en, start_at, end_at, emergency, reason, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			m.ID, components, m.TitleJA, m.TitleEN, m.BodyJA, m.BodyEN, m.Start, m.End, m.Emergency, m.Reason, m.CreatedAt); err != nil {
			return err
		}
		return insertAnnouncement(ctx, tx, m.Announcement(slokeeper.AnnounceMaintenanceScheduled, m.CreatedAt))
	})
	if err != nil {
		return fmt.Errorf("create maintenance: %w", interpretError(err))
	}
	return nil
}

// FindMaintenances returns windows by start.
func (s *MaintenanceService) FindMaintenances(ctx context.Context, f slokeeper.MaintenanceFilter) ([]*slokeeper.Maintenance, error) {
	where := sqlbuild.Dollar().Eq("id", f.ID)
	if !f.From.IsZero() || !f.To.IsZero() {
		where.Raw("cancelled_at IS NULL")
	}
	if !f.From.IsZero() {
		where.Add("end_at > ?", f.From)
	}
	if !f.To.IsZero() {
		where.Add("start_at < ?", f.To)
	}
	rows, err := s.db.pool.Query(ctx, `SELECT id, components, title_ja, title_en, body_ja, body_en, start_at, end_at, emergency, reason, created_at, cancelled_at
		FROM maintenances WHERE `+where.String()+` ORDER BY start_at, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find maintenances: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.Maintenance, error) {
		var m slokeeper.Maintenance
		var components []byte
		var cancelled *time.Time
		if err := row.Scan(&m.ID, &components, &m.TitleJA, &m.TitleEN, &m.BodyJA, &m.BodyEN, &m.Start, &m.End, &m.Emergency, &m.Reason, &m.CreatedAt, &cancelled); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(components, &m.Components); err != nil {
			return nil, fmt.Errorf("maintenance %s: stored components: %w", m.ID, err)
		}
		m.Start, m.End, m.CreatedAt, m.CancelledAt = m.Start.UTC(), m.End.UTC(), m.CreatedAt.UTC(), fromNull(cancelled)
		return &m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("find maintenances: %w", err)
	}
	return out, nil
}

// UpdateMaintenance reschedules or cancels a window.
func (s *MaintenanceService) UpdateMaintenance(ctx context.Context, id string, upd slokeeper.MaintenanceUpdate) error {
	set := sqlbuild.Dollar()
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
	kind := slokeeper.AnnounceMaintenanceRescheduled
	if upd.CancelledAt != nil {
		kind = slokeeper.AnnounceMaintenanceCancelled
	}
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		m := slokeeper.Maintenance{ID: id}
		err := tx.QueryRow(ctx, `UPDATE maintenances SET `+set.Set()+` WHERE id = `+set.Arg(id)+` RETURNING components, start_at, end_at`,
			set.Args()...).Scan(&m.Components, &m.Start, &m.End)
		if err == pgx.ErrNoRows {
			return slokeeper.Errorf(slokeeper.ENOTFOUND, "No maintenance window %q.", id)
		}
		if err != nil {
			return err
		}
		return insertAnnouncement(ctx, tx, m.Announcement(kind, upd.At))
	})
	if err != nil {
		return fmt.Errorf("update maintenance: %w", interpretError(err))
	}
	return nil
}
