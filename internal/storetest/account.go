package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"slokeeper"
)

func testAccounts(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, id := range []string{"acct-1", "acct-2"} {
		if err := s.Accounts.CreateAccount(ctx, &slokeeper.Account{ID: id, Name: "株式会社 " + id, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Accounts.CreateAccount(ctx, &slokeeper.Account{ID: "acct-1", Name: "x"}); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("duplicate account = %v", err)
	}
	if err := s.Accounts.CreateAccount(ctx, &slokeeper.Account{ID: "bad id!", Name: "x"}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("bad ID = %v", err)
	}
	got, _ := s.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{ID: "acct-1"})
	if len(got) != 1 || got[0].Status != slokeeper.AccountActive || got[0].Name != "株式会社 acct-1" || !got[0].CreatedAt.Equal(now) {
		t.Fatalf("FindAccounts = %+v", got)
	}
	deleting, due := slokeeper.AccountDeleting, now.Add(7*24*time.Hour)
	if err := s.Accounts.UpdateAccount(ctx, "acct-2", slokeeper.AccountUpdate{Status: &deleting, DeletionRequestedAt: &now, DeletionDueAt: &due}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{DueBy: due.Add(-time.Second)}); len(d) != 0 {
		t.Errorf("due before the window ends: %v", d)
	}
	if d, _ := s.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{DueBy: due}); len(d) != 1 || d[0].ID != "acct-2" || !d[0].DeletionDueAt.Equal(due) {
		t.Errorf("due at the end of the window: %+v", d)
	}
	if err := s.Accounts.UpdateAccount(ctx, "nope", slokeeper.AccountUpdate{Status: &deleting}); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("update of an unknown account = %v", err)
	}

	// Items: stored as given (ciphertext), replaced by key, listed without ciphertext.
	it := &slokeeper.AccountItem{Account: "acct-1", Kind: slokeeper.ItemCredential, Key: "mqtt", Ciphertext: []byte{1, 2, 3}, Size: 9, UpdatedAt: now}
	if err := s.Accounts.PutAccountItem(ctx, it); err != nil {
		t.Fatal(err)
	}
	it.Ciphertext = []byte{4, 5}
	s.Accounts.PutAccountItem(ctx, it)
	s.Accounts.PutAccountItem(ctx, &slokeeper.AccountItem{Account: "acct-1", Kind: slokeeper.ItemDocument, Key: "flow-1", Ciphertext: []byte{9}, Size: 1, UpdatedAt: now})
	if err := s.Accounts.PutAccountItem(ctx, &slokeeper.AccountItem{Account: "ghost", Kind: slokeeper.ItemData, Key: "k", Ciphertext: []byte{1}, UpdatedAt: now}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("an item of an unknown account = %v, want EINVALID", err)
	}
	g, err := s.Accounts.GetAccountItem(ctx, "acct-1", slokeeper.ItemCredential, "mqtt")
	if err != nil || string(g.Ciphertext) != string([]byte{4, 5}) || g.Size != 9 {
		t.Errorf("GetAccountItem = %+v, %v", g, err)
	}
	if list, _ := s.Accounts.FindAccountItems(ctx, "acct-1", ""); len(list) != 2 || list[0].Ciphertext != nil {
		t.Errorf("FindAccountItems = %+v", list)
	}
	// A snapshot holds the ciphertexts; a replace makes it the whole data, or
	// fails and changes nothing.
	snap, err := s.Accounts.SnapshotAccountItems(ctx, "acct-1")
	if err != nil || len(snap) != 2 || snap[0].Key != "mqtt" || string(snap[0].Ciphertext) != string([]byte{4, 5}) || snap[1].Key != "flow-1" || !snap[1].UpdatedAt.Equal(now) {
		t.Fatalf("SnapshotAccountItems = %+v, %v", snap, err)
	}
	s.Accounts.PutAccountItem(ctx, &slokeeper.AccountItem{Account: "acct-1", Kind: slokeeper.ItemData, Key: "later", Ciphertext: []byte{7}, Size: 1, UpdatedAt: now})
	bad := append(slices.Clone(snap), &slokeeper.AccountItem{Account: "acct-2", Kind: slokeeper.ItemData, Key: "x", Ciphertext: []byte{1}, UpdatedAt: now})
	if err := s.Accounts.ReplaceAccountItems(ctx, "acct-1", bad); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("replacing with another account's item = %v, want EINVALID", err)
	}
	if list, _ := s.Accounts.FindAccountItems(ctx, "acct-1", ""); len(list) != 3 {
		t.Errorf("a failed replace changed the data: %d items, want 3", len(list))
	}
	if err := s.Accounts.ReplaceAccountItems(ctx, "acct-1", snap); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Accounts.SnapshotAccountItems(ctx, "acct-1"); len(again) != 2 || again[0].Key != "mqtt" || again[1].Key != "flow-1" {
		t.Errorf("after replace = %+v", again)
	}
	if n, _ := s.Accounts.DeleteAccountItems(ctx, "acct-1"); n != 2 {
		t.Errorf("DeleteAccountItems = %d, want 2", n)
	}
	if _, err := s.Accounts.GetAccountItem(ctx, "acct-1", slokeeper.ItemCredential, "mqtt"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("after deleting = %v", err)
	}

	// Grants.
	s.Operators.CreateOperator(ctx, &slokeeper.Operator{ID: "op_a", Name: "alice", Role: slokeeper.RoleSupport, PasswordHash: "h", CreatedAt: now})
	s.Operators.CreateOperator(ctx, &slokeeper.Operator{ID: "op_b", Name: "bob", Role: slokeeper.RoleAdmin, PasswordHash: "h", CreatedAt: now})
	gr := &slokeeper.Grant{ID: "gr_1", OperatorID: "op_a", Account: "acct-1", Scope: "credential", Reason: "問い合わせ #123", Duration: 2 * time.Hour, RequestedAt: now}
	if err := s.Grants.CreateGrant(ctx, gr); err != nil {
		t.Fatal(err)
	}
	if err := s.Grants.CreateGrant(ctx, &slokeeper.Grant{ID: "gr_2", OperatorID: "op_a", Account: "acct-1", Scope: "everything", Reason: "x", RequestedAt: now}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("unknown scope = %v", err)
	}
	approver, at, exp := "op_b", now.Add(time.Minute), now.Add(time.Minute+2*time.Hour)
	if err := s.Grants.UpdateGrant(ctx, "gr_1", slokeeper.GrantUpdate{ApproverID: &approver, ApprovedAt: &at, ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	grants, _ := s.Grants.FindGrants(ctx, slokeeper.GrantFilter{OperatorID: "op_a", Account: "acct-1"})
	if len(grants) != 1 || !grants[0].Active(now.Add(time.Hour)) || grants[0].Active(exp) || grants[0].Duration != 2*time.Hour ||
		grants[0].ApproverID != "op_b" || grants[0].Reason != gr.Reason || !grants[0].Covers("credential") || grants[0].Covers("document") {
		t.Errorf("grant = %+v", grants)
	}
	rev := now.Add(30 * time.Minute)
	s.Grants.UpdateGrant(ctx, "gr_1", slokeeper.GrantUpdate{RevokedAt: &rev})
	if g, _ := s.Grants.FindGrants(ctx, slokeeper.GrantFilter{ID: "gr_1"}); g[0].Active(now.Add(time.Hour)) {
		t.Error("a revoked grant is active")
	}
}
