package postgres

import (
	"context"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"

	"github.com/jackc/pgx/v5"
)

// LogCatalog stores the log store's partition catalog in PostgreSQL.
type LogCatalog struct {
	db *DB
}

var _ slokeeper.LogCatalog = (*LogCatalog)(nil)

// NewLogCatalog returns a LogCatalog on db.
func NewLogCatalog(db *DB) *LogCatalog { return &LogCatalog{db: db} }

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// UpsertLogPartition inserts or updates the partition with p's class and day.
func (c *LogCatalog) UpsertLogPartition(ctx context.Context, p *slokeeper.LogPartition) error {
	_, err := c.db.pool.Exec(ctx, `
		INSERT INTO log_partitions (class, day, records, bytes, sealed, checksum, min_received, max_received, sealed_at)
		VALUES ($1, $2::date, $3, $4, $5, $6, $7, $8, $9)
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
	where := sqlbuild.Dollar().Eq("class", f.Class)
	if f.Day != "" {
		where.Add("day = ?::date", f.Day)
	}
	if f.Sealed != nil {
		where.Add("sealed = ?", *f.Sealed)
	}
	rows, err := c.db.pool.Query(ctx, `
		SELECT class, to_char(day, 'YYYY-MM-DD'), records, bytes, sealed, checksum, min_received, max_received, sealed_at
		FROM log_partitions WHERE `+where.String()+` ORDER BY class, day`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find log partitions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.LogPartition, error) {
		var p slokeeper.LogPartition
		var minR, maxR, sealedAt *time.Time
		if err := row.Scan(&p.Class, &p.Day, &p.Records, &p.Bytes, &p.Sealed, &p.Checksum, &minR, &maxR, &sealedAt); err != nil {
			return nil, err
		}
		p.MinReceived, p.MaxReceived, p.SealedAt = fromNull(minR), fromNull(maxR), fromNull(sealedAt)
		return &p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("find log partitions: %w", err)
	}
	return out, nil
}

// DeleteLogPartition removes a partition's entry.
func (c *LogCatalog) DeleteLogPartition(ctx context.Context, class, day string) error {
	tag, err := c.db.pool.Exec(ctx, `DELETE FROM log_partitions WHERE class = $1 AND day = $2::date`, class, day)
	if err != nil {
		return fmt.Errorf("delete log partition: %w", interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No log partition %s/%s.", class, day)
	}
	return nil
}

// SourceService stores log sources in PostgreSQL.
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
	_, err := s.db.pool.Exec(ctx, `
		INSERT INTO log_sources (id, account, kind, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		src.ID, src.Account, src.Kind, src.Name, src.TokenHash, src.CreatedAt)
	if err != nil {
		return fmt.Errorf("create source: %w", interpretError(err))
	}
	return nil
}

const sourceColumns = `id, account, kind, name, token_hash, created_at, revoked_at`

func scanSource(row pgx.CollectableRow) (*slokeeper.Source, error) {
	var src slokeeper.Source
	var revoked *time.Time
	if err := row.Scan(&src.ID, &src.Account, &src.Kind, &src.Name, &src.TokenHash, &src.CreatedAt, &revoked); err != nil {
		return nil, err
	}
	src.CreatedAt, src.RevokedAt = src.CreatedAt.UTC(), fromNull(revoked)
	return &src, nil
}

// FindSources returns matching sources by ID.
func (s *SourceService) FindSources(ctx context.Context, f slokeeper.SourceFilter) ([]*slokeeper.Source, error) {
	where := sqlbuild.Dollar().Eq("id", f.ID).Eq("account", f.Account)
	if !f.IncludeRevoked {
		where.Raw("revoked_at IS NULL")
	}
	rows, err := s.db.pool.Query(ctx, `SELECT `+sourceColumns+` FROM log_sources WHERE `+where.String()+` ORDER BY id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find sources: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanSource)
	if err != nil {
		return nil, fmt.Errorf("find sources: %w", err)
	}
	return out, nil
}

// FindSourceByTokenHash returns the live source with that token hash.
func (s *SourceService) FindSourceByTokenHash(ctx context.Context, hash []byte) (*slokeeper.Source, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+sourceColumns+` FROM log_sources WHERE token_hash = $1 AND revoked_at IS NULL`, hash)
	if err != nil {
		return nil, fmt.Errorf("find source: %w", err)
	}
	src, err := pgx.CollectExactlyOneRow(rows, scanSource)
	if err != nil {
		return nil, interpretError(err)
	}
	return src, nil
}

// RevokeSource revokes the source; revoking twice keeps the first time.
func (s *SourceService) RevokeSource(ctx context.Context, id string, at time.Time) error {
	tag, err := s.db.pool.Exec(ctx, `UPDATE log_sources SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, at, id)
	if err != nil {
		return fmt.Errorf("revoke source: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No source %q.", id)
	}
	return nil
}
