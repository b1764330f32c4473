// Package sqlite is slokeeper's storage on SQLite, the embedded default: a
// single database file in the data directory, written through one
// connection and read through a pool, with embedded migrations.
//
// Several processes may open the same file at once (a server and the CLI's
// administration commands): writes take SQLite's write lock at BEGIN and
// wait for it up to the busy timeout.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"slokeeper"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// timeFormat stores times as fixed-width UTC text so that text order is
// time order.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// DB is an open slokeeper SQLite database.
type DB struct {
	path  string
	write *sql.DB // exactly one connection: SQLite has one writer anyway
	read  *sql.DB // readers never block the writer in WAL mode
}

// Open opens (creating if needed) the database file at path and applies
// pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	// Each pragma is set on every new connection:
	//   busy_timeout(10000): wait up to 10 s for another process's lock
	//     instead of failing at once with SQLITE_BUSY.
	//   foreign_keys(1): enforce references; SQLite defaults to off.
	//   synchronous(FULL): fsync the WAL at every commit, so what slokeeper
	//     acknowledged (evidence, catalog entries) survives a power loss.
	const pragmas = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	if strings.ContainsAny(path, "?#") {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The database path %q must not contain ? or #.", path)
	}
	// Create the file owner-only before SQLite creates it world-readable;
	// its WAL and shared-memory files take the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f.Close()
	// _txlock=immediate: a write transaction takes the write lock at BEGIN.
	// A deferred one would take it at its first write and fail with
	// SQLITE_BUSY, without waiting, if another writer got there first.
	write, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	// query_only(1): the read pool can never write by mistake.
	read, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	db := &DB{path: path, write: write, read: read}
	if err := db.ensureWAL(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// ensureWAL puts the database in WAL mode, so readers and the writer do
// not block each other. The mode is stored in the file, so this is done
// once here rather than by every connection: switching a new file to WAL
// can fail with SQLITE_BUSY without waiting when another process does the
// same, so it is retried for up to about 10 s.
func (db *DB) ensureWAL(ctx context.Context) error {
	return retryBusy(ctx, func() error {
		var mode string
		if err := db.write.QueryRowContext(ctx, `PRAGMA journal_mode=WAL`).Scan(&mode); err != nil {
			return err
		}
		if mode != "wal" {
			return fmt.Errorf("journal mode is %q, not wal", mode)
		}
		return nil
	})
}

// retryBusy runs f until it does not fail with SQLITE_BUSY, for up to
// about 10 s: for the few statements SQLite fails at once, without its
// busy handler, when another process holds a lock.
func retryBusy(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || attempt >= 1000 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close closes the database.
func (db *DB) Close() error {
	return errors.Join(db.read.Close(), db.write.Close())
}

// Writer returns the single write connection pool, for components that
// share the database (the job queue). Holding a transaction on it blocks
// every other writer of this process.
func (db *DB) Writer() *sql.DB { return db.write }

// Engine returns "sqlite".
func (db *DB) Engine() string { return "sqlite" }

// Ready reports whether the database answers and every migration this
// build knows is applied.
func (db *DB) Ready(ctx context.Context) error {
	names, err := migrationNames()
	if err != nil {
		return err
	}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations`).Scan(&n); err != nil {
		return slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The database does not answer.")
	}
	if n < len(names) {
		return slokeeper.Errorf(slokeeper.EUNAVAILABLE, "%d of %d database migrations are applied.", n, len(names))
	}
	return nil
}

func migrationNames() ([]string, error) {
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// migrate applies each pending migration in its own transaction, recorded
// by name. Transactions are immediate, so two processes starting together
// apply each migration once.
func (db *DB) migrate(ctx context.Context) error {
	// In an immediate transaction, like every migration: as a lone
	// statement it would read the schema, then upgrade to a write, and fail
	// at once with SQLITE_BUSY (no waiting) if another process had written
	// in between.
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		tx.Rollback()
		return fmt.Errorf("create migrations table: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	names, err := migrationNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := db.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) migrateFile(ctx context.Context, name string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, name, time.Now().UTC().Format(timeFormat)); err != nil {
		return err
	}
	return tx.Commit()
}

// interpretError translates driver errors into domain errors, once, here.
func interpretError(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "Not found.")
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return slokeeper.Errorf(slokeeper.ECONFLICT, "It already exists.")
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return slokeeper.Errorf(slokeeper.EINVALID, "It refers to something that does not exist.")
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return slokeeper.Errorf(slokeeper.EINVALID, "The value is not allowed: %s.", strings.TrimPrefix(se.Error(), "constraint failed: "))
		}
	}
	return err
}

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}
