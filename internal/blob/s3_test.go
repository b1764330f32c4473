package blob_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/blob"
	"slokeeper/internal/blob/blobtest"

	"github.com/minio/minio-go/v7"
)

func TestS3(t *testing.T) {
	s, err := blob.OpenS3(context.Background(), blobtest.S3Server(t))
	if err != nil {
		t.Fatal(err)
	}
	runConformance(t, s)
}

func TestOpenS3Errors(t *testing.T) {
	for _, bad := range []string{"http://host/bucket", "s3:///bucket", "s3://host/"} {
		if _, err := blob.OpenS3(context.Background(), bad); err == nil {
			t.Errorf("OpenS3(%q) succeeded", bad)
		}
	}
}

// TestS3RemoveLeftovers: a Put killed mid-way leaves an incomplete
// multipart upload; it is aborted once begun before the bound, and one
// begun after it stays.
func TestS3RemoveLeftovers(t *testing.T) {
	ctx := context.Background()
	url := blobtest.S3Server(t)
	s, err := blob.OpenS3(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	core, bucket, prefix := blobtest.S3Core(t, url)
	if _, err := core.NewMultipartUpload(ctx, bucket, prefix+"logs/exec/2026-12-03/bk_dead.seg.enc", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if removed, err := s.RemoveLeftovers(ctx, time.Now().Add(-time.Hour)); err != nil || len(removed) != 0 {
		t.Errorf("an upload begun after the bound: removed %v, %v", removed, err)
	}
	removed, err := s.RemoveLeftovers(ctx, time.Now().Add(time.Hour))
	if err != nil || len(removed) != 1 || removed[0].Key != "logs/exec/2026-12-03/bk_dead.seg.enc" {
		t.Errorf("removed %+v, %v", removed, err)
	}
	for u := range core.ListIncompleteUploads(ctx, bucket, prefix, true) {
		t.Errorf("still there: %+v", u)
	}
}

// versions lists every version and delete marker of key, straight from
// the bucket.
func versions(t *testing.T, url, key string) []minio.ObjectInfo {
	t.Helper()
	core, bucket, prefix := blobtest.S3Core(t, url)
	var out []minio.ObjectInfo
	for o := range core.Client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix + key, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o)
	}
	return out
}

// TestS3DeleteVersioned: on a versioned bucket, Delete leaves no version
// of the object behind (a RemoveObject without a version only hid it
// behind a delete marker), and Purge says how many it deleted.
func TestS3DeleteVersioned(t *testing.T) {
	ctx := context.Background()
	url := blobtest.S3ServerWith(t, blobtest.S3Options{Versioning: true})
	s, err := blob.OpenS3(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.Protection(ctx); err != nil || !p.Versioning || p.ObjectLock {
		t.Errorf("Protection = %+v, %v; want versioning, no lock", p, err)
	}
	for _, v := range []string{"one", "two"} {
		if _, err := s.Put(ctx, "logs/a.seg", strings.NewReader(v)); err != nil {
			t.Fatal(err)
		}
	}
	s.Put(ctx, "logs/a.seg.more", strings.NewReader("a longer key with the same start"))
	if err := s.Delete(ctx, "logs/a.seg"); err != nil {
		t.Fatal(err)
	}
	if vs := versions(t, url, "logs/a.seg"); len(vs) != 1 || !strings.HasSuffix(vs[0].Key, "a.seg.more") {
		var left []string
		for _, v := range vs {
			left = append(left, v.Key+"@"+v.VersionID)
		}
		t.Errorf("after Delete the bucket keeps %d versions: %v; want only the other key's", len(vs), left)
	}
	s.Put(ctx, "logs/b.seg", strings.NewReader("one"))
	s.Put(ctx, "logs/b.seg", strings.NewReader("two"))
	if p, err := s.Purge(ctx, "logs/b.seg"); err != nil || p.Deleted != 2 || p.Kept != 0 {
		t.Errorf("Purge = %+v, %v; want 2 deleted, none kept", p, err)
	}
	if p, err := s.Purge(ctx, "logs/missing"); err != nil || p.Deleted != 0 {
		t.Errorf("Purge of a missing object = %+v, %v", p, err)
	}
}

// TestS3PurgeLocked: on an object-locked bucket, Purge deletes what it may,
// counts the versions the lock keeps with their retain-until date, and
// hides the object behind a delete marker.
func TestS3PurgeLocked(t *testing.T) {
	ctx := context.Background()
	url := blobtest.S3ServerWith(t, blobtest.S3Options{LockDays: 30})
	s, err := blob.OpenS3(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Protection(ctx)
	if err != nil || !p.Versioning || !p.ObjectLock || p.LockDays != 30 || p.LockMode != "GOVERNANCE" {
		t.Errorf("Protection = %+v, %v; want versioning, lock GOVERNANCE 30 days", p, err)
	}
	before := time.Now().Add(-time.Minute)
	s.Put(ctx, "logs/a.seg", strings.NewReader("locked"))
	got, err := s.Purge(ctx, "logs/a.seg")
	if err != nil {
		t.Fatal(err)
	}
	if got.Kept != 1 || got.LockedUntil.Before(before.AddDate(0, 0, 30)) || got.LockedUntil.After(time.Now().AddDate(0, 0, 30).Add(time.Minute)) {
		t.Errorf("Purge = %+v; want 1 kept, locked until about 30 days from now", got)
	}
	if _, err := s.Stat(ctx, "logs/a.seg"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("the purged object still appears: %v", err)
	}
}

// TestS3ProtectionPlain: a bucket without versioning or lock reports none,
// and Purge deletes its one copy.
func TestS3ProtectionPlain(t *testing.T) {
	ctx := context.Background()
	url := blobtest.S3Server(t)
	s, err := blob.OpenS3(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.Protection(ctx); err != nil || p != (slokeeper.BlobProtection{}) {
		t.Errorf("Protection = %+v, %v; want none", p, err)
	}
	s.Put(ctx, "logs/a.seg", strings.NewReader("x"))
	if p, err := s.Purge(ctx, "logs/a.seg"); err != nil || p.Deleted != 1 {
		t.Errorf("Purge = %+v, %v", p, err)
	}
	if vs := versions(t, url, "logs/a.seg"); len(vs) != 0 {
		t.Errorf("left %+v", vs)
	}
}

// TestS3PrivateCA: an endpoint whose certificate comes from a private CA
// is refused against the system's CAs and accepted with its CA.
func TestS3PrivateCA(t *testing.T) {
	ctx := context.Background()
	url, caPEM := blobtest.S3ServerTLS(t)
	if _, err := blob.OpenS3(ctx, url); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("OpenS3 without the CA: %v, want a certificate error", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	s, err := blob.OpenS3(ctx, url, blob.S3Options{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "manifests/x.json", strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "manifests/x.json"); err != nil {
		t.Fatal(err)
	}
}
