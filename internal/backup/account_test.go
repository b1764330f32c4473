package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/blob"
	"slokeeper/internal/blob/blobtest"
	"slokeeper/internal/keys"
	"slokeeper/internal/sqlite"
)

func TestAccountBackupDir(t *testing.T) {
	target, err := blob.OpenDir(filepath.Join(t.TempDir(), "backups"))
	if err != nil {
		t.Fatal(err)
	}
	testAccountBackup(t, target)
}

func TestAccountBackupS3(t *testing.T) {
	target, err := blob.OpenS3(context.Background(), blobtest.S3Server(t))
	if err != nil {
		t.Fatal(err)
	}
	testAccountBackup(t, target)
}

// put stores an item the way the vault does: encrypted under the account's key.
func put(t *testing.T, accounts *sqlite.AccountService, km *keys.Manager, account, kind, key, value string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	it := &slokeeper.AccountItem{Account: account, Kind: kind, Key: key, Size: len(value), UpdatedAt: at.UTC()}
	var err error
	if it.Ciphertext, err = km.Encrypt(ctx, account, []byte(value), it.AssociatedData()); err != nil {
		t.Fatal(err)
	}
	if err := accounts.PutAccountItem(ctx, it); err != nil {
		t.Fatal(err)
	}
}

// plaintexts decrypts an account's data: kind/key → value.
func plaintexts(t *testing.T, accounts *sqlite.AccountService, km *keys.Manager, account string) map[string]string {
	t.Helper()
	items, err := accounts.SnapshotAccountItems(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range items {
		pt, err := km.Decrypt(context.Background(), account, it.Ciphertext, it.AssociatedData())
		if err != nil {
			t.Fatal(err)
		}
		out[it.Kind+"/"+it.Key] = string(pt)
	}
	return out
}

func testAccountBackup(t *testing.T, target slokeeper.BlobStore) {
	ctx := context.Background()
	dir := t.TempDir()
	c := &clock{now: time.Date(2026, 12, 4, 3, 0, 0, 0, tokyo)}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	accounts := sqlite.NewAccountService(db)
	km := sealer(t, dir)
	for _, id := range []string{"acme", "empty"} {
		if err := accounts.CreateAccount(ctx, &slokeeper.Account{ID: id, Name: id, CreatedAt: c.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	put(t, accounts, km, "acme", slokeeper.ItemDocument, "flow-secret-name", `{"nodes":["温度センサー (plaintext marker)"]}`, c.Now())
	put(t, accounts, km, "acme", slokeeper.ItemCredential, "mqtt", "password-plaintext-marker", c.Now())
	for i := range 20 {
		put(t, accounts, km, "acme", slokeeper.ItemData, fmt.Sprintf("k%02d", i), fmt.Sprintf("value %d", i), c.Now())
	}
	before := plaintexts(t, accounts, km, "acme")
	stored, _ := accounts.SnapshotAccountItems(ctx, "acme")

	b := backup.New(backup.Config{Target: target, Sealer: km, Accounts: accounts, Crypto: km, Clock: c})
	m, err := b.BackupAccount(ctx, "acme", "2026-12-03")
	if err != nil {
		t.Fatal(err)
	}
	if m.Class != "user" || m.Account != "acme" || m.Records != 22 || len(m.Checksum) != 64 {
		t.Fatalf("manifest = %+v", m)
	}
	if err := b.Verify(ctx, m); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	empty, err := b.BackupAccount(ctx, "empty", "2026-12-03")
	if err != nil || empty.Records != 0 {
		t.Fatalf("an account without data: %+v, %v", empty, err)
	}
	if err := b.Verify(ctx, empty); err != nil {
		t.Fatalf("Verify of an empty snapshot: %v", err)
	}
	// Neither the values nor the item names are readable on the target.
	r, _ := target.Get(ctx, m.Object)
	var obj bytes.Buffer
	obj.ReadFrom(r)
	r.Close()
	for _, secret := range []string{"plaintext marker", "plaintext-marker", "flow-secret-name", "mqtt"} {
		if bytes.Contains(obj.Bytes(), []byte(secret)) {
			t.Errorf("the backup object shows %q", secret)
		}
	}
	// Both are listed from the target alone.
	if ms, err := b.Manifests(ctx); err != nil || len(ms) != 2 || ms[0].ID != m.ID || ms[0].Account != "acme" {
		t.Fatalf("Manifests = %+v, %v", ms, err)
	}

	// The account changes; the restore brings back the snapshot exactly.
	put(t, accounts, km, "acme", slokeeper.ItemData, "k00", "changed", c.Now().Add(time.Hour))
	put(t, accounts, km, "acme", slokeeper.ItemData, "new", "added later", c.Now().Add(time.Hour))
	accounts.DeleteAccountItem(ctx, "acme", slokeeper.ItemCredential, "mqtt")
	var reported int64
	n, err := b.RestoreAccount(ctx, m, func(done, _ int64) { reported = done })
	if err != nil || n != 22 || reported != m.ObjectSize {
		t.Fatalf("RestoreAccount = %d, %v (progress %d of %d)", n, err, reported, m.ObjectSize)
	}
	after, _ := accounts.SnapshotAccountItems(ctx, "acme")
	if len(after) != len(stored) {
		t.Fatalf("restored %d items, had %d", len(after), len(stored))
	}
	for i := range after {
		if !bytes.Equal(after[i].Ciphertext, stored[i].Ciphertext) || after[i].Key != stored[i].Key || !after[i].UpdatedAt.Equal(stored[i].UpdatedAt) {
			t.Errorf("item %d restored as %+v, was %+v", i, after[i], stored[i])
		}
	}
	if got := plaintexts(t, accounts, km, "acme"); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("restored data = %v, want %v", got, before)
	}
	if _, err := b.Restore(ctx, m, nil, nil); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("restoring an account backup as logs = %v", err)
	}

	// Damage is found, and a damaged backup restores nothing.
	tampered := *m
	tampered.Records = 21
	if err := b.Verify(ctx, &tampered); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("a manifest with the wrong count = %v", err)
	}
	other := *m
	other.Account = "empty"
	if err := b.Verify(ctx, &other); err == nil {
		t.Error("a backup verified as another account's")
	}
	damaged := bytes.Clone(obj.Bytes())
	damaged[len(damaged)/2] ^= 0x01
	target.Put(ctx, m.Object, bytes.NewReader(damaged))
	put(t, accounts, km, "acme", slokeeper.ItemData, "k01", "kept", c.Now().Add(2*time.Hour))
	if _, err := b.RestoreAccount(ctx, m, nil); err == nil {
		t.Error("a flipped bit restored")
	}
	if got := plaintexts(t, accounts, km, "acme")["data/k01"]; got != "kept" {
		t.Errorf("a failed restore changed the data: k01 = %q", got)
	}
	target.Put(ctx, m.Object, bytes.NewReader(obj.Bytes()))

	// Destroying the account's key shreds the backup.
	if err := km.DestroyAccountKey(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(ctx, m); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("Verify after the key was destroyed = %v, want ENOTFOUND (shredded)", err)
	}
	if _, err := b.RestoreAccount(ctx, m, nil); err == nil {
		t.Error("a backup restored after its account's key was destroyed")
	}
	if _, err := b.Erase(ctx, m); err != nil {
		t.Fatal(err)
	}
	if ms, _ := b.Manifests(ctx); len(ms) != 1 || ms[0].ID != empty.ID {
		t.Errorf("after erasing, manifests = %+v", ms)
	}
}

// TestAccountBackupCompressed: a snapshot is compressed before it is
// encrypted. Item ciphertexts do not compress, but the snapshot carries
// them base64-encoded, a third larger, which compression takes back.
func TestAccountBackupCompressed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := &clock{now: time.Date(2026, 12, 4, 3, 0, 0, 0, tokyo)}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	accounts, km := sqlite.NewAccountService(db), sealer(t, dir)
	accounts.CreateAccount(ctx, &slokeeper.Account{ID: "acme", Name: "acme", CreatedAt: c.Now()})
	var ciphertext int
	for i := range 8 {
		put(t, accounts, km, "acme", slokeeper.ItemData, fmt.Sprintf("blob-%d", i), strings.Repeat("x", 60<<10), c.Now())
	}
	items, _ := accounts.SnapshotAccountItems(ctx, "acme")
	for _, it := range items {
		ciphertext += len(it.Ciphertext)
	}
	target, err := blob.OpenDir(filepath.Join(dir, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := backup.New(backup.Config{Target: target, Sealer: km, Accounts: accounts, Crypto: km, Clock: c}).BackupAccount(ctx, "acme", "2026-12-03")
	if err != nil {
		t.Fatal(err)
	}
	if m.Compression != "zstd" || float64(m.ObjectSize) > 1.1*float64(ciphertext) {
		t.Errorf("a snapshot of %d bytes of ciphertext is a %d-byte object (%s); base64 alone would make it %d", ciphertext, m.ObjectSize, m.Compression, ciphertext*4/3)
	}
}
