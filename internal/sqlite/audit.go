package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"slokeeper"
)

// AuditStore stores the audit ledger in SQLite.
type AuditStore struct {
	db *DB
}

var _ slokeeper.AuditStore = (*AuditStore)(nil)

// NewAuditStore returns an AuditStore on db.
func NewAuditStore(db *DB) *AuditStore { return &AuditStore{db: db} }

// DB returns the database the store is in.
func (s *AuditStore) DB() *DB { return s.db }

// AppendAuditEntry stores e as the next entry. The immediate transaction
// holds SQLite's write lock from reading the last entry to inserting this
// one, so sequence numbers have no gaps, across processes too.
func (s *AuditStore) AppendAuditEntry(ctx context.Context, e *slokeeper.AuditEntry, seal func(prevChain []byte) error) error {
	if err := e.Validate(); err != nil {
		return err
	}
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	defer tx.Rollback()
	var last int64
	var prev []byte
	err = tx.QueryRowContext(ctx, `SELECT seq, chain_hash FROM audit_entries ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("append audit entry: %w", err)
	}
	e.Seq = last + 1
	if err := seal(prev); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO audit_entries (seq, at, actor, action, target, detail, leaf_hash, chain_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, formatTime(e.At), e.Actor, e.Action, e.Target, e.Detail, e.LeafHash, e.ChainHash); err != nil {
		return fmt.Errorf("append audit entry: %w", interpretError(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// EachAuditEntry calls fn for entries with Seq in [from, to], in order.
func (s *AuditStore) EachAuditEntry(ctx context.Context, from, to int64, fn func(*slokeeper.AuditEntry) error) error {
	if to <= 0 {
		to = 1<<63 - 1
	}
	rows, err := s.db.read.QueryContext(ctx, `
		SELECT seq, at, actor, action, target, detail, leaf_hash, chain_hash
		FROM audit_entries WHERE seq >= ? AND seq <= ? ORDER BY seq`, from, to)
	if err != nil {
		return fmt.Errorf("read audit entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e slokeeper.AuditEntry
		var at string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.LeafHash, &e.ChainHash); err != nil {
			return fmt.Errorf("read audit entries: %w", err)
		}
		if e.At, err = parseTime(at); err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AddAuditCheckpoint stores a checkpoint.
func (s *AuditStore) AddAuditCheckpoint(ctx context.Context, c *slokeeper.AuditCheckpoint) error {
	_, err := s.db.write.ExecContext(ctx, `INSERT INTO audit_checkpoints (size, root, note, at) VALUES (?, ?, ?, ?)`,
		c.Size, c.Root, c.Note, formatTime(c.At))
	if err != nil {
		return fmt.Errorf("add audit checkpoint: %w", interpretError(err))
	}
	return nil
}

// FindAuditCheckpoints returns the checkpoints by size.
func (s *AuditStore) FindAuditCheckpoints(ctx context.Context) ([]*slokeeper.AuditCheckpoint, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT size, root, note, at FROM audit_checkpoints ORDER BY size`)
	if err != nil {
		return nil, fmt.Errorf("find audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.AuditCheckpoint
	for rows.Next() {
		var c slokeeper.AuditCheckpoint
		var at string
		if err := rows.Scan(&c.Size, &c.Root, &c.Note, &at); err != nil {
			return nil, fmt.Errorf("find audit checkpoints: %w", err)
		}
		if c.At, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}
