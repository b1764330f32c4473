package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"slokeeper"
)

// DeleteOtherSessions signs an operator out everywhere but one session.
func (s *OperatorService) DeleteOtherSessions(ctx context.Context, operatorID string, keep []byte) error {
	_, err := s.db.write.ExecContext(ctx, `DELETE FROM operator_sessions WHERE operator_id = ? AND token_hash <> ?`, operatorID, keep)
	if err != nil {
		return fmt.Errorf("delete other sessions: %w", err)
	}
	return nil
}

// BurnTOTPStep records step as used if it is later than the last one.
func (s *OperatorService) BurnTOTPStep(ctx context.Context, operatorID string, step int64) error {
	res, err := s.db.write.ExecContext(ctx, `UPDATE operators SET last_totp_step = ? WHERE id = ? AND last_totp_step < ?`, step, operatorID, step)
	if err != nil {
		return fmt.Errorf("burn TOTP step: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "This code was already used.")
	}
	return nil
}

// reserveLogin is one statement: a pair locked counts the attempt and is
// refused (attempts > limit); a pair whose window or lock is over starts
// a new window; the attempt that reaches the limit is still checked and
// starts a lock of lock << lockouts, at most maxLock.
const reserveLogin = `
INSERT INTO login_attempts (name, addr, attempts, window_start, locked_until, lockouts, updated_at)
VALUES (:name, :addr, 1, :now, CASE WHEN :limit <= 1 THEN :now + :lock ELSE 0 END, CASE WHEN :limit <= 1 THEN 1 ELSE 0 END, :now)
ON CONFLICT (name, addr) DO UPDATE SET
	attempts = CASE WHEN locked_until > :now THEN attempts + 1
		WHEN locked_until > 0 OR window_start + :window <= :now THEN 1
		ELSE attempts + 1 END,
	window_start = CASE WHEN locked_until > :now THEN window_start
		WHEN locked_until > 0 OR window_start + :window <= :now THEN :now
		ELSE window_start END,
	locked_until = CASE WHEN locked_until > :now THEN locked_until
		WHEN (CASE WHEN locked_until > 0 OR window_start + :window <= :now THEN 1 ELSE attempts + 1 END) >= :limit
			THEN :now + min(:lock << min(lockouts, 30), :max_lock)
		ELSE 0 END,
	lockouts = CASE WHEN locked_until > :now THEN lockouts
		WHEN (CASE WHEN locked_until > 0 OR window_start + :window <= :now THEN 1 ELSE attempts + 1 END) >= :limit
			THEN lockouts + 1
		ELSE lockouts END,
	updated_at = :now
RETURNING attempts, locked_until, lockouts`

// ReserveLoginAttempt counts an attempt for (name, addr) and says whether
// it may be checked.
func (s *OperatorService) ReserveLoginAttempt(ctx context.Context, name, addr string, now time.Time, lim slokeeper.LoginLimits) (*slokeeper.LoginAttempt, error) {
	var a slokeeper.LoginAttempt
	var until int64
	err := s.db.write.QueryRowContext(ctx, reserveLogin,
		sql.Named("name", name), sql.Named("addr", addr), sql.Named("now", now.UnixMilli()), sql.Named("limit", lim.Attempts),
		sql.Named("window", lim.Window.Milliseconds()), sql.Named("lock", lim.Lock.Milliseconds()), sql.Named("max_lock", lim.MaxLock.Milliseconds()),
	).Scan(&a.Attempts, &until, &a.Lockouts)
	if err != nil {
		return nil, fmt.Errorf("reserve sign-in attempt: %w", err)
	}
	a.Allowed = a.Attempts <= lim.Attempts
	if until > now.UnixMilli() {
		a.LockedUntil = time.UnixMilli(until).UTC()
	}
	return &a, nil
}

// ResetLoginAttempts forgets a pair's attempts.
func (s *OperatorService) ResetLoginAttempts(ctx context.Context, name, addr string) error {
	if _, err := s.db.write.ExecContext(ctx, `DELETE FROM login_attempts WHERE name = ? AND addr = ?`, name, addr); err != nil {
		return fmt.Errorf("reset sign-in attempts: %w", err)
	}
	return nil
}

// UnlockLogin forgets a name's attempts from every address.
func (s *OperatorService) UnlockLogin(ctx context.Context, name string, now time.Time) (int, error) {
	rows, err := s.db.write.QueryContext(ctx, `DELETE FROM login_attempts WHERE name = ? RETURNING locked_until`, name)
	if err != nil {
		return 0, fmt.Errorf("unlock sign-in: %w", err)
	}
	defer rows.Close()
	locked := 0
	for rows.Next() {
		var until int64
		if err := rows.Scan(&until); err != nil {
			return 0, fmt.Errorf("unlock sign-in: %w", err)
		}
		if until > now.UnixMilli() {
			locked++
		}
	}
	return locked, rows.Err()
}

// PruneLoginAttempts forgets pairs quiet since before.
func (s *OperatorService) PruneLoginAttempts(ctx context.Context, before time.Time) error {
	ms := before.UnixMilli()
	if _, err := s.db.write.ExecContext(ctx, `DELETE FROM login_attempts WHERE updated_at < ? AND locked_until < ?`, ms, ms); err != nil {
		return fmt.Errorf("prune sign-in attempts: %w", err)
	}
	return nil
}
