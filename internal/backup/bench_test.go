package backup_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/blob"
)

// benchPartitionMiB is the size of the partition the benchmarks back up:
// SLOKEEPER_BENCH_PARTITION_MIB, default 256 (the 1 GiB with 1024).
func benchPartitionMiB() int64 {
	if n, err := strconv.ParseInt(os.Getenv("SLOKEEPER_BENCH_PARTITION_MIB"), 10, 64); err == nil && n > 0 {
		return n
	}
	return 256
}

// BenchmarkBackupVerify backs a sealed partition up to a directory target
// and verifies it: the bytes/s to compare with cp + sha256sum.
func BenchmarkBackupVerify(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	c := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)}
	logs := store(b, filepath.Join(dir, "node"), c)
	want := benchPartitionMiB() << 20
	msg := make([]byte, 96)
	recs := make([]slokeeper.LogRecord, 4000)
	var written int64
	for written < want {
		for j := range recs {
			rand.Read(msg)
			recs[j] = slokeeper.LogRecord{Account: "acct-1", SourceKind: "device", SourceID: "dev-" + strconv.Itoa(j%50), Level: "info", Message: hex.EncodeToString(msg)}
		}
		if _, err := logs.AppendLogs(ctx, "exec", recs, ""); err != nil {
			b.Fatal(err)
		}
		written += int64(len(recs)) * 130 // about what a record takes compressed
	}
	c.Set(time.Date(2026, 12, 4, 1, 0, 0, 0, tokyo))
	parts, err := logs.SealDue(ctx)
	if err != nil || len(parts) != 1 {
		b.Fatal(parts, err)
	}
	target, err := blob.OpenDir(filepath.Join(dir, "backups"))
	if err != nil {
		b.Fatal(err)
	}
	bk := backup.New(backup.Config{Target: target, Logs: logs, Sealer: sealer(b, dir), Clock: c})
	b.SetBytes(parts[0].Bytes)
	b.ResetTimer()
	for b.Loop() {
		m, err := bk.BackupPartition(ctx, "exec", "2026-12-03")
		if err != nil {
			b.Fatal(err)
		}
		if err := bk.Verify(ctx, m); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		bk.Erase(ctx, m)
		b.StartTimer()
	}
	b.StopTimer()
	// The baseline on the same bytes: copy the sealed file (and fsync the
	// copy, as the target does), then hash the copy: cp + sync + sha256sum.
	src := filepath.Join(dir, "node", "logs", "exec", "2026-12-03", "sealed.seg")
	start := time.Now()
	if err := copyAndHash(src, filepath.Join(dir, "copy.seg")); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(parts[0].Bytes)/1e6/time.Since(start).Seconds(), "baseline-MB/s")
	b.ReportMetric(float64(parts[0].Bytes)/(1<<20), "MiB/partition")
}

func copyAndHash(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if _, err := out.Seek(0, 0); err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(h, out)
	return err
}
