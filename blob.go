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
}
