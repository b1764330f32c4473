package storetest

import (
	"context"
	"testing"
	"time"

	"slokeeper"
)

func testOperators(t *testing.T, s Store) {
	ctx := context.Background()
	svc := s.Operators
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	alice := &slokeeper.Operator{ID: "op_alice", Name: "alice", Role: slokeeper.RoleAdmin, Email: "alice@example.jp", PasswordHash: "$argon2id$x", CreatedAt: now, MustChangePassword: true}
	bob := &slokeeper.Operator{ID: "op_bob", Name: "bob", Role: slokeeper.RoleSupport, PasswordHash: "$argon2id$y", CreatedAt: now}
	for _, o := range []*slokeeper.Operator{alice, bob} {
		if err := svc.CreateOperator(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.CreateOperator(ctx, &slokeeper.Operator{ID: "op_x", Name: "alice", Role: slokeeper.RoleAdmin, PasswordHash: "h"}); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("duplicate name = %v, want ECONFLICT", err)
	}
	for _, bad := range []*slokeeper.Operator{
		{ID: "op_y", Name: "carol", Role: "root", PasswordHash: "h"},
		{ID: "op_y", Name: "Carol Smith", Role: slokeeper.RoleAdmin, PasswordHash: "h"},
		{ID: "op_y", Name: "carol", Role: slokeeper.RoleAdmin},
	} {
		if err := svc.CreateOperator(ctx, bad); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
			t.Errorf("CreateOperator(%+v) = %v, want EINVALID", bad, err)
		}
	}
	got, err := svc.FindOperators(ctx, slokeeper.OperatorFilter{Name: "alice"})
	if err != nil || len(got) != 1 || got[0].ID != "op_alice" || got[0].Role != "admin" || got[0].Email != alice.Email ||
		got[0].PasswordHash != "$argon2id$x" || !got[0].MustChangePassword || !got[0].CreatedAt.Equal(now) || got[0].TOTPSecret != nil {
		t.Fatalf("FindOperators(alice) = %+v, %v", got, err)
	}
	role, hash, secret, step, must, off := slokeeper.RoleOperator, "$argon2id$z", []byte{1, 2, 3}, int64(12345), false, now.Add(time.Hour)
	if err := svc.UpdateOperator(ctx, "op_bob", slokeeper.OperatorUpdate{Role: &role, PasswordHash: &hash, TOTPSecret: &secret, LastTOTPStep: &step, MustChangePassword: &must}); err != nil {
		t.Fatal(err)
	}
	got, _ = svc.FindOperators(ctx, slokeeper.OperatorFilter{ID: "op_bob"})
	if b := got[0]; b.Role != role || b.PasswordHash != hash || string(b.TOTPSecret) != string(secret) || b.LastTOTPStep != step || b.MustChangePassword {
		t.Errorf("after update: %+v", b)
	}
	// An empty secret turns two-factor sign-in off (an admin's reset):
	// it reads back as none, not as an empty secret.
	none := []byte(nil)
	if err := svc.UpdateOperator(ctx, "op_bob", slokeeper.OperatorUpdate{TOTPSecret: &none}); err != nil {
		t.Fatal(err)
	}
	if got, _ = svc.FindOperators(ctx, slokeeper.OperatorFilter{ID: "op_bob"}); got[0].TOTPSecret != nil {
		t.Errorf("TOTP secret after reset = %v, want nil", got[0].TOTPSecret)
	}
	if err := svc.UpdateOperator(ctx, "op_bob", slokeeper.OperatorUpdate{TOTPSecret: &secret}); err != nil {
		t.Fatal(err)
	}
	bad := "root"
	if err := svc.UpdateOperator(ctx, "op_bob", slokeeper.OperatorUpdate{Role: &bad}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("update to an unknown role = %v", err)
	}
	if err := svc.UpdateOperator(ctx, "op_nobody", slokeeper.OperatorUpdate{Role: &role}); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("update of an unknown operator = %v", err)
	}
	if err := svc.UpdateOperator(ctx, "op_bob", slokeeper.OperatorUpdate{DisabledAt: &off}); err != nil {
		t.Fatal(err)
	}
	if n, _ := svc.CountOperators(ctx); n != 1 {
		t.Errorf("CountOperators = %d, want 1 (bob is disabled)", n)
	}
	if all, _ := svc.FindOperators(ctx, slokeeper.OperatorFilter{IncludeDisabled: true}); len(all) != 2 || !all[1].DisabledAt.Equal(off) {
		t.Errorf("all operators = %+v", all)
	}

	// Sessions.
	ses := &slokeeper.Session{TokenHash: []byte("hash-1"), OperatorID: "op_alice", CreatedAt: now, ExpiresAt: now.Add(12 * time.Hour)}
	if err := svc.CreateSession(ctx, ses); err != nil {
		t.Fatal(err)
	}
	if err := svc.CreateSession(ctx, &slokeeper.Session{TokenHash: []byte("h2"), OperatorID: "op_nobody", CreatedAt: now, ExpiresAt: now}); err == nil {
		t.Error("a session for an unknown operator was stored")
	}
	if got, err := svc.FindSession(ctx, []byte("hash-1"), now.Add(time.Hour)); err != nil || got.OperatorID != "op_alice" || !got.ExpiresAt.Equal(ses.ExpiresAt) {
		t.Errorf("FindSession = %+v, %v", got, err)
	}
	if _, err := svc.FindSession(ctx, []byte("hash-1"), now.Add(13*time.Hour)); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("an expired session = %v, want ENOTFOUND", err)
	}
	svc.CreateSession(ctx, &slokeeper.Session{TokenHash: []byte("hash-2"), OperatorID: "op_alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	svc.DeleteSession(ctx, []byte("hash-1"))
	if _, err := svc.FindSession(ctx, []byte("hash-1"), now); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("a deleted session = %v", err)
	}
	svc.DeleteOperatorSessions(ctx, "op_alice")
	if _, err := svc.FindSession(ctx, []byte("hash-2"), now); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("after signing out everywhere = %v", err)
	}

	// API tokens.
	tok := &slokeeper.APIToken{ID: "tok_1", OperatorID: "op_alice", Name: "ci", Scope: "read", TokenHash: []byte("th-1"), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := svc.CreateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := svc.CreateAPIToken(ctx, &slokeeper.APIToken{ID: "tok_2", OperatorID: "op_alice", Name: "x", Scope: "everything", TokenHash: []byte("th-2"), CreatedAt: now, ExpiresAt: now}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("an unknown scope = %v", err)
	}
	if got, err := svc.FindAPIToken(ctx, []byte("th-1"), now); err != nil || got.ID != "tok_1" || got.Scope != "read" {
		t.Errorf("FindAPIToken = %+v, %v", got, err)
	}
	if _, err := svc.FindAPIToken(ctx, []byte("th-1"), now.Add(25*time.Hour)); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("an expired token = %v", err)
	}
	if err := svc.RevokeAPIToken(ctx, "tok_1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FindAPIToken(ctx, []byte("th-1"), now.Add(2*time.Minute)); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("a revoked token = %v", err)
	}
	if list, _ := svc.FindAPITokens(ctx, "op_alice"); len(list) != 1 || !list[0].RevokedAt.Equal(now.Add(time.Minute)) {
		t.Errorf("tokens = %+v", list)
	}
	testMustEnrolTOTP(t, svc, now)
}

