package keys_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"slokeeper"
	"slokeeper/internal/keys"
	"slokeeper/internal/sqlite"
)

type fixture struct {
	dir    string
	store  *sqlite.KeyStore
	master string
	m      *keys.Manager
}

func setup(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.OpenKeyStore(context.Background(), filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	master := filepath.Join(dir, "master.key")
	m, err := keys.Open(master, store)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir, store, master, m}
}

func TestEncryptBindsRecordAndAccount(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	ad := []byte("account:acct-1/credential:mqtt-password")
	ct, err := f.m.Encrypt(ctx, "acct-1", []byte("s3cret-パスワード"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("s3cret")) {
		t.Fatal("the ciphertext contains the plaintext")
	}
	pt, err := f.m.Decrypt(ctx, "acct-1", ct, ad)
	if err != nil || string(pt) != "s3cret-パスワード" {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
	// Moved to another record, or another account: it does not decrypt.
	if _, err := f.m.Decrypt(ctx, "acct-1", ct, []byte("account:acct-1/credential:other")); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("another record's associated data = %v, want EINVALID", err)
	}
	f.m.Encrypt(ctx, "acct-2", []byte("x"), nil)
	if _, err := f.m.Decrypt(ctx, "acct-2", ct, ad); err == nil {
		t.Error("another account's key decrypted it")
	}
	if fi, _ := os.Stat(f.master); fi.Mode().Perm() != 0o600 {
		t.Errorf("master key mode %v, want 0600", fi.Mode().Perm())
	}
	// Another process, opening the same files, reads it too.
	m2, err := keys.Open(f.master, f.store)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := m2.Decrypt(ctx, "acct-1", ct, ad); err != nil || string(pt) != "s3cret-パスワード" {
		t.Errorf("second manager: %q, %v", pt, err)
	}
}

func TestDestroyShreds(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	ct, _ := f.m.Encrypt(ctx, "acct-9", []byte("customer data"), []byte("doc:1"))
	wrapped, err := f.store.GetAccountKey(ctx, "acct-9")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.m.DestroyAccountKey(ctx, "acct-9"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Decrypt(ctx, "acct-9", ct, []byte("doc:1")); err != keys.ErrShredded {
		t.Errorf("Decrypt after destroy = %v, want ErrShredded", err)
	}
	// No process can read it either: the key is gone from the store's files.
	m2, _ := keys.Open(f.master, f.store)
	if _, err := m2.Decrypt(ctx, "acct-9", ct, []byte("doc:1")); err != keys.ErrShredded {
		t.Errorf("second manager after destroy = %v", err)
	}
	for _, name := range []string{"keys.db", "keys.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(f.dir, name))
		if bytes.Contains(b, wrapped[len(wrapped)/2:len(wrapped)/2+24]) {
			t.Errorf("%s still holds the destroyed key", name)
		}
	}
	if err := f.m.DestroyAccountKey(ctx, "acct-9"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("destroying twice = %v, want ENOTFOUND", err)
	}
}

// TestRotateUnderLoad rotates the master key twice while reads and writes
// go on, with a second process that opened the old master key before.
func TestRotateUnderLoad(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	type item struct {
		account string
		ad, ct  []byte
		pt      string
	}
	var items []item
	for i := range 20 {
		acct, pt := fmt.Sprintf("acct-%d", i), fmt.Sprintf("secret %d", i)
		ad := []byte("doc:" + pt)
		ct, err := f.m.Encrypt(ctx, acct, []byte(pt), ad)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, item{acct, ad, ct, pt})
	}
	other, err := keys.Open(f.master, f.store) // an older process
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(f.master)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var written []item
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				it := items[(w*7+i)%len(items)]
				if pt, err := f.m.Decrypt(ctx, it.account, it.ct, it.ad); err != nil || string(pt) != it.pt {
					t.Errorf("read during rotation: %q, %v", pt, err)
					return
				}
				acct := fmt.Sprintf("new-%d-%d", w, i%5)
				ct, err := f.m.Encrypt(ctx, acct, []byte("new"), nil)
				if err != nil {
					t.Errorf("write during rotation: %v", err)
					return
				}
				mu.Lock()
				written = append(written, item{acct, nil, ct, "new"})
				mu.Unlock()
			}
		})
	}
	for range 2 {
		if _, err := f.m.RotateMaster(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if after, _ := os.ReadFile(f.master); bytes.Equal(before, after) {
		t.Fatal("the master key file did not change")
	}
	for _, m := range []*keys.Manager{f.m, other} {
		for _, it := range append(items, written...) {
			if pt, err := m.Decrypt(ctx, it.account, it.ct, it.ad); err != nil || string(pt) != it.pt {
				t.Fatalf("after rotation, %s: %q, %v", it.account, pt, err)
			}
		}
	}
}

// TestRotateNeverRevivesADestroyedKey races rotations against destroys.
func TestRotateNeverRevivesADestroyedKey(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for round := range 5 {
		var accts []string
		for i := range 20 {
			a := fmt.Sprintf("r%d-%d", round, i)
			f.m.Encrypt(ctx, a, []byte("x"), nil)
			accts = append(accts, a)
		}
		var wg sync.WaitGroup
		wg.Go(func() { f.m.RotateMaster(ctx) })
		wg.Go(func() {
			for _, a := range accts {
				f.m.DestroyAccountKey(ctx, a)
			}
		})
		wg.Wait()
		for _, a := range accts {
			if _, err := f.store.GetAccountKey(ctx, a); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
				t.Fatalf("round %d: the key of %s is back after being destroyed", round, a)
			}
		}
	}
}

