package blob_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

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
