package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"slokeeper"
	"slokeeper/internal/sqlbuild"
)

// IncidentService stores incidents in SQLite.
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
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("open incident: %w", err)
	}
	defer tx.Rollback()
	components, _ := json.Marshal(append([]string{}, inc.Components...))
	inc.Status = first.Status
	if _, err := tx.ExecContext(ctx, `INSERT INTO incidents (id, components, title_ja, title_en, impact, status, detected_at, opened_at, auto_component)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, inc.ID, string(components), inc.TitleJA, inc.TitleEN, inc.Impact, inc.Status,
		formatTime(inc.DetectedAt), formatTime(inc.OpenedAt), inc.AutoComponent); err != nil {
		return fmt.Errorf("open incident: %w", interpretError(err))
	}
	first.Incident = inc.ID
	if err := addUpdate(ctx, tx, first); err != nil {
		return err
	}
	if err := insertAnnouncement(ctx, tx, first.Announcement(inc.Components, true)); err != nil {
		return err
	}
	if notice != nil {
		if err := insertEvidence(ctx, tx, notice); err != nil {
			return fmt.Errorf("open incident: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("open incident: %w", err)
	}
	inc.Updates = []slokeeper.IncidentUpdate{*first}
	return nil
}

func addUpdate(ctx context.Context, tx *sql.Tx, u *slokeeper.IncidentUpdate) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO incident_updates (incident, at, status, body_ja, body_en, by_whom) VALUES (?, ?, ?, ?, ?, ?)`,
		u.Incident, formatTime(u.At), u.Status, u.BodyJA, u.BodyEN, u.By)
	if err != nil {
		return fmt.Errorf("incident update: %w", interpretError(err))
	}
	u.ID, _ = res.LastInsertId()
	return nil
}

// AddIncidentUpdate appends to an open incident's timeline and sets its status.
func (s *IncidentService) AddIncidentUpdate(ctx context.Context, u *slokeeper.IncidentUpdate) error {
	if err := u.Validate(); err != nil {
		return err
	}
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("incident update: %w", err)
	}
	defer tx.Rollback()
	var resolved any
	if u.Status == slokeeper.IncidentResolved {
		resolved = formatTime(u.At)
	}
	var components string
	err = tx.QueryRowContext(ctx, `UPDATE incidents SET status = ?, resolved_at = ? WHERE id = ? AND resolved_at IS NULL RETURNING components`,
		u.Status, resolved, u.Incident).Scan(&components)
	if err == sql.ErrNoRows {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "Incident %q does not exist or is resolved.", u.Incident)
	}
	if err != nil {
		return fmt.Errorf("incident update: %w", interpretError(err))
	}
	var affected []string
	if err := json.Unmarshal([]byte(components), &affected); err != nil {
		return fmt.Errorf("incident %s: stored components: %w", u.Incident, err)
	}
	if err := addUpdate(ctx, tx, u); err != nil {
		return err
	}
	if err := insertAnnouncement(ctx, tx, u.Announcement(affected, false)); err != nil {
		return err
	}
	return tx.Commit()
}

// SetPostmortem stores a resolved incident's postmortem.
func (s *IncidentService) SetPostmortem(ctx context.Context, id, ja, en string) error {
	res, err := s.db.write.ExecContext(ctx, `UPDATE incidents SET postmortem_ja = ?, postmortem_en = ? WHERE id = ? AND resolved_at IS NOT NULL`, ja, en, id)
	if err != nil {
		return fmt.Errorf("set postmortem: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "Incident %q does not exist or is not resolved: a postmortem follows the resolution.", id)
	}
	return nil
}

// FindIncidents returns incidents, newest first, with their updates.
func (s *IncidentService) FindIncidents(ctx context.Context, f slokeeper.IncidentFilter) ([]*slokeeper.Incident, error) {
	where := sqlbuild.Question().Eq("id", f.ID).Eq("auto_component", f.AutoComponent)
	if f.Open {
		where.Raw("resolved_at IS NULL")
	}
	if !f.Since.IsZero() {
		where.Add("(resolved_at IS NULL OR resolved_at >= ?)", formatTime(f.Since))
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT id, components, title_ja, title_en, impact, status, detected_at, opened_at, resolved_at,
		auto_component, postmortem_ja, postmortem_en FROM incidents WHERE `+where.String()+` ORDER BY opened_at DESC, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find incidents: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Incident
	byID := map[string]*slokeeper.Incident{}
	for rows.Next() {
		var inc slokeeper.Incident
		var components, detected, opened string
		var resolved sql.NullString
		if err := rows.Scan(&inc.ID, &components, &inc.TitleJA, &inc.TitleEN, &inc.Impact, &inc.Status, &detected, &opened, &resolved,
			&inc.AutoComponent, &inc.PostmortemJA, &inc.PostmortemEN); err != nil {
			return nil, fmt.Errorf("find incidents: %w", err)
		}
		if err := json.Unmarshal([]byte(components), &inc.Components); err != nil {
			return nil, fmt.Errorf("incident %s: stored components: %w", inc.ID, err)
		}
		if inc.DetectedAt, err = parseTime(detected); err != nil {
			return nil, err
		}
		if inc.OpenedAt, err = parseTime(opened); err != nil {
			return nil, err
		}
		if inc.ResolvedAt, err = scanNullTime(resolved); err != nil {
			return nil, err
		}
		out = append(out, &inc)
		byID[inc.ID] = &inc
	}
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	// The timelines, in one query.
	ids := sqlbuild.Question()
	ph := make([]string, len(out))
	for i, inc := range out {
		ph[i] = ids.Arg(inc.ID)
	}
	urows, err := s.db.read.QueryContext(ctx, `SELECT id, incident, at, status, body_ja, body_en, by_whom FROM incident_updates
		WHERE incident IN (`+strings.Join(ph, ", ")+`) ORDER BY id`, ids.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find incident updates: %w", err)
	}
	defer urows.Close()
	for urows.Next() {
		var u slokeeper.IncidentUpdate
		var at string
		if err := urows.Scan(&u.ID, &u.Incident, &at, &u.Status, &u.BodyJA, &u.BodyEN, &u.By); err != nil {
			return nil, fmt.Errorf("find incident updates: %w", err)
		}
		if u.At, err = parseTime(at); err != nil {
			return nil, err
		}
		inc := byID[u.Incident]
		inc.Updates = append(inc.Updates, u)
	}
	return out, urows.Err()
}
