package postgres

import (
	"context"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"

	"github.com/jackc/pgx/v5"
)

// EvidenceService stores evidence in PostgreSQL.
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
	return insertEvidence(ctx, s.db.pool, e)
}

// insertEvidence stores a validated e through q (the pool or a
// transaction: evidence of an action goes in the action's transaction
// where it can) and sets e.ID.
func insertEvidence(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, e *slokeeper.Evidence) error {
	var deadline *time.Time
	if !e.Deadline.IsZero() {
		deadline = &e.Deadline
	}
	err := q.QueryRow(ctx, `
		INSERT INTO evidence (at, clause, action, subject, deadline, outcome, detail, node, duration_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		RETURNING id`,
		e.At, e.Clause, e.Action, e.Subject, deadline, e.Outcome, e.Detail, e.Node, e.Duration.Milliseconds(),
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
	where := sqlbuild.Dollar().Eq("clause", f.Clause).Eq("action", f.Action).Eq("outcome", f.Outcome).Eq("subject", f.Subject)
	if !f.Since.IsZero() {
		where.Add("at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		where.Add("at < ?", f.Until)
	}
	cond, args := where.String(), where.Args()

	// One repeatable-read transaction: the count and the page see the same snapshot.
	tx, err := s.db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, fmt.Errorf("find evidence: %w", err)
	}
	defer tx.Rollback(ctx)
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM evidence WHERE `+cond, args...).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("count evidence: %w", err)
	}
	var limit *int
	if f.Limit > 0 {
		limit = &f.Limit
	}
	rows, err := tx.Query(ctx, fmt.Sprintf(`
		SELECT id, at, clause, action, subject, deadline, outcome, detail, node, duration_ms
		FROM evidence WHERE %s
		ORDER BY at, id
		LIMIT $%d OFFSET $%d`, cond, len(args)+1, len(args)+2), append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("find evidence: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.Evidence, error) {
		var e slokeeper.Evidence
		var deadline *time.Time
		var ms int64
		if err := row.Scan(&e.ID, &e.At, &e.Clause, &e.Action, &e.Subject, &deadline, &e.Outcome, &e.Detail, &e.Node, &ms); err != nil {
			return nil, err
		}
		e.At, e.Duration = e.At.UTC(), time.Duration(ms)*time.Millisecond
		if deadline != nil {
			e.Deadline = deadline.UTC()
		}
		return &e, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("find evidence: %w", err)
	}
	return out, n, nil
}
