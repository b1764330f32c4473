package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"slokeeper"
)

var loginLimits = slokeeper.LoginLimits{Attempts: 5, Window: 15 * time.Minute, Lock: time.Minute, MaxLock: 15 * time.Minute}

func mustReserve(tb testing.TB, s Store, name, addr string, now time.Time) *slokeeper.LoginAttempt {
	tb.Helper()
	a, err := s.Operators.ReserveLoginAttempt(context.Background(), name, addr, now, loginLimits)
	if err != nil {
		tb.Fatalf("ReserveLoginAttempt(%s, %s): %v", name, addr, err)
	}
	return a
}

func testLoginAttempts(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		a := mustReserve(t, s, "carol", "203.0.113.5", now)
		if !a.Allowed || a.Attempts != i {
			t.Fatalf("attempt %d = %+v, want allowed", i, a)
		}
		if wantLock := i == 5; !a.LockedUntil.IsZero() != wantLock {
			t.Errorf("attempt %d locked until %s; want a lock from the 5th on", i, a.LockedUntil)
		}
	}
	if a := mustReserve(t, s, "carol", "203.0.113.5", now.Add(time.Second)); a.Allowed || !a.LockedUntil.Equal(now.Add(time.Minute)) || a.Attempts != 6 {
		t.Errorf("6th attempt = %+v, want refused until %s", a, now.Add(time.Minute))
	}
	// Another address, another name: not locked by carol's failures.
	if a := mustReserve(t, s, "carol", "198.51.100.7", now); !a.Allowed || a.Attempts != 1 {
		t.Errorf("carol from another address = %+v, want allowed", a)
	}
	if a := mustReserve(t, s, "dave", "203.0.113.5", now); !a.Allowed {
		t.Errorf("another name from the address = %+v, want allowed", a)
	}
	// The lock passes; the next lockout lasts twice as long.
	later := now.Add(time.Minute + time.Second)
	if a := mustReserve(t, s, "carol", "203.0.113.5", later); !a.Allowed || a.Attempts != 1 || a.Lockouts != 1 {
		t.Errorf("after the lock = %+v, want a new window", a)
	}
	for range 4 {
		mustReserve(t, s, "carol", "203.0.113.5", later)
	}
	if a := mustReserve(t, s, "carol", "203.0.113.5", later.Add(time.Minute+time.Second)); a.Allowed || !a.LockedUntil.Equal(later.Add(2*time.Minute)) {
		t.Errorf("second lockout = %+v, want locked until %s", a, later.Add(2*time.Minute))
	}
	// Backoff is capped.
	at := later.Add(2 * time.Minute)
	var a *slokeeper.LoginAttempt
	for range 6 {
		at = at.Add(time.Hour)
		for range 5 {
			a = mustReserve(t, s, "carol", "203.0.113.5", at)
		}
	}
	if a.LockedUntil.Sub(at) != 15*time.Minute {
		t.Errorf("after %d lockouts locked for %s, want the 15 min cap", a.Lockouts, a.LockedUntil.Sub(at))
	}
	// A window passes without a lock: the count starts again.
	for range 3 {
		mustReserve(t, s, "erin", "203.0.113.5", now)
	}
	if a := mustReserve(t, s, "erin", "203.0.113.5", now.Add(15*time.Minute)); a.Attempts != 1 {
		t.Errorf("after the window: %+v, want attempt 1", a)
	}
	// A success resets the pair.
	if err := s.Operators.ResetLoginAttempts(ctx, "erin", "203.0.113.5"); err != nil {
		t.Fatal(err)
	}
	if a := mustReserve(t, s, "erin", "203.0.113.5", now.Add(15*time.Minute)); a.Attempts != 1 || a.Lockouts != 0 {
		t.Errorf("after a reset: %+v", a)
	}
	// An admin unlocks a name from every address.
	for range 5 {
		mustReserve(t, s, "carol", "198.51.100.7", now)
	}
	n, err := s.Operators.UnlockLogin(ctx, "carol", at)
	if err != nil || n != 1 {
		t.Errorf("UnlockLogin = %d, %v; want 1 address locked", n, err)
	}
	if a := mustReserve(t, s, "carol", "203.0.113.5", at); !a.Allowed || a.Lockouts != 0 {
		t.Errorf("after the unlock: %+v", a)
	}
	// Pruning forgets quiet pairs, never a lock still running.
	if err := s.Operators.PruneLoginAttempts(ctx, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if a := mustReserve(t, s, "dave", "203.0.113.5", now.Add(time.Hour)); a.Attempts != 1 {
		t.Errorf("dave after pruning = %+v, want attempt 1", a)
	}
	if a := mustReserve(t, s, "carol", "203.0.113.5", at); a.Attempts != 2 {
		t.Errorf("carol (active) after pruning = %+v, want attempt 2", a)
	}
}

// testLoginAttemptsConcurrent reserves many attempts at once: the limit
// holds whatever the interleaving.
func testLoginAttemptsConcurrent(t *testing.T, s Store) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var allowed, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 30 {
		wg.Go(func() {
			<-start
			a, err := s.Operators.ReserveLoginAttempt(context.Background(), "carol", "203.0.113.5", now, loginLimits)
			if err != nil {
				t.Error(err)
				return
			}
			if a.Allowed {
				allowed.Add(1)
			} else {
				refused.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if allowed.Load() != 5 || refused.Load() != 25 {
		t.Errorf("30 concurrent attempts: %d allowed, %d refused; want 5 and 25", allowed.Load(), refused.Load())
	}
}

func testBurnTOTPStep(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	op := &slokeeper.Operator{ID: "op_carol", Name: "carol", Role: slokeeper.RoleSupport, PasswordHash: "$argon2id$x", CreatedAt: now}
	if err := s.Operators.CreateOperator(ctx, op); err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 10 {
		wg.Go(func() {
			<-start
			err := s.Operators.BurnTOTPStep(ctx, op.ID, 59000000)
			switch slokeeper.ErrorCode(err) {
			case "":
				accepted.Add(1)
			case slokeeper.ECONFLICT:
			default:
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if accepted.Load() != 1 {
		t.Errorf("one TOTP step burnt concurrently by 10: %d accepted, want 1", accepted.Load())
	}
	if err := s.Operators.BurnTOTPStep(ctx, op.ID, 58999999); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("an earlier step = %v, want ECONFLICT", err)
	}
	if err := s.Operators.BurnTOTPStep(ctx, op.ID, 59000001); err != nil {
		t.Errorf("a later step = %v", err)
	}
	if got, _ := s.Operators.FindOperators(ctx, slokeeper.OperatorFilter{ID: op.ID}); len(got) != 1 || got[0].LastTOTPStep != 59000001 {
		t.Errorf("last step = %+v", got)
	}
	if err := s.Operators.BurnTOTPStep(ctx, "op_nobody", 1); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("an unknown operator = %v", err)
	}

	// Sessions: all but one end.
	for _, h := range []string{"keep", "other-1", "other-2"} {
		if err := s.Operators.CreateSession(ctx, &slokeeper.Session{TokenHash: []byte(h), OperatorID: op.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Operators.DeleteOtherSessions(ctx, op.ID, []byte("keep")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Operators.FindSession(ctx, []byte("keep"), now); err != nil {
		t.Errorf("the kept session: %v", err)
	}
	for _, h := range []string{"other-1", "other-2"} {
		if _, err := s.Operators.FindSession(ctx, []byte(h), now); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
			t.Errorf("session %s after DeleteOtherSessions: %v", h, err)
		}
	}
}
