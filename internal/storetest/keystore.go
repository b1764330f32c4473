package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

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

// RunKeyStoreBackupKeys runs the conformance tests of backup keys: one
// per backup, apart from account keys, destroyed one by one.
func RunKeyStoreBackupKeys(t *testing.T, s slokeeper.KeyStore) {
	ctx := context.Background()
	if _, err := s.GetBackupKey(ctx, "bk_1"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("a key never stored = %v, want ENOTFOUND", err)
	}
	if err := s.CreateBackupKey(ctx, "bk_1", "", []byte("wrapped-log")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBackupKey(ctx, "bk_2", "acct-1", []byte("wrapped-snap")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBackupKey(ctx, "bk_1", "", []byte("other")); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("a second key for one backup = %v, want ECONFLICT", err)
	}
	if w, err := s.GetBackupKey(ctx, "bk_2"); err != nil || string(w) != "wrapped-snap" {
		t.Errorf("GetBackupKey = %q, %v", w, err)
	}
	if err := s.DeleteBackupKey(ctx, "bk_2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBackupKey(ctx, "bk_2"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("a destroyed backup key = %v, want ENOTFOUND", err)
	}
	if err := s.DeleteBackupKey(ctx, "bk_2"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("destroying twice = %v, want ENOTFOUND", err)
	}
	if ks, err := s.BackupKeys(ctx); err != nil || strings.Join(ks, ",") != "bk_1" {
		t.Errorf("BackupKeys = %v, %v; want bk_1", ks, err)
	}
	if as, _ := s.AccountKeys(ctx); len(as) != 0 {
		t.Errorf("backup keys show as account keys: %v", as)
	}
}

// RunKeyStoreRotationLock checks that the rotation lock taken through one
// handle on a key store keeps another handle on the same store (another
// process, another node) waiting until it is released, while the store's
// other calls go on.
func RunKeyStoreRotationLock(t *testing.T, a, b slokeeper.KeyStore) {
	ctx := context.Background()
	unlock, err := a.LockRotation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateAccountKey(ctx, "acct-during-rotation", []byte("w")); err != nil {
		t.Errorf("a new account key while a rotation runs = %v", err)
	}
	if ok, err := a.SwapAccountKey(ctx, "acct-during-rotation", []byte("w"), []byte("w2")); !ok || err != nil {
		t.Errorf("the lock holder's own swap = %v, %v", ok, err)
	}
	// The other handle waits; its context ends before the lock is free.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if unlock2, err := b.LockRotation(short); err == nil {
		unlock2()
		t.Fatal("a second handle took the rotation lock while the first held it")
	}
	unlock()
	unlock2, err := b.LockRotation(ctx)
	if err != nil {
		t.Fatalf("the lock after its release: %v", err)
	}
	unlock2()
	// And back: a released lock can be taken again by the first.
	unlock, err = a.LockRotation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}
