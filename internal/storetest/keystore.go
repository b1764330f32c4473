package storetest

import (
	"context"
	"strings"
	"testing"

	"slokeeper"
)

// RunKeyStore runs the key store's conformance tests against a fresh store.
func RunKeyStore(t *testing.T, s slokeeper.KeyStore) {
	ctx := context.Background()
	if err := s.CreateAccountKey(ctx, "acct-1", []byte("wrapped-1")); err != nil {
		t.Fatal(err)
	}
	s.CreateAccountKey(ctx, "acct-2", []byte("wrapped-2"))
	if err := s.CreateAccountKey(ctx, "acct-1", []byte("other")); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("creating a second key = %v, want ECONFLICT", err)
	}
	if w, err := s.GetAccountKey(ctx, "acct-1"); err != nil || string(w) != "wrapped-1" {
		t.Errorf("GetAccountKey = %q, %v", w, err)
	}
	if ok, err := s.SwapAccountKey(ctx, "acct-1", []byte("stale"), []byte("x")); ok || err != nil {
		t.Errorf("swap from a stale value = %v, %v; want no swap", ok, err)
	}
	if ok, err := s.SwapAccountKey(ctx, "acct-1", []byte("wrapped-1"), []byte("rewrapped-1")); !ok || err != nil {
		t.Errorf("swap = %v, %v", ok, err)
	}
	if err := s.DeleteAccountKey(ctx, "acct-2"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.SwapAccountKey(ctx, "acct-2", []byte("wrapped-2"), []byte("back")); ok {
		t.Error("a swap brought a destroyed key back")
	}
	if _, err := s.GetAccountKey(ctx, "acct-2"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("a destroyed key = %v", err)
	}
	if err := s.DeleteAccountKey(ctx, "acct-2"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("destroying twice = %v", err)
	}
	if ks, _ := s.AccountKeys(ctx); strings.Join(ks, ",") != "acct-1" {
		t.Errorf("AccountKeys = %v", ks)
	}
}
