package slokeeper

import (
	"context"
	"io"
	"time"
)

// BlobInfo describes a stored object.
type BlobInfo struct {
	Key      string
	Size     int64
	Modified time.Time
}

// BlobStore is a backup target: a local directory or an S3-compatible
// object store.
type BlobStore interface {
	// Put stores r under key. The object appears whole or not at all, and
	// is durable when Put returns.
	Put(ctx context.Context, key string, r io.Reader) (BlobInfo, error)
	// Get opens an object; ENOTFOUND if there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes an object; ENOTFOUND if there is none.
	Stat(ctx context.Context, key string) (BlobInfo, error)
	// List returns the objects whose keys start with prefix, by key.
	List(ctx context.Context, prefix string) ([]BlobInfo, error)
	// Delete removes an object; deleting a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// RemoveLeftovers removes what Puts that never ended (a process
	// killed mid-way) left behind and last wrote before before: a
	// directory's temporary files, an object store's incomplete multipart
	// uploads. A Put under way writes after any bound in the past, so a
	// bound well behind now leaves it be. It returns what it removed, by key.
	RemoveLeftovers(ctx context.Context, before time.Time) ([]BlobInfo, error)
}
