// Package blobtest starts a real S3 server for tests.
package blobtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Server starts the Versity S3 Gateway over a temporary directory on a
// free loopback port, with a bucket, and returns the target's URL. Without
// versitygw the test is skipped, except under CI=true, where
// scripts/ensure-services installs it.
func S3Server(t testing.TB) string {
	t.Helper()
	return S3ServerWith(t, S3Options{})
}

// S3Options says what the bucket S3ServerWith makes keeps of deleted
// objects.
type S3Options struct {
	Versioning bool // the bucket keeps every version
	// LockDays, if not 0, makes the bucket with object lock (and so
	// versioning) and a default retention of that many days, GOVERNANCE
	// mode: no version can be deleted before then without a bypass.
	LockDays int
}

// S3ServerWith is S3Server with a versioned or object-locked bucket.
func S3ServerWith(t testing.TB, o S3Options) string {
	t.Helper()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		if p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw"); fileExists(p) {
			bin, err = p, nil
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("versitygw is required under CI=true (scripts/ensure-services installs it)")
		}
		t.Skip("versitygw not installed: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	root := t.TempDir()
	const access, secret = "slokeeper-test", "slokeeper-test-secret-key"
	args := []string{"--access", access, "--secret", secret, "--port", addr, "posix"}
	if o.Versioning || o.LockDays > 0 {
		args = append(args, "--versioning-dir", t.TempDir())
	}
	cmd := exec.Command(bin, append(args, root)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	client, _ := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(access, secret, "")})
	for deadline := time.Now().Add(20 * time.Second); ; {
		err := client.MakeBucket(context.Background(), "backups", minio.MakeBucketOptions{ObjectLocking: o.LockDays > 0})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not come up on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond) // waiting for the gateway to listen
	}
	ctx := context.Background()
	if o.Versioning {
		if err := client.EnableVersioning(ctx, "backups"); err != nil {
			t.Fatal(err)
		}
	}
	if o.LockDays > 0 {
		mode, days, unit := minio.Governance, uint(o.LockDays), minio.Days
		if err := client.SetObjectLockConfig(ctx, "backups", &mode, &days, &unit); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf("s3://%s:%s@%s/backups/slokeeper?tls=false", access, secret, addr)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// S3Core returns a low-level client on the target S3Server returned, its
// bucket and its key prefix, to make what a test needs by hand (an
// upload that never completes).
func S3Core(t testing.TB, url string) (*minio.Core, string, string) {
	t.Helper()
	rest := strings.TrimPrefix(url, "s3://")
	creds, rest, _ := strings.Cut(rest, "@")
	access, secret, _ := strings.Cut(creds, ":")
	addr, path, _ := strings.Cut(rest, "/")
	path, _, _ = strings.Cut(path, "?")
	bucket, prefix, _ := strings.Cut(path, "/")
	if prefix != "" {
		prefix += "/"
	}
	core, err := minio.NewCore(addr, &minio.Options{Creds: credentials.NewStaticV4(access, secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	return core, bucket, prefix
}
