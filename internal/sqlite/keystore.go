package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/internal/flock"
)

// KeyStore is the key store on SQLite: a database file of its own
// (keys.db), never the one backups copy.
type KeyStore struct {
	db   *sql.DB
	path string
}

var _ slokeeper.KeyStore = (*KeyStore)(nil)

// OpenKeyStore opens (creating, 0600) the key store file at path.
func OpenKeyStore(ctx context.Context, path string) (*KeyStore, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The key store path %q must not contain ? or #.", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open key store: %w", err)
	}
	f.Close()
	// secure_delete(1): a deleted key is overwritten with zeros in the
	// file, not left in a free page. synchronous(FULL): a destroyed or new
	// key is durable when the call returns.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=secure_delete(1)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open key store: %w", err)
	}
	db.SetMaxOpenConns(1)
	s := &KeyStore{db: db, path: path}
	if err := retryBusy(ctx, func() error {
		_, err := db.ExecContext(ctx, `PRAGMA journal_mode=WAL`)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open key store: %w", err)
	}
	// The key store's tables; they need no migration history of their own
	// (each is created if missing). backup_keys: one key per backup, its
	// account's for a snapshot (wrapped by that account's key), "" for a
	// log backup (wrapped by the master key).
	for _, ddl := range []string{`CREATE TABLE IF NOT EXISTS account_keys (
		account    TEXT PRIMARY KEY,
		wrapped    BLOB NOT NULL,
		updated_at TEXT NOT NULL)`, `CREATE TABLE IF NOT EXISTS backup_keys (
		backup     TEXT PRIMARY KEY,
		account    TEXT NOT NULL,
		wrapped    BLOB NOT NULL,
		created_at TEXT NOT NULL)`} {
		if _, err := db.ExecContext(ctx, ddl); err != nil {
			db.Close()
			return nil, fmt.Errorf("open key store: %w", err)
		}
	}
	return s, nil
}

// Close closes the key store.
func (s *KeyStore) Close() error { return s.db.Close() }

// CreateAccountKey stores an account's first wrapped keyset.
func (s *KeyStore) CreateAccountKey(ctx context.Context, account string, wrapped []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO account_keys (account, wrapped, updated_at) VALUES (?, ?, ?)`,
		account, wrapped, formatTime(time.Now()))
	if err != nil {
		return fmt.Errorf("create account key: %w", interpretError(err))
	}
	return nil
}

// SwapAccountKey replaces old with new if the account's keyset is still old.
func (s *KeyStore) SwapAccountKey(ctx context.Context, account string, old, new []byte) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE account_keys SET wrapped = ?, updated_at = ? WHERE account = ? AND wrapped = ?`,
		new, formatTime(time.Now()), account, old)
	if err != nil {
		return false, fmt.Errorf("swap account key: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// GetAccountKey returns an account's wrapped keyset.
func (s *KeyStore) GetAccountKey(ctx context.Context, account string) ([]byte, error) {
	var wrapped []byte
	err := s.db.QueryRowContext(ctx, `SELECT wrapped FROM account_keys WHERE account = ?`, account).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "Account %q has no key.", account)
	} else if err != nil {
		return nil, fmt.Errorf("get account key: %w", err)
	}
	return wrapped, nil
}

// DeleteAccountKey destroys an account's key. secure_delete zeroes the row
// in the database file; checkpointing the WAL and truncating it removes the
// last copy of the page that held it.
func (s *KeyStore) DeleteAccountKey(ctx context.Context, account string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM account_keys WHERE account = ?`, account)
	if err != nil {
		return fmt.Errorf("delete account key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "Account %q has no key.", account)
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("delete account key: checkpoint: %w", err)
	}
	return nil
}

// AccountKeys lists the accounts that have a key.
func (s *KeyStore) AccountKeys(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT account FROM account_keys ORDER BY account`)
	if err != nil {
		return nil, fmt.Errorf("account keys: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// CreateBackupKey stores a backup's wrapped key.
func (s *KeyStore) CreateBackupKey(ctx context.Context, backup, account string, wrapped []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO backup_keys (backup, account, wrapped, created_at) VALUES (?, ?, ?, ?)`,
		backup, account, wrapped, formatTime(time.Now()))
	if err != nil {
		return fmt.Errorf("create backup key: %w", interpretError(err))
	}
	return nil
}

// GetBackupKey returns a backup's wrapped key.
func (s *KeyStore) GetBackupKey(ctx context.Context, backup string) ([]byte, error) {
	var wrapped []byte
	err := s.db.QueryRowContext(ctx, `SELECT wrapped FROM backup_keys WHERE backup = ?`, backup).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "Backup %q has no key.", backup)
	} else if err != nil {
		return nil, fmt.Errorf("get backup key: %w", err)
	}
	return wrapped, nil
}

// DeleteBackupKey destroys a backup's key, as DeleteAccountKey does: the
// row zeroed in the file (secure_delete), the WAL checkpointed and
// truncated.
func (s *KeyStore) DeleteBackupKey(ctx context.Context, backup string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM backup_keys WHERE backup = ?`, backup)
	if err != nil {
		return fmt.Errorf("delete backup key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "Backup %q has no key.", backup)
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("delete backup key: checkpoint: %w", err)
	}
	return nil
}

// BackupKeys lists the backups that have a key.
func (s *KeyStore) BackupKeys(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT backup FROM backup_keys ORDER BY backup`)
	if err != nil {
		return nil, fmt.Errorf("backup keys: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// LockRotation takes an exclusive flock on a file beside the key store
// (keys.db.rotation-lock). A SQLite key store lives on one host's disk, so
// an OS lock serializes every process that can open it; the kernel drops
// the lock when its holder dies. A write transaction held as the lock
// would also block the rotation's own writes and the server's new keys.
func (s *KeyStore) LockRotation(ctx context.Context) (func(), error) {
	return flock.Wait(ctx, s.path+".rotation-lock")
}
