package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"slokeeper"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// KeyStore is the key store on PostgreSQL, for several nodes: a database
// of its own (never the one whose backups hold account data), replicated as
// the operator replicates it, current state only.
type KeyStore struct {
	pool *pgxpool.Pool
}

var _ slokeeper.KeyStore = (*KeyStore)(nil)

// OpenKeyStore connects to the key store database and creates its table.
func OpenKeyStore(ctx context.Context, dsn string) (*KeyStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The key store's PostgreSQL connection string is malformed.")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("key store at %s: %w", Redact(cfg.ConnConfig), err)
	}
	// The key store's tables; they need no migration history of their own
	// (each is created if missing). backup_keys: one key per backup, its
	// account's for a snapshot (wrapped by that account's key), '' for a
	// log backup (wrapped by the master key).
	for _, ddl := range []string{`CREATE TABLE IF NOT EXISTS account_keys (
		account    text PRIMARY KEY,
		wrapped    bytea NOT NULL,
		updated_at timestamptz NOT NULL)`, `CREATE TABLE IF NOT EXISTS backup_keys (
		backup     text PRIMARY KEY,
		account    text NOT NULL,
		wrapped    bytea NOT NULL,
		created_at timestamptz NOT NULL)`} {
		if _, err := pool.Exec(ctx, ddl); err != nil {
			pool.Close()
			return nil, fmt.Errorf("key store at %s: %w", Redact(cfg.ConnConfig), err)
		}
	}
	return &KeyStore{pool: pool}, nil
}

// Close closes the pool.
func (s *KeyStore) Close() error { s.pool.Close(); return nil }

// CreateAccountKey stores an account's first wrapped keyset.
func (s *KeyStore) CreateAccountKey(ctx context.Context, account string, wrapped []byte) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO account_keys (account, wrapped, updated_at) VALUES ($1, $2, $3)`, account, wrapped, time.Now()); err != nil {
		return fmt.Errorf("create account key: %w", interpretError(err))
	}
	return nil
}

// SwapAccountKey replaces old with new if the account's keyset is still old.
func (s *KeyStore) SwapAccountKey(ctx context.Context, account string, old, new []byte) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE account_keys SET wrapped = $1, updated_at = $2 WHERE account = $3 AND wrapped = $4`, new, time.Now(), account, old)
	if err != nil {
		return false, fmt.Errorf("swap account key: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// GetAccountKey returns an account's wrapped keyset.
func (s *KeyStore) GetAccountKey(ctx context.Context, account string) ([]byte, error) {
	var wrapped []byte
	err := s.pool.QueryRow(ctx, `SELECT wrapped FROM account_keys WHERE account = $1`, account).Scan(&wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "Account %q has no key.", account)
	} else if err != nil {
		return nil, fmt.Errorf("get account key: %w", err)
	}
	return wrapped, nil
}

// DeleteAccountKey destroys an account's key. PostgreSQL keeps a deleted
// row's bytes in the table's pages until they are reused; VACUUM FULL
// rewrites the (small) table into new files and drops the old ones.
func (s *KeyStore) DeleteAccountKey(ctx context.Context, account string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM account_keys WHERE account = $1`, account)
	if err != nil {
		return fmt.Errorf("delete account key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "Account %q has no key.", account)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM FULL account_keys`); err != nil {
		return fmt.Errorf("delete account key: vacuum: %w", err)
	}
	return nil
}

// AccountKeys lists the accounts that have a key.
func (s *KeyStore) AccountKeys(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT account FROM account_keys ORDER BY account`)
	if err != nil {
		return nil, fmt.Errorf("account keys: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// CreateBackupKey stores a backup's wrapped key.
func (s *KeyStore) CreateBackupKey(ctx context.Context, backup, account string, wrapped []byte) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO backup_keys (backup, account, wrapped, created_at) VALUES ($1, $2, $3, $4)`, backup, account, wrapped, time.Now()); err != nil {
		return fmt.Errorf("create backup key: %w", interpretError(err))
	}
	return nil
}

// GetBackupKey returns a backup's wrapped key.
func (s *KeyStore) GetBackupKey(ctx context.Context, backup string) ([]byte, error) {
	var wrapped []byte
	err := s.pool.QueryRow(ctx, `SELECT wrapped FROM backup_keys WHERE backup = $1`, backup).Scan(&wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "Backup %q has no key.", backup)
	} else if err != nil {
		return nil, fmt.Errorf("get backup key: %w", err)
	}
	return wrapped, nil
}

// DeleteBackupKey destroys a backup's key, as DeleteAccountKey does: the
// row deleted, then VACUUM FULL rewrites the table into new files.
func (s *KeyStore) DeleteBackupKey(ctx context.Context, backup string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM backup_keys WHERE backup = $1`, backup)
	if err != nil {
		return fmt.Errorf("delete backup key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "Backup %q has no key.", backup)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM FULL backup_keys`); err != nil {
		return fmt.Errorf("delete backup key: vacuum: %w", err)
	}
	return nil
}

// BackupKeys lists the backups that have a key.
func (s *KeyStore) BackupKeys(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT backup FROM backup_keys ORDER BY backup`)
	if err != nil {
		return nil, fmt.Errorf("backup keys: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// LockRotation takes a session advisory lock on a connection of its own,
// so every node on this key store waits for the one rotating. The lock is
// keyed by the schema, so key stores in other schemas do not wait; it
// goes with its connection when the process dies.
func (s *KeyStore) LockRotation(ctx context.Context) (func(), error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("rotation lock: %w", err)
	}
	const key = `hashtext(current_schema() || '.account_keys: master key rotation')`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		conn.Release()
		return nil, fmt.Errorf("rotation lock: %w", err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
			// Unsure whether the lock is still held: close the
			// connection, which drops it, rather than return it to the pool.
			conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}
