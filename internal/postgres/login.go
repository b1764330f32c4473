package postgres

import (
	"context"
	"fmt"
	"time"

	"slokeeper"
)

// DeleteOtherSessions signs an operator out everywhere but one session.
func (s *OperatorService) DeleteOtherSessions(ctx context.Context, operatorID string, keep []byte) error {
	_, err := s.db.pool.Exec(ctx, `DELETE FROM operator_sessions WHERE operator_id = $1 AND token_hash <> $2`, operatorID, keep)
	if err != nil {
		return fmt.Errorf("delete other sessions: %w", err)
	}
	return nil
}

// BurnTOTPStep records step as used if it is later than the last one.
func (s *OperatorService) BurnTOTPStep(ctx context.Context, operatorID string, step int64) error {
	tag, err := s.db.pool.Exec(ctx, `UPDATE operators SET last_totp_step = $1 WHERE id = $2 AND last_totp_step < $1`, step, operatorID)
	if err != nil {
		return fmt.Errorf("burn TOTP step: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "This code was already used.")
	}
	return nil
}

// reserveLogin is one statement: a pair locked counts the attempt and is
// refused (attempts > limit); a pair whose window or lock is over starts
// a new window; the attempt that reaches the limit is still checked and
// starts a lock of lock << lockouts, at most maxLock. Durations are in
// microseconds. $1 name, $2 addr, $3 now, $4 limit, $5 window, $6 lock,
// $7 max lock.
const reserveLogin = `
INSERT INTO login_attempts AS a (name, addr, attempts, window_start, locked_until, lockouts, updated_at)
VALUES ($1, $2, 1, $3::timestamptz,
	CASE WHEN $4::int <= 1 THEN $3::timestamptz + $6::bigint * interval '1 microsecond' END,
	CASE WHEN $4::int <= 1 THEN 1 ELSE 0 END, $3::timestamptz)
ON CONFLICT (name, addr) DO UPDATE SET
	attempts = CASE WHEN a.locked_until > $3::timestamptz THEN a.attempts + 1
		WHEN a.locked_until IS NOT NULL OR a.window_start + $5::bigint * interval '1 microsecond' <= $3::timestamptz THEN 1
		ELSE a.attempts + 1 END,
	window_start = CASE WHEN a.locked_until > $3::timestamptz THEN a.window_start
		WHEN a.locked_until IS NOT NULL OR a.window_start + $5::bigint * interval '1 microsecond' <= $3::timestamptz THEN $3::timestamptz
		ELSE a.window_start END,
	locked_until = CASE WHEN a.locked_until > $3::timestamptz THEN a.locked_until
		WHEN (CASE WHEN a.locked_until IS NOT NULL OR a.window_start + $5::bigint * interval '1 microsecond' <= $3::timestamptz THEN 1 ELSE a.attempts + 1 END) >= $4::int
			THEN $3::timestamptz + LEAST($6::bigint << LEAST(a.lockouts, 30), $7::bigint) * interval '1 microsecond'
		END,
	lockouts = CASE WHEN a.locked_until > $3::timestamptz THEN a.lockouts
		WHEN (CASE WHEN a.locked_until IS NOT NULL OR a.window_start + $5::bigint * interval '1 microsecond' <= $3::timestamptz THEN 1 ELSE a.attempts + 1 END) >= $4::int
			THEN a.lockouts + 1
		ELSE a.lockouts END,
	updated_at = $3::timestamptz
RETURNING attempts, locked_until, lockouts`

// ReserveLoginAttempt counts an attempt for (name, addr) and says whether
// it may be checked.
func (s *OperatorService) ReserveLoginAttempt(ctx context.Context, name, addr string, now time.Time, lim slokeeper.LoginLimits) (*slokeeper.LoginAttempt, error) {
	var a slokeeper.LoginAttempt
	var until *time.Time
	err := s.db.pool.QueryRow(ctx, reserveLogin, name, addr, now, lim.Attempts,
		lim.Window.Microseconds(), lim.Lock.Microseconds(), lim.MaxLock.Microseconds()).Scan(&a.Attempts, &until, &a.Lockouts)
	if err != nil {
		return nil, fmt.Errorf("reserve sign-in attempt: %w", err)
	}
	a.Allowed = a.Attempts <= lim.Attempts
	if until != nil && until.After(now) {
		a.LockedUntil = until.UTC()
	}
	return &a, nil
}

// ResetLoginAttempts forgets a pair's attempts.
func (s *OperatorService) ResetLoginAttempts(ctx context.Context, name, addr string) error {
	if _, err := s.db.pool.Exec(ctx, `DELETE FROM login_attempts WHERE name = $1 AND addr = $2`, name, addr); err != nil {
		return fmt.Errorf("reset sign-in attempts: %w", err)
	}
	return nil
}

// UnlockLogin forgets a name's attempts from every address.
func (s *OperatorService) UnlockLogin(ctx context.Context, name string, now time.Time) (int, error) {
	var locked int
	err := s.db.pool.QueryRow(ctx, `WITH gone AS (DELETE FROM login_attempts WHERE name = $1 RETURNING locked_until)
		SELECT COUNT(*) FROM gone WHERE locked_until > $2`, name, now).Scan(&locked)
	if err != nil {
		return 0, fmt.Errorf("unlock sign-in: %w", err)
	}
	return locked, nil
}

// PruneLoginAttempts forgets pairs quiet since before.
func (s *OperatorService) PruneLoginAttempts(ctx context.Context, before time.Time) error {
	_, err := s.db.pool.Exec(ctx, `DELETE FROM login_attempts WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until < $1)`, before)
	if err != nil {
		return fmt.Errorf("prune sign-in attempts: %w", err)
	}
	return nil
}
