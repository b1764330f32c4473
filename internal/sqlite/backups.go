package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"
)

// BackupCatalog stores the backup catalog in SQLite.
type BackupCatalog struct {
	db *DB
}

var _ slokeeper.BackupCatalog = (*BackupCatalog)(nil)

// NewBackupCatalog returns a BackupCatalog on db.
func NewBackupCatalog(db *DB) *BackupCatalog { return &BackupCatalog{db: db} }

// AddBackup records a backup.
func (c *BackupCatalog) AddBackup(ctx context.Context, b *slokeeper.BackupRecord) error {
	_, err := c.db.write.ExecContext(ctx, `INSERT INTO backups (id, class, account, day, checksum, records, created_at, verified_at, erased_at, manifest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.Class, b.Account, b.Day, b.Checksum, b.Records, formatTime(b.Created), nullTime(b.VerifiedAt), nullTime(b.ErasedAt), b.Manifest)
	if err != nil {
		return fmt.Errorf("add backup: %w", interpretError(err))
	}
	return nil
}

// FindBackups returns matching backups by class, day and creation.
func (c *BackupCatalog) FindBackups(ctx context.Context, f slokeeper.BackupFilter) ([]*slokeeper.BackupRecord, error) {
	where := sqlbuild.Question().Eq("id", f.ID).Eq("class", f.Class).Eq("account", f.Account).Eq("day", f.Day)
	if !f.IncludeErased {
		where.Raw("erased_at IS NULL")
	}
	manifest := "manifest"
	if f.SkipManifest {
		manifest = "NULL"
	}
	rows, err := c.db.read.QueryContext(ctx, `SELECT id, class, account, day, checksum, records, created_at, verified_at, erased_at, `+manifest+` FROM backups
		WHERE `+where.String()+` ORDER BY class, account, day, created_at, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find backups: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.BackupRecord
	for rows.Next() {
		var b slokeeper.BackupRecord
		var created string
		var verified, erased sql.NullString
		if err := rows.Scan(&b.ID, &b.Class, &b.Account, &b.Day, &b.Checksum, &b.Records, &created, &verified, &erased, &b.Manifest); err != nil {
			return nil, fmt.Errorf("find backups: %w", err)
		}
		if b.Created, err = parseTime(created); err != nil {
			return nil, err
		}
		if b.VerifiedAt, err = scanNullTime(verified); err != nil {
			return nil, err
		}
		if b.ErasedAt, err = scanNullTime(erased); err != nil {
			return nil, err
		}
		out = append(out, &b)
	}
	return out, rows.Err()
}

func (c *BackupCatalog) mark(ctx context.Context, col, id string, at time.Time) error {
	res, err := c.db.write.ExecContext(ctx, `UPDATE backups SET `+col+` = ? WHERE id = ?`, formatTime(at), id)
	if err != nil {
		return fmt.Errorf("mark backup: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
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
