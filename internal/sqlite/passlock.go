package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"slokeeper"
	"slokeeper/internal/flock"
)

// PassLock is the lifecycle-pass lock of an SQLite deployment: an
// exclusive file lock beside the database (DB.lifecycle-lock). An SQLite
// database lives on one host's disk, so the OS lock serializes every
// process that can open it, and the kernel drops it when its holder dies.
// The holder is recorded in the database, for the message a second pass
// gets.
type PassLock struct {
	db *DB
}

var _ slokeeper.PassLock = (*PassLock)(nil)

// NewPassLock returns the pass lock of db.
func NewPassLock(db *DB) *PassLock { return &PassLock{db: db} }

// LockPass takes the lock, waiting up to wait for the holder.
func (l *PassLock) LockPass(ctx context.Context, node string, started time.Time, wait time.Duration) (slokeeper.PassLease, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	unlock, err := flock.Wait(wctx, l.db.path+".lifecycle-lock")
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			h, herr := l.holder(ctx)
			if herr != nil {
				return nil, herr
			}
			return nil, &slokeeper.PassBusyError{Holder: h}
		}
		return nil, fmt.Errorf("lifecycle pass lock: %w", err)
	}
	stale, err := l.holder(ctx)
	if err == nil {
		_, err = l.db.write.ExecContext(ctx, `INSERT INTO lifecycle_pass (id, node, started_at, backend_pid) VALUES (1, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET node = excluded.node, started_at = excluded.started_at, backend_pid = excluded.backend_pid`,
			node, formatTime(started), os.Getpid())
	}
	if err != nil {
		unlock()
		return nil, fmt.Errorf("lifecycle pass lock: record the holder: %w", err)
	}
	return &fileLease{db: l.db, unlock: unlock, stale: stale}, nil
}

func (l *PassLock) holder(ctx context.Context) (slokeeper.PassHolder, error) {
	var h slokeeper.PassHolder
	var started string
	err := l.db.read.QueryRowContext(ctx, `SELECT node, started_at FROM lifecycle_pass WHERE id = 1`).Scan(&h.Node, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return slokeeper.PassHolder{}, nil
	}
	if err == nil {
		h.Started, err = parseTime(started)
	}
	if err != nil {
		return h, fmt.Errorf("lifecycle pass lock: the holder: %w", err)
	}
	return h, nil
}

type fileLease struct {
	db     *DB
	unlock func()
	stale  slokeeper.PassHolder
}

// Check: a file lock is held until released or its process dies.
func (l *fileLease) Check(context.Context) error { return nil }

func (l *fileLease) Stale() slokeeper.PassHolder { return l.stale }

// Release clears the holder's row and drops the file lock.
func (l *fileLease) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.db.write.ExecContext(ctx, `DELETE FROM lifecycle_pass WHERE id = 1 AND backend_pid = ?`, os.Getpid())
	l.unlock()
}
