package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/blob"
	"slokeeper/internal/blob/blobtest"
	"slokeeper/internal/keys"
	"slokeeper/internal/logstore"
	"slokeeper/internal/sqlite"
)

var tokyo, _ = time.LoadLocation("Asia/Tokyo")

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// store opens a log store with its own database in dir.
func store(t testing.TB, dir string, c *clock) *logstore.Store {
	t.Helper()
	os.MkdirAll(dir, 0o700)
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := logstore.Open(context.Background(), logstore.Config{Dir: filepath.Join(dir, "logs"), Catalog: sqlite.NewLogCatalog(db), Location: tokyo, Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sealer(t testing.TB, dir string) *keys.Manager {
	t.Helper()
	ks, err := sqlite.OpenKeyStore(context.Background(), filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	m, err := keys.Open(filepath.Join(dir, "master.key"), ks)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func export(t *testing.T, s *logstore.Store) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := s.Export(context.Background(), "exec", "2026-12-03", &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBackupDir(t *testing.T) {
	dir := t.TempDir()
	target, err := blob.OpenDir(filepath.Join(dir, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	testBackup(t, target, filepath.Join(dir, "backups"))
}

func TestBackupS3(t *testing.T) {
	target, err := blob.OpenS3(context.Background(), blobtest.S3Server(t))
	if err != nil {
		t.Fatal(err)
	}
	testBackup(t, target, "")
}

func testBackup(t *testing.T, target slokeeper.BlobStore, onDisk string) {
	ctx := context.Background()
	dir := t.TempDir()
	c := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)}
	logs := store(t, filepath.Join(dir, "node"), c)
	for i := range 50 {
		recs := make([]slokeeper.LogRecord, 200)
		for j := range recs {
			recs[j] = slokeeper.LogRecord{Account: "acct-1", SourceKind: "device", SourceID: fmt.Sprintf("dev-%d", j%7), Level: "info", Message: fmt.Sprintf("温度 %d.%d 度 (plaintext marker)", i, j)}
		}
		logs.AppendLogs(ctx, "exec", recs, "")
	}
	c.Set(time.Date(2026, 12, 4, 1, 0, 0, 0, tokyo))
	if _, err := logs.SealDue(ctx); err != nil {
		t.Fatal(err)
	}
	km := sealer(t, dir)
	b := backup.New(backup.Config{Target: target, Logs: logs, Sealer: km, Clock: c})

	m, err := b.BackupPartition(ctx, "exec", "2026-12-03")
	if err != nil {
		t.Fatal(err)
	}
	if m.Records != 10000 || len(m.Checksum) != 64 || m.ObjectSize == 0 {
		t.Fatalf("manifest = %+v", m)
	}
	if err := b.Verify(ctx, m); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// The object is encrypted: no log text in it.
	r, _ := target.Get(ctx, m.Object)
	var obj bytes.Buffer
	obj.ReadFrom(r)
	r.Close()
	if bytes.Contains(obj.Bytes(), []byte("plaintext marker")) || bytes.Contains(obj.Bytes(), []byte("SKP1")) {
		t.Error("the backup object is not encrypted")
	}

	// The catalog can be rebuilt from the target alone.
	ms, err := b.Manifests(ctx)
	if err != nil || len(ms) != 1 || ms[0].ID != m.ID || ms[0].ObjectSHA256 != m.ObjectSHA256 {
		t.Fatalf("Manifests = %+v, %v", ms, err)
	}

	// Restored elsewhere, it is byte for byte the original partition.
	restored := store(t, filepath.Join(dir, "restore"), c)
	var reported, total int64
	info, err := b.Restore(ctx, ms[0], restored, func(done, all int64) { reported, total = done, all })
	if err != nil {
		t.Fatal(err)
	}
	if reported != m.ObjectSize || total != m.ObjectSize {
		t.Errorf("progress ended at %d of %d, want %d", reported, total, m.ObjectSize)
	}
	if info.Records != 10000 || !bytes.Equal(export(t, restored), export(t, logs)) {
		t.Error("the restored partition is not byte-identical to the original")
	}

	// Damage is found.
	tampered := *m
	tampered.Records = 9999
	if err := b.Verify(ctx, &tampered); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("a manifest with the wrong count = %v", err)
	}
	damaged := obj.Bytes()
	damaged[len(damaged)/2] ^= 0x01
	target.Put(ctx, m.Object, bytes.NewReader(damaged))
	if err := b.Verify(ctx, m); err == nil || !strings.Contains(err.Error(), m.ID) {
		t.Errorf("a flipped bit in the object = %v", err)
	}
	target.Put(ctx, m.Object, bytes.NewReader(obj.Bytes()[:obj.Len()/2]))
	if err := b.Verify(ctx, m); err == nil {
		t.Error("a truncated object verified")
	}
	if onDisk != "" {
		if _, err := os.Stat(filepath.Join(onDisk, filepath.FromSlash(m.Object))); err != nil {
			t.Errorf("object not where the manifest says: %v", err)
		}
	}
}
