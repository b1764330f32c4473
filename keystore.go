package slokeeper

import "context"

// KeyStore keeps each account's data key, wrapped by the master key, and
// each backup's key, so that erasing a backup destroys its key and leaves
// whatever copy of it a target keeps unreadable. It
// lives apart from the data that backups copy: crypto-shredding works only
// if destroying an account's key here leaves no copy of it anywhere else.
type KeyStore interface {
	// CreateAccountKey stores an account's first wrapped keyset; ECONFLICT
	// if the account has one.
	CreateAccountKey(ctx context.Context, account string, wrapped []byte) error
	// SwapAccountKey replaces old with new, only if the account's keyset is
	// still old: a key destroyed meanwhile is never brought back. It
	// reports whether it swapped.
	SwapAccountKey(ctx context.Context, account string, old, new []byte) (bool, error)
	// GetAccountKey returns an account's wrapped keyset; ENOTFOUND if none
	// (never created, or destroyed).
	GetAccountKey(ctx context.Context, account string) ([]byte, error)
	// DeleteAccountKey destroys an account's key, leaving no trace of it in
	// the store's files; ENOTFOUND if none.
	DeleteAccountKey(ctx context.Context, account string) error
	// AccountKeys lists the accounts that have a key.
	AccountKeys(ctx context.Context) ([]string, error)
	// CreateBackupKey stores the wrapped key of one backup (a log
	// backup's wrapped by the master key, an account snapshot's by the
	// account's key, account names it then, else ""); ECONFLICT if
	// the backup has one.
	CreateBackupKey(ctx context.Context, backup, account string, wrapped []byte) error
	// GetBackupKey returns a backup's wrapped key; ENOTFOUND if none
	// (never stored, or destroyed when the backup was erased).
	GetBackupKey(ctx context.Context, backup string) ([]byte, error)
	// DeleteBackupKey destroys a backup's key, leaving no trace of it in
	// the store's files; ENOTFOUND if none.
	DeleteBackupKey(ctx context.Context, backup string) error
	// BackupKeys lists the backups that have a key.
	BackupKeys(ctx context.Context) ([]string, error)
	// LockRotation takes the store's master-key rotation lock, waiting
	// for it until ctx ends, and returns its release. The lock holds
	// across processes and, where the store is shared, across nodes; it
	// is dropped by itself when its holder dies. Other calls go on while
	// it is held: it serializes rotations, nothing else.
	LockRotation(ctx context.Context) (unlock func(), err error)
}
