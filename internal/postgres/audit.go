package postgres

import (
	"context"
	"errors"
	"fmt"

	"slokeeper"

	"github.com/jackc/pgx/v5"
)

// AuditStore stores the audit ledger in PostgreSQL.
type AuditStore struct {
	db *DB
}

var _ slokeeper.AuditStore = (*AuditStore)(nil)

// NewAuditStore returns an AuditStore on db.
func NewAuditStore(db *DB) *AuditStore { return &AuditStore{db: db} }

// auditLock is the advisory lock ("auditlog" in ASCII) that serializes
// appends between nodes, so sequence numbers have no gaps.
const auditLock = 0x61756469746c6f67

// AppendAuditEntry stores e as the next entry.
func (s *AuditStore) AppendAuditEntry(ctx context.Context, e *slokeeper.AuditEntry, seal func(prevChain []byte) error) error {
	if err := e.Validate(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(auditLock)); err != nil {
			return err
		}
		var last int64
		var prev []byte
		err := tx.QueryRow(ctx, `SELECT seq, chain_hash FROM audit_entries ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		e.Seq = last + 1
		if err := seal(prev); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO audit_entries (seq, at, actor, action, target, detail, leaf_hash, chain_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			e.Seq, e.At, e.Actor, e.Action, e.Target, e.Detail, e.LeafHash, e.ChainHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("append audit entry: %w", interpretError(err))
	}
	return nil
}

// EachAuditEntry calls fn for entries with Seq in [from, to], in order.
func (s *AuditStore) EachAuditEntry(ctx context.Context, from, to int64, fn func(*slokeeper.AuditEntry) error) error {
	if to <= 0 {
		to = 1<<63 - 1
	}
	rows, err := s.db.pool.Query(ctx, `
		SELECT seq, at, actor, action, target, detail, leaf_hash, chain_hash
		FROM audit_entries WHERE seq >= $1 AND seq <= $2 ORDER BY seq`, from, to)
	if err != nil {
		return fmt.Errorf("read audit entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e slokeeper.AuditEntry
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.LeafHash, &e.ChainHash); err != nil {
			return fmt.Errorf("read audit entries: %w", err)
		}
		e.At = e.At.UTC()
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AddAuditCheckpoint stores a checkpoint.
func (s *AuditStore) AddAuditCheckpoint(ctx context.Context, c *slokeeper.AuditCheckpoint) error {
	if _, err := s.db.pool.Exec(ctx, `INSERT INTO audit_checkpoints (size, root, note, at) VALUES ($1, $2, $3, $4)`, c.Size, c.Root, c.Note, c.At); err != nil {
		return fmt.Errorf("add audit checkpoint: %w", interpretError(err))
	}
	return nil
}

// FindAuditCheckpoints returns the checkpoints by size.
func (s *AuditStore) FindAuditCheckpoints(ctx context.Context) ([]*slokeeper.AuditCheckpoint, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT size, root, note, at FROM audit_checkpoints ORDER BY size`)
	if err != nil {
		return nil, fmt.Errorf("find audit checkpoints: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.AuditCheckpoint, error) {
		var c slokeeper.AuditCheckpoint
		err := row.Scan(&c.Size, &c.Root, &c.Note, &c.At)
		c.At = c.At.UTC()
		return &c, err
	})
	if err != nil {
		return nil, fmt.Errorf("find audit checkpoints: %w", err)
	}
	return out, nil
}