// testMustEnrolTOTP: the must-enrol flag is stored at creation, read
// back, set and cleared by an update, and left alone by updates that do
// not name it.
func testMustEnrolTOTP(t *testing.T, svc slokeeper.OperatorService, now time.Time) {
	ctx := context.Background()
	dave := &slokeeper.Operator{ID: "op_dave", Name: "dave", Role: slokeeper.RoleOperator, PasswordHash: "$argon2id$d", CreatedAt: now, MustEnrolTOTP: true}
	erin := &slokeeper.Operator{ID: "op_erin", Name: "erin", Role: slokeeper.RoleOperator, PasswordHash: "$argon2id$e", CreatedAt: now}
	for _, o := range []*slokeeper.Operator{dave, erin} {
		if err := svc.CreateOperator(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	mustEnrol := func(id string) bool {
		t.Helper()
		got, err := svc.FindOperators(ctx, slokeeper.OperatorFilter{ID: id})
		if err != nil || len(got) != 1 {
			t.Fatalf("FindOperators(%s) = %v, %v", id, got, err)
		}
		return got[0].MustEnrolTOTP
	}
	if !mustEnrol("op_dave") {
		t.Errorf("created with MustEnrolTOTP: read back false, want true")
	}
	if mustEnrol("op_erin") {
		t.Errorf("created without MustEnrolTOTP: read back true, want false")
	}
	yes, no, role := true, false, slokeeper.RoleSupport
	if err := svc.UpdateOperator(ctx, "op_erin", slokeeper.OperatorUpdate{MustEnrolTOTP: &yes}); err != nil {
		t.Fatal(err)
	}
	if !mustEnrol("op_erin") {
		t.Errorf("after setting MustEnrolTOTP: false, want true")
	}
	if err := svc.UpdateOperator(ctx, "op_erin", slokeeper.OperatorUpdate{Role: &role}); err != nil {
		t.Fatal(err)
	}
	if !mustEnrol("op_erin") {
		t.Errorf("an update of the role cleared MustEnrolTOTP")
	}
	if err := svc.UpdateOperator(ctx, "op_dave", slokeeper.OperatorUpdate{MustEnrolTOTP: &no}); err != nil {
		t.Fatal(err)
	}
	if mustEnrol("op_dave") {
		t.Errorf("after clearing MustEnrolTOTP: true, want false")
	}
	if err := svc.UpdateOperator(ctx, "op_erin", slokeeper.OperatorUpdate{MustEnrolTOTP: &no}); err != nil {
		t.Fatal(err)
	}
}
