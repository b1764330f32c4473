package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"slokeeper"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PassLock is the cluster's lifecycle-pass lock: a session advisory lock
// on a connection of its own, keyed by the schema, so every node on this
// database runs passes one at a time. The lock goes with its connection:
// a holder that dies, or whose connection the database drops, holds it no
// more, and Check says so before the pass's next action.
type PassLock struct {
	db *DB
	// Poll is how often a waiting LockPass tries again. Default 200 ms.
	Poll time.Duration
}

var _ slokeeper.PassLock = (*PassLock)(nil)

// NewPassLock returns the pass lock of db's schema.
func NewPassLock(db *DB) *PassLock { return &PassLock{db: db, Poll: 200 * time.Millisecond} }

const passLockKey = `hashtext(current_schema() || '.lifecycle_pass')`

// passLockHeldBy is true when the session whose process ID is the
// argument holds the pass lock: a bigint advisory key is split into
// classid (high half) and objid (low half) in pg_locks, objsubid 1.
func passLockHeldBy(pid string) string {
	return `EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid::bigint = ((` + passLockKey + `::bigint >> 32) & 4294967295)
		AND objid::bigint = (` + passLockKey + `::bigint & 4294967295) AND pid = ` + pid + `)`
}

// LockPass takes the lock, waiting up to wait for the holder.
func (l *PassLock) LockPass(ctx context.Context, node string, started time.Time, wait time.Duration) (slokeeper.PassLease, error) {
	conn, err := l.db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("lifecycle pass lock: %w", err)
	}
	fail := func(err error) (slokeeper.PassLease, error) {
		conn.Conn().Close(context.WithoutCancel(ctx)) // unsure what the session holds: drop it
		conn.Release()
		return nil, err
	}
	giveUp := time.Now().Add(wait)
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+passLockKey+`)`).Scan(&got); err != nil {
			return fail(fmt.Errorf("lifecycle pass lock: %w", err))
		}
		if got {
			break
		}
		if !time.Now().Before(giveUp) {
			holder, live, err := l.holder(ctx, conn)
			conn.Release()
			if err != nil {
				return nil, err
			}
			if !live {
				holder = slokeeper.PassHolder{} // a dead holder's row: the live one has not recorded itself yet
			}
			return nil, &slokeeper.PassBusyError{Holder: holder}
		}
		t := time.NewTimer(min(l.Poll, time.Until(giveUp)))
		select {
		case <-ctx.Done():
			t.Stop()
			conn.Release()
			return nil, fmt.Errorf("lifecycle pass lock: %w", ctx.Err())
		case <-t.C:
		}
	}
	// A row left by a holder that died is stale: its lock went with it.
	stale, _, err := l.holder(ctx, conn)
	if err != nil {
		return fail(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO lifecycle_pass (id, node, started_at, backend_pid) VALUES (1, $1, $2, pg_backend_pid())
		ON CONFLICT (id) DO UPDATE SET node = excluded.node, started_at = excluded.started_at, backend_pid = excluded.backend_pid`, node, started); err != nil {
		return fail(fmt.Errorf("lifecycle pass lock: record the holder: %w", err))
	}
	return &pgLease{conn: conn, stale: stale}, nil
}

// holder returns the recorded holder, and whether its session holds the
// lock (live) or died with it (a stale row).
func (l *PassLock) holder(ctx context.Context, conn *pgxpool.Conn) (h slokeeper.PassHolder, live bool, err error) {
	err = conn.QueryRow(ctx, `SELECT node, started_at, `+passLockHeldBy("backend_pid")+` FROM lifecycle_pass WHERE id = 1`).Scan(&h.Node, &h.Started, &live)
	if errors.Is(err, pgx.ErrNoRows) {
		return slokeeper.PassHolder{}, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("lifecycle pass lock: the holder: %w", err)
	}
	h.Started = h.Started.UTC()
	return h, live, nil
}

type pgLease struct {
	mu    sync.Mutex // a connection serves one query at a time
	conn  *pgxpool.Conn
	stale slokeeper.PassHolder
}

// checkTimeout bounds Check: a database that does not answer is one the
// lock may be lost to.
const checkTimeout = 10 * time.Second

// Check asks the lock's own session whether it still holds the lock: a
// session that is gone (terminated, the connection cut) cannot.
func (l *pgLease) Check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var held bool
	err := l.conn.QueryRow(ctx, `SELECT `+passLockHeldBy("pg_backend_pid()")).Scan(&held)
	if err != nil {
		return fmt.Errorf("the lifecycle pass lock's database connection is lost: %w", err)
	}
	if !held {
		return errors.New("the lifecycle pass lock is no longer held")
	}
	return nil
}

func (l *pgLease) Stale() slokeeper.PassHolder { return l.stale }

// Release clears the holder's row and unlocks; if either fails, it closes
// the connection, which drops the lock, rather than return it to the pool.
func (l *pgLease) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := l.conn.Exec(ctx, `DELETE FROM lifecycle_pass WHERE id = 1 AND backend_pid = pg_backend_pid()`)
	if err == nil {
		_, err = l.conn.Exec(ctx, `SELECT pg_advisory_unlock(`+passLockKey+`)`)
	}
	if err != nil {
		l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
}
