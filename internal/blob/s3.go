package blob

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"slokeeper"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a backup target in an S3-compatible object store.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string // key prefix inside the bucket, "" or ending in "/"
	name   string // the URL, its password redacted
}

var _ slokeeper.BlobStore = (*S3)(nil)

// S3Options are OpenS3's options.
type S3Options struct {
	// RootCAs, if set, are the only CAs the endpoint's certificate is
	// checked against (a private CA); default the system's.
	RootCAs *x509.CertPool
}

// S3PartSize is the size of the parts a Put streams its object in: what
// it buffers, whatever the object's size (minio-go's unknown-size path
// would otherwise buffer 537 MiB, its part for a 5 TiB object). Objects
// up to 10,000 parts, 160 GiB, can be written. BenchmarkS3Put chose it:
// as fast as 64 MiB parts or a spooled file, for 17-25 MiB of heap.
const S3PartSize = 16 << 20

// OpenS3 opens the target named by a URL: s3://host[:port]/bucket[/prefix],
// with ?tls=false for a plain-HTTP endpoint and ?region=. Credentials come
// from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or from the URL's
// user:password. The bucket must exist. TLS is 1.2 or later.
func OpenS3(ctx context.Context, rawURL string, opts ...S3Options) (*S3, error) {
	s, err := NewS3(rawURL, opts...)
	if err != nil {
		return nil, err
	}
	if err := s.Check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// NewS3 returns the target named by a URL, as OpenS3 does, without
// contacting it: for a server that must start while its target is
// unreachable. Check tells whether the target is there.
func NewS3(rawURL string, opts ...S3Options) (*S3, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "An S3 target looks like s3://host:9000/bucket/prefix.")
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if bucket == "" {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The S3 target names no bucket.")
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	access, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if u.User != nil {
		access = u.User.Username()
		secret, _ = u.User.Password()
	}
	var opt S3Options
	if len(opts) > 0 {
		opt = opts[0]
	}
	secure := u.Query().Get("tls") != "false"
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("S3 target %s: %w", u.Redacted(), err)
	}
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opt.RootCAs}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(access, secret, ""),
		Secure:    secure,
		Region:    u.Query().Get("region"),
		Transport: transport,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 target %s: %w", u.Redacted(), err)
	}
	return &S3{client: client, bucket: bucket, prefix: prefix, name: u.Redacted()}, nil
}

// Check reports whether the target answers and its bucket exists
// (ENOTFOUND if it does not).
func (s *S3) Check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("S3 target %s: %w", s.name, err)
	}
	if !ok {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "The S3 bucket %q does not exist.", s.bucket)
	}
	return nil
}

func s3Error(key string, err error) error {
	if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NotFound" {
		return notFound(key)
	}
	return fmt.Errorf("S3 %s: %w", key, err)
}

// Put uploads the object, streamed in parts of S3PartSize (one request
// when it is smaller); S3 makes it visible only once complete.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (slokeeper.BlobInfo, error) {
	return s.PutPartSize(ctx, key, r, -1, S3PartSize)
}

// PutPartSize uploads the object of size (-1: unknown) in parts of
// partSize (0: minio-go's choice for the size). Put is it with S3PartSize;
// the benchmark compares the choices.
func (s *S3) PutPartSize(ctx context.Context, key string, r io.Reader, size int64, partSize uint64) (slokeeper.BlobInfo, error) {
	if err := CheckKey(key); err != nil {
		return slokeeper.BlobInfo{}, err
	}
	info, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, r, size, minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: partSize})
	if err != nil {
		return slokeeper.BlobInfo{}, s3Error(key, err)
	}
	return slokeeper.BlobInfo{Key: key, Size: info.Size, Modified: info.LastModified}, nil
}

// Get opens an object.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := s.Stat(ctx, key); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Error(key, err)
	}
	return obj, nil
}

// Stat describes an object.
func (s *S3) Stat(ctx context.Context, key string) (slokeeper.BlobInfo, error) {
	if err := CheckKey(key); err != nil {
		return slokeeper.BlobInfo{}, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return slokeeper.BlobInfo{}, s3Error(key, err)
	}
	return slokeeper.BlobInfo{Key: key, Size: info.Size, Modified: info.LastModified}, nil
}

// List returns the objects under prefix, by key.
func (s *S3) List(ctx context.Context, prefix string) ([]slokeeper.BlobInfo, error) {
	var out []slokeeper.BlobInfo
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, s3Error(prefix, obj.Err)
		}
		out = append(out, slokeeper.BlobInfo{Key: strings.TrimPrefix(obj.Key, s.prefix), Size: obj.Size, Modified: obj.LastModified})
	}
	return out, nil
}

