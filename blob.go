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
	// Delete removes an object, and every version of it the target keeps
	// where the target allows; deleting a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// Purge deletes an object and every version of it the target keeps,
	// as far as the target allows, and says what it did and what is left;
	// a missing object is not an error.
	Purge(ctx context.Context, key string) (BlobPurge, error)
	// Protection reports what the target keeps of deleted objects: its
	// versioning and object lock.
	Protection(ctx context.Context) (BlobProtection, error)
	// RemoveLeftovers removes what Puts that never ended (a process
	// killed mid-way) left behind and last wrote before before: a
	// directory's temporary files, an object store's incomplete multipart
	// uploads. A Put under way writes after any bound in the past, so a
	// bound well behind now leaves it be. It returns what it removed, by key.
	RemoveLeftovers(ctx context.Context, before time.Time) ([]BlobInfo, error)
}

// BlobPurge says what purging an object did on its target.
type BlobPurge struct {
	// Deleted is how many copies were deleted: on a versioned target every
	// version and delete marker, on a directory the one file.
	Deleted int
	// Kept is how many versions the target refused to delete (object lock).
	Kept int
	// LockedUntil is the latest retain-until date of the versions kept,
	// when the target says; zero if unknown or none kept.
	LockedUntil time.Time
}

// BlobProtection is what a target keeps of what is deleted: versions of
// overwritten and deleted objects, and object-lock retention that forbids
// deleting them for a while.
type BlobProtection struct {
	Versioning bool   // the target keeps old versions (enabled, or suspended with some left)
	ObjectLock bool   // the bucket has object lock
	LockMode   string // GOVERNANCE or COMPLIANCE, of the default retention
	// LockDays is the default retention every new object gets, in days (a
	// retention in years counts 365 days a year, as S3 does); 0 for none.
	LockDays int
}
