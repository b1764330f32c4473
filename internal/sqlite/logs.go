package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"
)

// LogCatalog stores the log store's partition catalog in SQLite.
type LogCatalog struct {
	db *DB
}

var _ slokeeper.LogCatalog = (*LogCatalog)(nil)

// NewLogCatalog returns a LogCatalog on db.
func NewLogCatalog(db *DB) *LogCatalog { return &LogCatalog{db: db} }

func nullTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(t), Valid: true}
}

func scanNullTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}

// UpsertLogPartition inserts or updates the partition with p's class and day.
func (c *LogCatalog) UpsertLogPartition(ctx context.Context, p *slokeeper.LogPartition) error {
	_, err := c.db.write.ExecContext(ctx, `
		INSERT INTO log_partitions (class, day, records, bytes, sealed, checksum, min_received, max_received, sealed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (class, day) DO UPDATE SET
			records = excluded.records, bytes = excluded.bytes, sealed = excluded.sealed, checksum = excluded.checksum,
			min_received = excluded.min_received, max_received = excluded.max_received, sealed_at = excluded.sealed_at`,
		p.Class, p.Day, p.Records, p.Bytes, p.Sealed, p.Checksum, nullTime(p.MinReceived), nullTime(p.MaxReceived), nullTime(p.SealedAt))
	if err != nil {
		return fmt.Errorf("upsert log partition %s/%s: %w", p.Class, p.Day, interpretError(err))
	}
	return nil
}

// FindLogPartitions returns matching partitions by class, then day.
func (c *LogCatalog) FindLogPartitions(ctx context.Context, f slokeeper.LogPartitionFilter) ([]*slokeeper.LogPartition, error) {
	where := sqlbuild.Question().Eq("class", f.Class).Eq("day", f.Day)
	if f.Sealed != nil {
		where.Add("sealed = ?", *f.Sealed)
	}
	rows, err := c.db.read.QueryContext(ctx, `
		SELECT class, day, records, bytes, sealed, checksum, min_received, max_received, sealed_at
		FROM log_partitions WHERE `+where.String()+` ORDER BY class, day`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find log partitions: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.LogPartition
	for rows.Next() {
		var p slokeeper.LogPartition
		var minR, maxR, sealedAt sql.NullString
		if err := rows.Scan(&p.Class, &p.Day, &p.Records, &p.Bytes, &p.Sealed, &p.Checksum, &minR, &maxR, &sealedAt); err != nil {
			return nil, fmt.Errorf("scan log partition: %w", err)
		}
		if p.MinReceived, err = scanNullTime(minR); err != nil {
			return nil, err
		}
		if p.MaxReceived, err = scanNullTime(maxR); err != nil {
			return nil, err
		}
		if p.SealedAt, err = scanNullTime(sealedAt); err != nil {
			return nil, err
		}
		out = append(out, &p)
	}
	return out, rows.Err()
}

// DeleteLogPartition removes a partition's entry.
func (c *LogCatalog) DeleteLogPartition(ctx context.Context, class, day string) error {
	res, err := c.db.write.ExecContext(ctx, `DELETE FROM log_partitions WHERE class = ? AND day = ?`, class, day)
	if err != nil {
		return fmt.Errorf("delete log partition: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No log partition %s/%s.", class, day)
	}
	return nil
}

// SourceService stores log sources in SQLite.
type SourceService struct {
	db *DB
}

var _ slokeeper.SourceService = (*SourceService)(nil)

// NewSourceService returns a SourceService on db.
func NewSourceService(db *DB) *SourceService { return &SourceService{db: db} }

// CreateSource stores s.
func (s *SourceService) CreateSource(ctx context.Context, src *slokeeper.Source) error {
	if err := src.Validate(); err != nil {
		return err
	}
	src.CreatedAt = src.CreatedAt.UTC().Truncate(time.Microsecond)
	_, err := s.db.write.ExecContext(ctx, `
		INSERT INTO log_sources (id, account, kind, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		src.ID, src.Account, src.Kind, src.Name, src.TokenHash, formatTime(src.CreatedAt))
	if err != nil {
		return fmt.Errorf("create source: %w", interpretError(err))
	}
	return nil
}

const sourceColumns = `id, account, kind, name, token_hash, created_at, revoked_at`

func scanSource(sc interface{ Scan(...any) error }) (*slokeeper.Source, error) {
	var src slokeeper.Source
	var created string
	var revoked sql.NullString
	if err := sc.Scan(&src.ID, &src.Account, &src.Kind, &src.Name, &src.TokenHash, &created, &revoked); err != nil {
		return nil, err
	}
	var err error
	if src.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if src.RevokedAt, err = scanNullTime(revoked); err != nil {
		return nil, err
	}
	return &src, nil
}

// FindSources returns matching sources by ID.
func (s *SourceService) FindSources(ctx context.Context, f slokeeper.SourceFilter) ([]*slokeeper.Source, error) {
	where := sqlbuild.Question().Eq("id", f.ID).Eq("account", f.Account)
	if !f.IncludeRevoked {
		where.Raw("revoked_at IS NULL")
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+sourceColumns+` FROM log_sources WHERE `+where.String()+` ORDER BY id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find sources: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Source
	for rows.Next() {
		src, err := scanSource(rows)
		if err != nil {
			return nil, fmt.Errorf("scan source: %w", err)
		}
		out = append(out, src)
	}
	return out, rows.Err()
}

// FindSourceByTokenHash returns the live source with that token hash.
func (s *SourceService) FindSourceByTokenHash(ctx context.Context, hash []byte) (*slokeeper.Source, error) {
	src, err := scanSource(s.db.read.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM log_sources WHERE token_hash = ? AND revoked_at IS NULL`, hash))
	if err != nil {
		return nil, interpretError(err)
	}
	return src, nil
}

// RevokeSource revokes the source; revoking twice keeps the first time.
func (s *SourceService) RevokeSource(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.write.ExecContext(ctx, `UPDATE log_sources SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, formatTime(at), id)
	if err != nil {
		return fmt.Errorf("revoke source: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No source %q.", id)
	}
	return nil
}
