package postgres

import (
	"context"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"

	"github.com/jackc/pgx/v5"
)

// BackupCatalog stores the backup catalog in PostgreSQL.
type BackupCatalog struct {
	db *DB
}

var _ slokeeper.BackupCatalog = (*BackupCatalog)(nil)

// NewBackupCatalog returns a BackupCatalog on db.
func NewBackupCatalog(db *DB) *BackupCatalog { return &BackupCatalog{db: db} }

// AddBackup records a backup.
func (c *BackupCatalog) AddBackup(ctx context.Context, b *slokeeper.BackupRecord) error {
	_, err := c.db.pool.Exec(ctx, `INSERT INTO backups (id, class, account, day, checksum, records, created_at, verified_at, erased_at, manifest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		b.ID, b.Class, b.Account, b.Day, b.Checksum, b.Records, b.Created, nullTime(b.VerifiedAt), nullTime(b.ErasedAt), b.Manifest)
	if err != nil {
		return fmt.Errorf("add backup: %w", interpretError(err))
	}
	return nil
}

// FindBackups returns matching backups by class, day and creation.
func (c *BackupCatalog) FindBackups(ctx context.Context, f slokeeper.BackupFilter) ([]*slokeeper.BackupRecord, error) {
	where := sqlbuild.Dollar().Eq("id", f.ID).Eq("class", f.Class).Eq("account", f.Account).Eq("day", f.Day)
	if !f.IncludeErased {
		where.Raw("erased_at IS NULL")
	}
	manifest := "manifest"
	if f.SkipManifest {
		manifest = "NULL"
	}
	rows, err := c.db.pool.Query(ctx, `SELECT id, class, account, day, checksum, records, created_at, verified_at, erased_at, `+manifest+` FROM backups
		WHERE `+where.String()+` ORDER BY class, account, day, created_at, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find backups: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.BackupRecord, error) {
		var b slokeeper.BackupRecord
		var verified, erased *time.Time
		err := row.Scan(&b.ID, &b.Class, &b.Account, &b.Day, &b.Checksum, &b.Records, &b.Created, &verified, &erased, &b.Manifest)
		b.Created, b.VerifiedAt, b.ErasedAt = b.Created.UTC(), fromNull(verified), fromNull(erased)
		return &b, err
	})
	if err != nil {
		return nil, fmt.Errorf("find backups: %w", err)
	}
	return out, nil
}

func (c *BackupCatalog) mark(ctx context.Context, col, id string, at time.Time) error {
	tag, err := c.db.pool.Exec(ctx, `UPDATE backups SET `+col+` = $1 WHERE id = $2`, at, id)
	if err != nil {
		return fmt.Errorf("mark backup: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No backup %q.", id)
	}
	return nil
}

// MarkBackupVerified records a successful verification.
func (c *BackupCatalog) MarkBackupVerified(ctx context.Context, id string, at time.Time) error {
	return c.mark(ctx, "verified_at", id, at)
}

// MarkBackupErased records that a backup was erased.
func (c *BackupCatalog) MarkBackupErased(ctx context.Context, id string, at time.Time) error {
	return c.mark(ctx, "erased_at", id, at)
}
