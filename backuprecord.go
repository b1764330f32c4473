package slokeeper

import (
	"context"
	"time"
)

// BackupRecord is a backup in the database catalog: what the lifecycle
// engine plans from. The manifest on the backup target is the source of
// truth; the catalog can be rebuilt from the target alone.
type BackupRecord struct {
	ID      string `json:"id"`
	Class   string `json:"class"`             // "system", "exec" or "user"
	Account string `json:"account,omitempty"` // user data: whose snapshot
	Day     string `json:"day"`
	// Checksum and Records name the content the backup holds, as its
	// manifest has them: the partition's sealed checksum and record count
	// (user data: the snapshot's). A backup covers a partition only while
	// they are the partition's own.
	Checksum   string    `json:"checksum"`
	Records    int64     `json:"records"`
	Created    time.Time `json:"created"`
	VerifiedAt time.Time `json:"verified_at,omitzero"` // only a verified backup counts
	ErasedAt   time.Time `json:"erased_at,omitzero"`
	Manifest   []byte    `json:"-"` // the manifest, as on the target
}

// BackupFilter selects backups. Zero fields do not filter.
type BackupFilter struct {
	ID            string
	Class         string
	Account       string
	Day           string
	IncludeErased bool
	SkipManifest  bool // leave Manifest out: what planning needs is in the columns
}

// BackupCatalog stores the backup catalog.
type BackupCatalog interface {
	// AddBackup records a backup; ECONFLICT if its ID is known.
	AddBackup(ctx context.Context, b *BackupRecord) error
	FindBackups(ctx context.Context, f BackupFilter) ([]*BackupRecord, error)
	MarkBackupVerified(ctx context.Context, id string, at time.Time) error
	MarkBackupErased(ctx context.Context, id string, at time.Time) error
}
