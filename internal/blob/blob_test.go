package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/blob"
)

// runConformance is what every backup target must do alike.
func runConformance(t *testing.T, s slokeeper.BlobStore) {
	ctx := context.Background()
	big := make([]byte, 20<<20+123) // several parts in S3 multipart
	rand.Read(big)
	objects := map[string][]byte{
		"logs/system/2026-12/2026-12-03.seg": []byte("sealed partition"),
		"logs/exec/2026-12/2026-12-03.seg":   big,
		"userdata/2026-12-03/acct-1.enc":     {},
	}
	for key, data := range objects {
		info, err := s.Put(ctx, key, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
		if info.Size != int64(len(data)) || info.Key != key {
			t.Errorf("Put %s = %+v, want size %d", key, info, len(data))
		}
	}
	for key, data := range objects {
		r, err := s.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get %s: %v", key, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Get %s: %d bytes, %v; not byte-identical to the %d put", key, len(got), err, len(data))
		}
	}
	// Overwrite.
	s.Put(ctx, "logs/system/2026-12/2026-12-03.seg", strings.NewReader("v2"))
	if info, err := s.Stat(ctx, "logs/system/2026-12/2026-12-03.seg"); err != nil || info.Size != 2 {
		t.Errorf("after overwrite: %+v %v", info, err)
	}
	list, err := s.List(ctx, "logs/")
	if err != nil || len(list) != 2 || list[0].Key != "logs/exec/2026-12/2026-12-03.seg" || list[1].Key != "logs/system/2026-12/2026-12-03.seg" {
		t.Errorf("List logs/ = %+v, %v", list, err)
	}
	if all, _ := s.List(ctx, ""); len(all) != 3 {
		t.Errorf("List all = %d objects, want 3", len(all))
	}
	// A Put that fails part-way leaves nothing.
	_, err = s.Put(ctx, "logs/exec/2026-12/broken.seg", io.MultiReader(strings.NewReader("half"), errReader{}))
	if err == nil {
		t.Error("a failing reader did not fail the Put")
	}
	if _, err := s.Stat(ctx, "logs/exec/2026-12/broken.seg"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("a failed Put left an object: %v", err)
	}
	if l, _ := s.List(ctx, "logs/exec/"); len(l) != 1 {
		t.Errorf("after a failed Put, logs/exec/ lists %+v", l)
	}
	// Missing objects, bad keys, deletes.
	if _, err := s.Get(ctx, "nope"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("Get missing = %v", err)
	}
	for _, bad := range []string{"", "/abs", "a/../b", "a//b", `a\b`, "x.tmp"} {
		if _, err := s.Put(ctx, bad, strings.NewReader("x")); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
			t.Errorf("Put %q = %v, want EINVALID", bad, err)
		}
	}
	if err := s.Delete(ctx, "userdata/2026-12-03/acct-1.enc"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "userdata/2026-12-03/acct-1.enc"); err != nil {
		t.Errorf("deleting a missing object = %v, want nil", err)
	}
	if _, err := s.Stat(ctx, "userdata/2026-12-03/acct-1.enc"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("after Delete: %v", err)
	}
	// Purge: the one copy of a target without versions.
	if p, err := s.Purge(ctx, "logs/exec/2026-12/2026-12-03.seg"); err != nil || p.Deleted != 1 || p.Kept != 0 {
		t.Errorf("Purge = %+v, %v; want 1 deleted", p, err)
	}
	if p, err := s.Purge(ctx, "logs/exec/2026-12/2026-12-03.seg"); err != nil || p.Deleted != 0 {
		t.Errorf("Purge of a missing object = %+v, %v", p, err)
	}
	if p, err := s.Protection(ctx); err != nil || p != (slokeeper.BlobProtection{}) {
		t.Errorf("Protection = %+v, %v; want none", p, err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk gone") }

func TestDir(t *testing.T) {
	d, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runConformance(t, d)
}

// TestDirRemoveLeftovers: the temporary files a killed Put leaves are
// removed once last written before the bound; objects, and temporary
// files written since, stay.
func TestDirRemoveLeftovers(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, err := blob.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(ctx, "logs/exec/2026-12-03/bk_1.seg.enc", bytes.NewReader([]byte("whole"))); err != nil {
		t.Fatal(err)
	}
	bound := time.Now()
	for name, modified := range map[string]time.Time{
		"logs/exec/2026-12-03/bk_2.seg.enc.111.tmp": bound.Add(-time.Hour),
		"manifests/logs/exec/bk_2.json.222.tmp":     bound.Add(-time.Minute),
		"logs/exec/2026-12-03/bk_3.seg.enc.333.tmp": bound.Add(time.Minute), // being written
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, modified, modified)
	}
	removed, err := d.RemoveLeftovers(ctx, bound)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range removed {
		keys = append(keys, r.Key)
		if r.Size != 4 {
			t.Errorf("removed %s of %d bytes, want 4", r.Key, r.Size)
		}
	}
	if got := strings.Join(keys, " "); got != "logs/exec/2026-12-03/bk_2.seg.enc.111.tmp manifests/logs/exec/bk_2.json.222.tmp" {
		t.Errorf("removed %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "logs/exec/2026-12-03/bk_3.seg.enc.333.tmp")); err != nil {
		t.Errorf("a temporary file written after the bound was removed: %v", err)
	}
	if _, err := d.Stat(ctx, "logs/exec/2026-12-03/bk_1.seg.enc"); err != nil {
		t.Errorf("an object was removed: %v", err)
	}
}
