package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"
)

// EvidenceService stores evidence in SQLite.
type EvidenceService struct {
	db *DB
}

var _ slokeeper.EvidenceService = (*EvidenceService)(nil)

// NewEvidenceService returns an EvidenceService on db.
func NewEvidenceService(db *DB) *EvidenceService { return &EvidenceService{db: db} }

// RecordEvidence validates e, stores it and sets e.ID.
func (s *EvidenceService) RecordEvidence(ctx context.Context, e *slokeeper.Evidence) error {
	if err := e.Validate(); err != nil {
		return err
	}
	return insertEvidence(ctx, s.db.write, e)
}

// insertEvidence stores a validated e through q (the writer or a
// transaction: evidence of an action goes in the action's transaction
// where it can) and sets e.ID.
func insertEvidence(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, e *slokeeper.Evidence) error {
	var deadline sql.NullString
	if !e.Deadline.IsZero() {
		deadline = sql.NullString{String: formatTime(e.Deadline), Valid: true}
	}
	err := q.QueryRowContext(ctx, `
		INSERT INTO evidence (at, clause, action, subject, deadline, outcome, detail, node, duration_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING id`,
		formatTime(e.At), e.Clause, e.Action, e.Subject, deadline, e.Outcome, e.Detail, e.Node, e.Duration.Milliseconds(),
	).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("record evidence: %w", interpretError(err))
	}
	e.At, e.Deadline = e.At.UTC(), e.Deadline.UTC()
	return nil
}

// FindEvidence returns the evidence matching f, oldest first, and how many
// match ignoring Offset and Limit.
func (s *EvidenceService) FindEvidence(ctx context.Context, f slokeeper.EvidenceFilter) ([]*slokeeper.Evidence, int, error) {
	where := sqlbuild.Question().Eq("clause", f.Clause).Eq("action", f.Action).Eq("outcome", f.Outcome).Eq("subject", f.Subject)
	if !f.Since.IsZero() {
		where.Add("at >= ?", formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		where.Add("at < ?", formatTime(f.Until))
	}
	cond, args := where.String(), where.Args()

	// One read transaction: the count and the page see the same snapshot.
	tx, err := s.db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("find evidence: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM evidence WHERE `+cond, args...).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("count evidence: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT id, at, clause, action, subject, deadline, outcome, detail, node, duration_ms
		FROM evidence WHERE `+cond+`
		ORDER BY at, id
		LIMIT ? OFFSET ?`, append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("find evidence: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Evidence
	for rows.Next() {
		var e slokeeper.Evidence
		var at string
		var deadline sql.NullString
		var ms int64
		if err := rows.Scan(&e.ID, &at, &e.Clause, &e.Action, &e.Subject, &deadline, &e.Outcome, &e.Detail, &e.Node, &ms); err != nil {
			return nil, 0, fmt.Errorf("scan evidence: %w", err)
		}
		if e.At, err = parseTime(at); err != nil {
			return nil, 0, err
		}
		e.Duration = time.Duration(ms) * time.Millisecond
		if deadline.Valid {
			if e.Deadline, err = parseTime(deadline.String); err != nil {
				return nil, 0, err
			}
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("find evidence: %w", err)
	}
	return out, n, nil
}
