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

// IncidentService stores incidents in PostgreSQL.
type IncidentService struct {
	db *DB
}

var _ slokeeper.IncidentService = (*IncidentService)(nil)

// NewIncidentService returns an IncidentService on db.
func NewIncidentService(db *DB) *IncidentService { return &IncidentService{db: db} }

// OpenIncident stores an incident with its first update, in one transaction.
func (s *IncidentService) OpenIncident(ctx context.Context, inc *slokeeper.Incident, first *slokeeper.IncidentUpdate, notice *slokeeper.Evidence) error {
	if err := inc.Validate(); err != nil {
		return err
	}
	if err := first.Validate(); err != nil {
		return err
	}
	if notice != nil {
		if err := notice.Validate(); err != nil {
			return err
		}
	}
	components, _ := json.Marshal(append([]string{}, inc.Components...))
	inc.Status, first.Incident = first.Status, inc.ID
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO incidents (id, components, title_ja, title_en, impact, status, detected_at, opened_at, auto_component)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, inc.ID, components, inc.TitleJA, inc.TitleEN, inc.Impact, inc.Status,
			inc.DetectedAt, inc.OpenedAt, inc.AutoComponent); err != nil {
			return err
		}
		if err := addUpdate(ctx, tx, first); err != nil {
			return err
		}
		if err := insertAnnouncement(ctx, tx, first.Announcement(inc.Components, true)); err != nil {
			return err
		}
		if notice != nil {
			return insertEvidence(ctx, tx, notice)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("open incident: %w", interpretError(err))
	}
	inc.Updates = []slokeeper.IncidentUpdate{*first}
	return nil
}

func addUpdate(ctx context.Context, tx pgx.Tx, u *slokeeper.IncidentUpdate) error {
	return tx.QueryRow(ctx, `INSERT INTO incident_updates (incident, at, status, body_ja, body_en, by_whom) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		u.Incident, u.At, u.Status, u.BodyJA, u.BodyEN, u.By).Scan(&u.ID)
}

// AddIncidentUpdate appends to an open incident's timeline and sets its status.
func (s *IncidentService) AddIncidentUpdate(ctx context.Context, u *slokeeper.IncidentUpdate) error {
	if err := u.Validate(); err != nil {
		return err
	}
	var resolved *time.Time
	if u.Status == slokeeper.IncidentResolved {
		resolved = &u.At
	}
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var affected []string
		err := tx.QueryRow(ctx, `UPDATE incidents SET status = $1, resolved_at = $2 WHERE id = $3 AND resolved_at IS NULL RETURNING components`,
			u.Status, resolved, u.Incident).Scan(&affected)
		if err == pgx.ErrNoRows {
			return slokeeper.Errorf(slokeeper.ECONFLICT, "Incident %q does not exist or is resolved.", u.Incident)
		}
		if err != nil {
			return err
		}
		if err := addUpdate(ctx, tx, u); err != nil {
			return err
		}
		return insertAnnouncement(ctx, tx, u.Announcement(affected, false))
	})
	if err != nil {
		return fmt.Errorf("incident update: %w", interpretError(err))
	}
	return nil
}

// SetPostmortem stores a resolved incident's postmortem.
func (s *IncidentService) SetPostmortem(ctx context.Context, id, ja, en string) error {
	tag, err := s.db.pool.Exec(ctx, `UPDATE incidents SET postmortem_ja = $1, postmortem_en = $2 WHERE id = $3 AND resolved_at IS NOT NULL`, ja, en, id)
	if err != nil {
		return fmt.Errorf("set postmortem: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "Incident %q does not exist or is not resolved: a postmortem follows the resolution.", id)
	}
	return nil
}

// FindIncidents returns incidents, newest first, with their updates.
func (s *IncidentService) FindIncidents(ctx context.Context, f slokeeper.IncidentFilter) ([]*slokeeper.Incident, error) {
	where := sqlbuild.Dollar().Eq("id", f.ID).Eq("auto_component", f.AutoComponent)
	if f.Open {
		where.Raw("resolved_at IS NULL")
	}
	if !f.Since.IsZero() {
		where.Add("(resolved_at IS NULL OR resolved_at >= ?)", f.Since)
	}
	rows, err := s.db.pool.Query(ctx, `SELECT id, components, title_ja, title_en, impact, status, detected_at, opened_at, resolved_at,
		auto_component, postmortem_ja, postmortem_en FROM incidents WHERE `+where.String()+` ORDER BY opened_at DESC, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find incidents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.Incident, error) {
		var inc slokeeper.Incident
		var components []byte
		var resolved *time.Time
		if err := row.Scan(&inc.ID, &components, &inc.TitleJA, &inc.TitleEN, &inc.Impact, &inc.Status, &inc.DetectedAt, &inc.OpenedAt, &resolved,
			&inc.AutoComponent, &inc.PostmortemJA, &inc.PostmortemEN); err != nil {
			return nil, err
		}
		inc.DetectedAt, inc.OpenedAt, inc.ResolvedAt = inc.DetectedAt.UTC(), inc.OpenedAt.UTC(), fromNull(resolved)
		return &inc, json.Unmarshal(components, &inc.Components)
	})
	if err != nil || len(out) == 0 {
		if err != nil {
			err = fmt.Errorf("find incidents: %w", err)
		}
		return out, err
	}
	byID := map[string]*slokeeper.Incident{}
	ids := make([]string, len(out))
	for i, inc := range out {
		byID[inc.ID], ids[i] = inc, inc.ID
	}
	urows, err := s.db.pool.Query(ctx, `SELECT id, incident, at, status, body_ja, body_en, by_whom FROM incident_updates
		WHERE incident = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return nil, fmt.Errorf("find incident updates: %w", err)
	}
	updates, err := pgx.CollectRows(urows, func(row pgx.CollectableRow) (slokeeper.IncidentUpdate, error) {
		var u slokeeper.IncidentUpdate
		err := row.Scan(&u.ID, &u.Incident, &u.At, &u.Status, &u.BodyJA, &u.BodyEN, &u.By)
		u.At = u.At.UTC()
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("find incident updates: %w", err)
	}
	for _, u := range updates {
		byID[u.Incident].Updates = append(byID[u.Incident].Updates, u)
	}
	return out, nil
}
