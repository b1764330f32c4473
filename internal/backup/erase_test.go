package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/blob"
	"slokeeper/internal/blob/blobtest"
	"slokeeper/internal/keys"
	"slokeeper/internal/logstore"
	"slokeeper/internal/sqlite"

	"github.com/minio/minio-go/v7"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/streamingaead"
)

// eraseFixture is a log backup and two snapshots of a live account, on
// target, under one key store.
type eraseFixture struct {
	target      slokeeper.BlobStore
	km          *keys.Manager
	b           *backup.Backups
	logs, snap  *backup.Manifest
	otherSnap   *backup.Manifest
	dir         string
	clock       *clock
	accountData *sqlite.AccountService
	logStore    *logstore.Store
}

func newEraseFixture(t *testing.T, target slokeeper.BlobStore) *eraseFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	c := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)}
	logs := store(t, filepath.Join(dir, "node"), c)
	recs := make([]slokeeper.LogRecord, 300)
	for j := range recs {
		recs[j] = slokeeper.LogRecord{Account: "acct-1", SourceKind: "device", SourceID: "dev-1", Level: "info", Message: fmt.Sprintf("reading %d", j)}
	}
	logs.AppendLogs(ctx, "exec", recs, "")
	c.Set(time.Date(2026, 12, 4, 1, 0, 0, 0, tokyo))
	if _, err := logs.SealDue(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	accounts, km := sqlite.NewAccountService(db), sealer(t, dir)
	accounts.CreateAccount(ctx, &slokeeper.Account{ID: "acme", Name: "acme", CreatedAt: c.Now()})
	put(t, accounts, km, "acme", slokeeper.ItemData, "k01", "customer secret", c.Now())
	f := &eraseFixture{target: target, km: km, dir: dir, clock: c, accountData: accounts, logStore: logs,
		b: backup.New(backup.Config{Target: target, Logs: logs, Sealer: km, Accounts: accounts, Crypto: km, Clock: c})}
	if f.logs, err = f.b.BackupPartition(ctx, "exec", "2026-12-03"); err != nil {
		t.Fatal(err)
	}
	if f.snap, err = f.b.BackupAccount(ctx, "acme", "2026-12-03"); err != nil {
		t.Fatal(err)
	}
	if f.otherSnap, err = f.b.BackupAccount(ctx, "acme", "2026-12-04"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*backup.Manifest{f.logs, f.snap, f.otherSnap} {
		if err := f.b.Verify(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// unreadable fails the test if a copy of m's object decrypts, with its
// manifest as copied (or m), with any key the key store still holds: the
// copy is put on a fresh directory and verified under every backup key
// left, and as a backup whose key was in its manifest.
func (f *eraseFixture) unreadable(t *testing.T, m *backup.Manifest, object []byte) {
	t.Helper()
	ctx := context.Background()
	aside, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	aside.Put(ctx, m.Object, bytes.NewReader(object))
	b := backup.New(backup.Config{Target: aside, Sealer: f.km, Accounts: f.accountData, Crypto: f.km, Clock: f.clock})
	ids, err := f.km.BackupKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range append(ids, m.KeyID, "") {
		try := *m
		try.KeyID = id
		err := b.Verify(ctx, &try)
		if err == nil {
			t.Errorf("a copy of erased backup %s left on the target decrypts with key %q", m.ID, id)
		}
		if id == m.KeyID && err != nil && !strings.Contains(err.Error(), "destroyed") {
			t.Errorf("the erased backup's own key: %v, want it destroyed", err)
		}
	}
}

func readAll(t *testing.T, target slokeeper.BlobStore, key string) []byte {
	t.Helper()
	r, err := target.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return b
}

// TestEraseDestroysKeyDir: on a directory, a backup's key lives in the key
// store, never in its manifest; erasing it destroys the key and deletes
// object and manifest, and a copy of the object taken before does not
// decrypt. Erasing one snapshot leaves the account's others readable.
func TestEraseDestroysKeyDir(t *testing.T) {
	ctx := context.Background()
	target, err := blob.OpenDir(filepath.Join(t.TempDir(), "backups"))
	if err != nil {
		t.Fatal(err)
	}
	f := newEraseFixture(t, target)
	for _, m := range []*backup.Manifest{f.logs, f.snap} {
		raw := readAll(t, target, m.Key())
		var fields map[string]any
		json.Unmarshal(raw, &fields)
		if _, ok := fields["wrapped_key"]; ok || fields["key_id"] != m.ID {
			t.Errorf("manifest %s holds %v; want a key_id and no wrapped key", m.ID, fields)
		}
		object := readAll(t, target, m.Object)
		e, err := f.b.Erase(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if !e.KeyDestroyed || e.Deleted != 2 || e.Kept != 0 || e.Detail() != "key destroyed; 2 versions deleted from the target" {
			t.Errorf("Erase = %+v (%s)", e, e.Detail())
		}
		f.unreadable(t, m, object)
		if _, err := target.Stat(ctx, m.Object); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
			t.Errorf("the object is still there: %v", err)
		}
		// An erase that crashed after the key goes again.
		if e, err := f.b.Erase(ctx, m); err != nil || !e.KeyDestroyed || e.Deleted != 0 {
			t.Errorf("erasing again = %+v, %v", e, err)
		}
	}
	if err := f.b.Verify(ctx, f.otherSnap); err != nil {
		t.Errorf("the account's other snapshot after one was erased: %v", err)
	}
	if n, err := f.b.RestoreAccount(ctx, f.otherSnap, nil); err != nil || n != 1 {
		t.Errorf("RestoreAccount of the other snapshot = %d, %v", n, err)
	}
	// Destroying the account's key still shreds every snapshot it has.
	f.km.DestroyAccountKey(ctx, "acme")
	if err := f.b.Verify(ctx, f.otherSnap); err == nil {
		t.Error("a snapshot verified after its account's key was destroyed")
	}
}

// bucketVersions returns every version of key, straight from the bucket,
// with its content (nil for a delete marker).
func bucketVersions(t *testing.T, url, key string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	core, bucket, prefix := blobtest.S3Core(t, url)
	out := map[string][]byte{}
	for o := range core.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix + key, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if o.Key != prefix+key {
			continue
		}
		if o.IsDeleteMarker {
			out[o.VersionID] = nil
			continue
		}
		r, err := core.Client.GetObject(ctx, bucket, o.Key, minio.GetObjectOptions{VersionID: o.VersionID})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[o.VersionID] = b
	}
	return out
}

// TestEraseVersioned: on a versioned bucket an erased log backup and an
// erased snapshot of a live account leave no version behind, and what a
// copy taken before holds does not decrypt; the evidence counts the
// versions deleted.
func TestEraseVersioned(t *testing.T) {
	ctx := context.Background()
	url := blobtest.S3ServerWith(t, blobtest.S3Options{Versioning: true})
	target, err := blob.OpenS3(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	f := newEraseFixture(t, target)
	for _, m := range []*backup.Manifest{f.logs, f.snap} {
		object := readAll(t, target, m.Object)
		// A catalog rebuild rewrote the manifest once: two versions of it.
		target.Put(ctx, m.Key(), bytes.NewReader(readAll(t, target, m.Key())))
		e, err := f.b.Erase(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if !e.KeyDestroyed || e.Deleted != 3 || e.Kept != 0 || e.Detail() != "key destroyed; 3 versions deleted from the target" {
			t.Errorf("Erase = %+v (%s); want the key destroyed and 3 versions deleted", e, e.Detail())
		}
		for _, key := range []string{m.Object, m.Key()} {
			if vs := bucketVersions(t, url, key); len(vs) != 0 {
				t.Errorf("the bucket keeps %d versions of %s", len(vs), key)
			}
		}
		f.unreadable(t, m, object)
	}
	if err := f.b.Verify(ctx, f.otherSnap); err != nil {
		t.Errorf("the account's other snapshot: %v", err)
	}
}

// TestEraseObjectLocked: on an object-locked bucket the versions stay
// until their retention ends; erase destroys the key anyway, says the
// copies remain locked until when and are unreadable, and none of the
// versions left, listed straight from the bucket, decrypts.
func TestEraseObjectLocked(t *testing.T) {
	ctx := context.Background()
	url := blobtest.S3ServerWith(t, blobtest.S3Options{LockDays: 30})
	target, err := blob.OpenS3(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	f := newEraseFixture(t, target)
	for _, m := range []*backup.Manifest{f.logs, f.snap} {
		e, err := f.b.Erase(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		soon, late := time.Now().AddDate(0, 0, 30).Add(-time.Hour), time.Now().AddDate(0, 0, 30).Add(time.Hour)
		if !e.KeyDestroyed || e.Kept != 2 || e.LockedUntil.Before(soon) || e.LockedUntil.After(late) {
			t.Errorf("Erase = %+v; want the key destroyed, 2 versions kept until about 30 days from now", e)
		}
		want := fmt.Sprintf("the target keeps 2 versions (object lock until %s): the copies left are unreadable", e.LockedUntil.UTC().Format(time.RFC3339))
		if !strings.HasPrefix(e.Detail(), "key destroyed; ") || !strings.HasSuffix(e.Detail(), want) {
			t.Errorf("evidence %q; want it to end %q", e.Detail(), want)
		}
		if _, err := target.Stat(ctx, m.Object); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
			t.Errorf("the erased object still appears: %v", err)
		}
		var left int
		for _, body := range bucketVersions(t, url, m.Object) {
			if body != nil {
				left++
				f.unreadable(t, m, body)
			}
		}
		for _, body := range bucketVersions(t, url, m.Key()) {
			if body != nil && (bytes.Contains(body, []byte("wrapped_key")) || !bytes.Contains(body, []byte(`"key_id"`))) {
				t.Errorf("a manifest version left holds key material: %s", body)
			}
		}
		if left != 1 {
			t.Errorf("%d locked versions of the object left, want 1", left)
		}
	}
}

// TestVersion1BackupStillReads: a backup made before backup keys, its key
// sealed by the master key in its manifest, still verifies; erasing it
// says its key was in its manifest.
func TestVersion1BackupStillReads(t *testing.T) {
	ctx := context.Background()
	target, err := blob.OpenDir(filepath.Join(t.TempDir(), "backups"))
	if err != nil {
		t.Fatal(err)
	}
	f := newEraseFixture(t, target)
	// The partition written as version 1 did: under a key of its own,
	// sealed by the master key into the manifest.
	m := *f.logs
	m.Version, m.KeyID, m.ID = 1, "", "bk_version1"
	m.Object = strings.Replace(m.Object, f.logs.ID, m.ID, 1)
	kh, err := keyset.NewHandle(streamingaead.AES256GCMHKDF1MBKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	var clear bytes.Buffer
	insecurecleartextkeyset.Write(kh, keyset.NewBinaryWriter(&clear))
	wrapped, err := f.km.SealSystem(clear.Bytes(), []byte("slokeeper backup key\x00"+m.ID))
	if err != nil {
		t.Fatal(err)
	}
	m.WrappedKey = base64.StdEncoding.EncodeToString(wrapped)
	sa, _ := streamingaead.New(kh)
	var obj bytes.Buffer
	w, _ := sa.NewEncryptingWriter(&obj, []byte("slokeeper backup\x00"+m.ID))
	if _, err := f.logStore.Export(ctx, "exec", "2026-12-03", w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	sum := sha256.Sum256(obj.Bytes())
	m.ObjectSize, m.ObjectSHA256 = int64(obj.Len()), hex.EncodeToString(sum[:])
	target.Put(ctx, m.Object, bytes.NewReader(obj.Bytes()))
	body, _ := json.Marshal(&m)
	target.Put(ctx, m.Key(), bytes.NewReader(body))
	if err := f.b.Verify(ctx, &m); err != nil {
		t.Fatalf("a version-1 backup: %v", err)
	}
	e, err := f.b.Erase(ctx, &m)
	if err != nil || e.KeyDestroyed || e.Deleted != 2 || !strings.HasPrefix(e.Detail(), "a backup from before backup keys (its key was in its manifest); 2 versions deleted") {
		t.Errorf("Erase = %+v (%s), %v", e, e.Detail(), err)
	}
}

// TestVersion1LockedEvidence: the evidence of a version-1 backup erased
// on an object-locked target says its locked copies stay readable, and
// stay after the lock ends: an erase runs once, and nothing comes back to
// delete them then.
func TestVersion1LockedEvidence(t *testing.T) {
	until := time.Date(2027, 1, 5, 3, 0, 0, 0, time.UTC)
	e := backup.Erasure{Kept: 2, LockedUntil: until}
	want := "a backup from before backup keys (its key was in its manifest); 0 versions deleted from the target; " +
		"the target keeps 2 versions (object lock until 2027-01-05T03:00:00Z), readable with the master key (a snapshot's: with the account's key) " +
		"and left on the target after the lock ends, unless the bucket's lifecycle rules remove them"
	if got := e.Detail(); got != want {
		t.Errorf("evidence\n%s\nwant\n%s", got, want)
	}
}
