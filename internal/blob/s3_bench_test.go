package blob_test

import (
	"context"
	"crypto/x509"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"slokeeper"
	"slokeeper/internal/blob"
	"slokeeper/internal/blob/blobtest"
	"slokeeper/internal/heaptest"
)

// benchObjectSize is about a day of logs as the issue measured it (103 MB).
const benchObjectSize = 100_000_000

// BenchmarkS3Put uploads a 100 MB incompressible object (what the backup
// writer's encrypted stream looks like: generated as it is read, never
// whole in memory) to versitygw, over plain HTTP (where minio-go signs
// every chunk's SHA-256) and over HTTPS (unsigned payload), each of the
// ways an upload can be made,
// and reports MB/s and the peak heap above the heap before (sampled every
// millisecond through runtime/metrics, live and unswept objects):
//   - unknown-size: size -1 and PartSize 0, minio-go's own choice, as Put
//     was before (a part, and a buffer, of 537 MiB);
//   - parts-16MiB, parts-64MiB: size -1, streamed in parts of that size;
//   - spool: written to a temporary file, then PutObject with its size
//     (minio-go reads the file in sections, 4 parts at once);
//   - dir: a directory target, for comparison.
func BenchmarkS3Put(b *testing.B) {
	ctx := context.Background()
	plain, err := blob.OpenS3(ctx, blobtest.S3Server(b))
	if err != nil {
		b.Fatal(err)
	}
	tlsURL, caPEM := blobtest.S3ServerTLS(b)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	secure, err := blob.OpenS3(ctx, tlsURL, blob.S3Options{RootCAs: pool})
	if err != nil {
		b.Fatal(err)
	}
	spoolDir := b.TempDir()
	const key = "logs/exec/2026-12-03/bk_bench.seg.enc"
	type putFunc func(r io.Reader) (slokeeper.BlobInfo, error)
	ways := func(s *blob.S3) map[string]putFunc {
		return map[string]putFunc{
			"unknown-size": func(r io.Reader) (slokeeper.BlobInfo, error) { return s.PutPartSize(ctx, key, r, -1, 0) },
			"parts-16MiB":  func(r io.Reader) (slokeeper.BlobInfo, error) { return s.PutPartSize(ctx, key, r, -1, 16<<20) },
			"parts-64MiB":  func(r io.Reader) (slokeeper.BlobInfo, error) { return s.PutPartSize(ctx, key, r, -1, 64<<20) },
			"spool": func(r io.Reader) (slokeeper.BlobInfo, error) {
				f, err := os.CreateTemp(spoolDir, "put-*")
				if err != nil {
					return slokeeper.BlobInfo{}, err
				}
				defer os.Remove(f.Name())
				defer f.Close()
				n, err := io.Copy(f, r)
				if err != nil {
					return slokeeper.BlobInfo{}, err
				}
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return slokeeper.BlobInfo{}, err
				}
				return s.PutPartSize(ctx, key, f, n, 0)
			},
		}
	}
	dir, err := blob.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	put := map[string]putFunc{"dir": func(r io.Reader) (slokeeper.BlobInfo, error) { return dir.Put(ctx, key, r) }}
	var names []string
	for _, t := range []struct {
		name string
		s    *blob.S3
	}{{"http", plain}, {"https", secure}} {
		w := ways(t.s)
		for _, way := range []string{"unknown-size", "parts-16MiB", "parts-64MiB", "spool"} {
			put[t.name+"/"+way] = w[way]
			names = append(names, t.name+"/"+way)
		}
	}
	names = append(names, "dir")

	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(benchObjectSize)
			var peak uint64
			seed := uint64(0)
			for b.Loop() {
				seed++
				var key [32]byte
				key[0] = byte(seed)
				r := io.LimitReader(rand.NewChaCha8(key), benchObjectSize)
				var info slokeeper.BlobInfo
				var err error
				peak = max(peak, heaptest.Peak(func() { info, err = put[name](r) }))
				if err != nil {
					b.Fatal(err)
				}
				if info.Size != benchObjectSize {
					b.Fatalf("stored %d bytes, want %d", info.Size, benchObjectSize)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
	}
}
