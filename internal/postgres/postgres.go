// Package postgres is slokeeper's storage on PostgreSQL, for several
// slokeeper nodes on one database. It owns its SQL and its embedded
// migrations; the tables live in the connection's search_path.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"slokeeper"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// migrationLock is the advisory lock key that serializes migrations between
// nodes starting at once ("slokeeper" in ASCII, as an int64).
const migrationLock = 0x736c6f6b65657065

// DB is an open slokeeper PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string; TLS as its sslmode says) and applies pending migrations.
func Open(ctx context.Context, dsn string) (*DB, error) { return OpenLogged(ctx, dsn, nil) }

// OpenLogged is Open, logging to logger the server each new connection
// reached (host:port, and whether it is a primary) whenever it differs
// from the last one: with a multi-host DSN the log says which server is in
// use at start and after a failover. nil logs nothing.
func OpenLogged(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included: never pass it on.
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The PostgreSQL connection string is malformed.")
	}
	if logger != nil {
		var last atomic.Value // the host:port the last new connection reached
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			host := c.PgConn().Conn().RemoteAddr().String()
			var standby bool
			if err := c.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil {
				return err
			}
			if prev, _ := last.Swap(host).(string); prev != host {
				if prev == "" {
					logger.Info("postgres: connected", "host", host, "primary", !standby)
				} else {
					logger.Warn("postgres: reconnected to another server", "host", host, "primary", !standby, "previous", prev)
				}
			} else {
				logger.Debug("postgres: new connection", "host", host, "primary", !standby)
			}
			return nil
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres at %s: %w", Redact(cfg.ConnConfig), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres at %s: %w", Redact(cfg.ConnConfig), err)
	}
	db := &DB{pool: pool}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Redact describes a connection without its password: user@host:port/db.
func Redact(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// Describe says where the database is, without credentials.
func (db *DB) Describe() string { return Redact(db.pool.Config().ConnConfig) }

// Close closes the pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Pool returns the connection pool, for components that share the
// database (the job queue).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Engine returns "postgres".
func (db *DB) Engine() string { return "postgres" }

// Ready reports whether the database answers and every migration this
// build knows is applied.
func (db *DB) Ready(ctx context.Context) error {
	names, err := migrationNames()
	if err != nil {
		return err
	}
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM slokeeper_migrations`).Scan(&n); err != nil {
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
// by name, under an advisory lock so that nodes starting together apply
// each migration once.
func (db *DB) migrate(ctx context.Context) error {
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
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS slokeeper_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM slokeeper_migrations WHERE name = $1`, name).Scan(&n); err != nil || n > 0 {
			return err
		}
		buf, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(buf)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO slokeeper_migrations (name) VALUES ($1)`, name)
		return err
	})
}

// SyncReplication says whether a commit waits for a standby, as the
// server the pool is connected to has it: synchronous_standby_names set
// and synchronous_commit on, remote_write or remote_apply. detail names
// both settings, for a person.
func (db *DB) SyncReplication(ctx context.Context) (inForce bool, detail string, err error) {
	var names, commit string
	if err := db.pool.QueryRow(ctx, `SELECT current_setting('synchronous_standby_names'), current_setting('synchronous_commit')`).Scan(&names, &commit); err != nil {
		return false, "", fmt.Errorf("read the replication settings: %w", err)
	}
	detail = fmt.Sprintf("synchronous_standby_names=%q synchronous_commit=%s", names, commit)
	switch commit {
	case "on", "remote_write", "remote_apply":
		return strings.TrimSpace(names) != "", detail, nil
	}
	return false, detail, nil
}

// interpretError translates driver errors into domain errors, once, here.
func interpretError(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "Not found.")
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return slokeeper.Errorf(slokeeper.ECONFLICT, "It already exists.")
		case "23503": // foreign_key_violation
			return slokeeper.Errorf(slokeeper.EINVALID, "It refers to something that does not exist.")
		case "23514", "23502": // check_violation, not_null_violation
			return slokeeper.Errorf(slokeeper.EINVALID, "The value is not allowed: %s.", pe.Message)
		}
	}
	return err
}
