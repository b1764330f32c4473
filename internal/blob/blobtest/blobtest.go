// Package blobtest starts a real S3 server for tests.
package blobtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
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
	return startS3(t, o, nil)
}

// S3ServerTLS is S3Server serving HTTPS with a certificate for 127.0.0.1
// from a CA of its own, which it returns (PEM) with the target's URL.
func S3ServerTLS(t testing.TB) (url string, caPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slokeeper test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return startS3(t, S3Options{}, &tlsFiles{certFile, keyFile, pool}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

type tlsFiles struct {
	cert, key string
	pool      *x509.CertPool
}

func startS3(t testing.TB, o S3Options, tf *tlsFiles) string {
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
	args := []string{"--access", access, "--secret", secret, "--port", addr}
	opts := &minio.Options{Creds: credentials.NewStaticV4(access, secret, "")}
	if tf != nil {
		args = append(args, "--cert", tf.cert, "--key", tf.key)
		opts.Secure, opts.Transport = true, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tf.pool, MinVersion: tls.VersionTLS12}}
	}
	args = append(args, "posix")
	if o.Versioning || o.LockDays > 0 {
		args = append(args, "--versioning-dir", t.TempDir())
	}
	cmd := exec.Command(bin, append(args, root)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	client, _ := minio.New(addr, opts)
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
	if tf != nil {
		return fmt.Sprintf("s3://%s:%s@%s/backups/slokeeper", access, secret, addr)
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