// Delete removes an object and every version of it the bucket allows
// deleting (Purge).
func (s *S3) Delete(ctx context.Context, key string) error {
	_, err := s.Purge(ctx, key)
	return err
}

// Purge removes every version of an object, and every delete marker: a
// RemoveObject without a version on a versioned bucket only hides the data
// behind a new marker. A version that object lock protects is kept and
// counted, with its retain-until date; a delete marker is then left on
// top, so the object no longer appears. On a bucket that never had
// versioning the listing shows the object alone, with the version "null".
func (s *S3) Purge(ctx context.Context, key string) (slokeeper.BlobPurge, error) {
	var p slokeeper.BlobPurge
	if err := CheckKey(key); err != nil {
		return p, err
	}
	ctx, cancel := context.WithCancel(ctx) // stops the listing if we return early
	defer cancel()
	name := s.prefix + key
	var versions []minio.ObjectInfo
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: name, Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			return p, s3Error(key, obj.Err)
		}
		if obj.Key == name { // the prefix also matches longer keys
			versions = append(versions, obj)
		}
	}
	var prot *slokeeper.BlobProtection // asked for once, if a deletion is refused
	for _, v := range versions {
		id := v.VersionID
		if id == "null" { // the object of a bucket without versions
			id = ""
		}
		err := s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{VersionID: id})
		if err == nil {
			p.Deleted++
			continue
		}
		if prot == nil {
			got, perr := s.Protection(ctx)
			if perr != nil {
				return p, perr
			}
			prot = &got
		}
		if !prot.ObjectLock || minio.ToErrorResponse(err).Code != "AccessDenied" {
			return p, s3Error(key, err)
		}
		p.Kept++
		until := v.LastModified.AddDate(0, 0, prot.LockDays) // the bucket's default retention
		if _, u, err := s.client.GetObjectRetention(ctx, s.bucket, name, v.VersionID); err == nil && u != nil {
			until = *u // a retention of its own
		}
		if until.After(p.LockedUntil) {
			p.LockedUntil = until
		}
	}
	if p.Kept > 0 {
		// Hide what is locked: a marker without a version on top.
		if err := s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil {
			return p, s3Error(key, err)
		}
	}
	return p, nil
}

// Protection reports the bucket's versioning and object lock, with the
// default retention of new objects.
func (s *S3) Protection(ctx context.Context) (slokeeper.BlobProtection, error) {
	var p slokeeper.BlobProtection
	vc, err := s.client.GetBucketVersioning(ctx, s.bucket)
	if err != nil {
		return p, fmt.Errorf("S3 bucket %s: versioning: %w", s.bucket, err)
	}
	p.Versioning = vc.Status == "Enabled" || vc.Status == "Suspended"
	enabled, mode, validity, unit, err := s.client.GetObjectLockConfig(ctx, s.bucket)
	if err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "ObjectLockConfigurationNotFoundError" || r.StatusCode == 404 {
			return p, nil
		}
		return p, fmt.Errorf("S3 bucket %s: object lock: %w", s.bucket, err)
	}
	p.ObjectLock = enabled == "Enabled"
	if mode != nil {
		p.LockMode = string(*mode)
	}
	if validity != nil && unit != nil {
		p.LockDays = int(*validity)
		if *unit == minio.Years {
			p.LockDays *= 365
		}
	}
	return p, nil
}

// RemoveLeftovers aborts the multipart uploads of Puts that never
// completed (the process died) and began before before. An object store
// tells when an upload began, not when it was last written: the bound
// must leave more time than the longest backup upload takes.
func (s *S3) RemoveLeftovers(ctx context.Context, before time.Time) ([]slokeeper.BlobInfo, error) {
	ctx, cancel := context.WithCancel(ctx) // stops the listing if we return early
	defer cancel()
	core := minio.Core{Client: s.client}
	var out []slokeeper.BlobInfo
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, s.prefix, true) {
		if u.Err != nil {
			return out, s3Error(s.prefix, u.Err)
		}
		if !u.Initiated.Before(before) {
			continue
		}
		if err := core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID); err != nil {
			return out, s3Error(u.Key, err)
		}
		out = append(out, slokeeper.BlobInfo{Key: strings.TrimPrefix(u.Key, s.prefix), Size: u.Size, Modified: u.Initiated})
	}
	return out, nil
}