// TestOpenConcurrentFirstUse: processes starting at once on a data
// directory with no master key agree on one; none wraps an account key
// under a master key another overwrote.
func TestOpenConcurrentFirstUse(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.OpenKeyStore(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	master := filepath.Join(dir, "master.key")
	cts := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range cts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := keys.Open(master, store)
			if err != nil {
				t.Error(err)
				return
			}
			cts[i], err = m.Encrypt(ctx, fmt.Sprintf("acct-%d", i), []byte("data"), nil)
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	m, err := keys.Open(master, store)
	if err != nil {
		t.Fatal(err)
	}
	for i, ct := range cts {
		if pt, err := m.Decrypt(ctx, fmt.Sprintf("acct-%d", i), ct, nil); err != nil || string(pt) != "data" {
			t.Errorf("acct-%d after a concurrent first start: %q, %v", i, pt, err)
		}
	}
}

// TestBackupKeys: a backup's own key opens until destroyed, then is gone
// from the key store's files; a snapshot's key, wrapped by its account's,
// is shredded with the account's key too.
func TestBackupKeys(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	clear := []byte("a streaming keyset, serialized: 0123456789abcdef0123456789abcdef")
	if err := f.m.StoreBackupKey(ctx, "bk_log", "", clear); err != nil {
		t.Fatal(err)
	}
	if err := f.m.StoreBackupKey(ctx, "bk_snap", "acct-1", clear); err != nil {
		t.Fatal(err)
	}
	if err := f.m.StoreBackupKey(ctx, "bk_snap2", "acct-1", clear); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"keys.db", "keys.db-wal"} {
		if b, _ := os.ReadFile(filepath.Join(f.dir, name)); bytes.Contains(b, clear[:24]) {
			t.Errorf("%s holds a backup key in the clear", name)
		}
	}
	if got, err := f.m.OpenBackupKey(ctx, "bk_log", ""); err != nil || !bytes.Equal(got, clear) {
		t.Errorf("OpenBackupKey = %q, %v", got, err)
	}
	if _, err := f.m.OpenBackupKey(ctx, "bk_snap", "acct-2"); err == nil {
		t.Error("a snapshot's key opened as another account's")
	}
	wrapped, _ := f.store.GetBackupKey(ctx, "bk_log")
	if err := f.m.DestroyBackupKey(ctx, "bk_log"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.OpenBackupKey(ctx, "bk_log", ""); err != keys.ErrBackupKeyDestroyed {
		t.Errorf("OpenBackupKey after destroy = %v, want ErrBackupKeyDestroyed", err)
	}
	for _, name := range []string{"keys.db", "keys.db-wal"} {
		if b, _ := os.ReadFile(filepath.Join(f.dir, name)); bytes.Contains(b, wrapped[len(wrapped)/2:len(wrapped)/2+24]) {
			t.Errorf("%s still holds the destroyed backup key", name)
		}
	}
	// One snapshot erased: its key alone goes.
	f.m.DestroyBackupKey(ctx, "bk_snap")
	if _, err := f.m.OpenBackupKey(ctx, "bk_snap2", "acct-1"); err != nil {
		t.Errorf("the other snapshot's key: %v", err)
	}
	// The account's key destroyed: every snapshot's key is useless.
	f.m.DestroyAccountKey(ctx, "acct-1")
	if _, err := f.m.OpenBackupKey(ctx, "bk_snap2", "acct-1"); err != keys.ErrShredded {
		t.Errorf("a snapshot's key after its account's key was destroyed = %v, want ErrShredded", err)
	}
}
