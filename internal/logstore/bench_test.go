package logstore_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/heaptest"
	"slokeeper/internal/loggen"
	"slokeeper/internal/logstore"
	"slokeeper/internal/postgres"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/storetest"
)

func benchStore(b *testing.B, clock *clock) (*logstore.Store, string) {
	b.Helper()
	dir := b.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	s, err := logstore.Open(context.Background(), logstore.Config{Dir: filepath.Join(dir, "logs"), Catalog: sqlite.NewLogCatalog(db), Location: tokyo, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, filepath.Join(dir, "logs")
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// BenchmarkAppend: parallel appends of 1000 generated records each, the
// shape of NDJSON posts; reports lines/s and the bytes stored per line
// while the day is open and after it is sealed.
func BenchmarkAppend(b *testing.B) {
	clk := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)}
	s, dir := benchStore(b, clk)
	var seed atomic.Uint64
	var lines atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		g := loggen.New(seed.Add(1), 1000)
		batch := make([]slokeeper.LogRecord, 1000)
		for pb.Next() {
			for i := range batch {
				batch[i] = g.Record()
			}
			if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, batch, ""); err != nil {
				b.Error(err)
				return
			}
			lines.Add(int64(len(batch)))
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	n := lines.Load()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "lines/s")
	b.ReportMetric(float64(dirBytes(dir))/float64(n), "open-B/line")
	clk.Set(time.Date(2026, 12, 4, 1, 0, 0, 0, tokyo))
	if _, err := s.SealDue(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(dirBytes(dir))/float64(n), "sealed-B/line")
}

// BenchmarkQueryOneSource: one source over one sealed day among
// SLOKEEPER_BENCH_RECORDS records (default 10 million) from 1000 sources.
func BenchmarkQueryOneSource(b *testing.B) {
	total := 10_000_000
	if v, err := strconv.Atoi(os.Getenv("SLOKEEPER_BENCH_RECORDS")); err == nil && v > 0 {
		total = v
	}
	clk := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)}
	s, _ := benchStore(b, clk)
	g := loggen.New(1, 1000)
	batch := make([]slokeeper.LogRecord, 10000)
	for done := 0; done < total; done += len(batch) {
		for i := range batch {
			batch[i] = g.Record()
		}
		clk.Set(clk.Now().Add(time.Millisecond))
		if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, batch, ""); err != nil {
			b.Fatal(err)
		}
	}
	clk.Set(time.Date(2026, 12, 4, 1, 0, 0, 0, tokyo))
	if _, err := s.SealDue(context.Background()); err != nil {
		b.Fatal(err)
	}
	source := g.Sources[500].ID // a quiet one, as most are
	q := slokeeper.LogQuery{SourceID: source, From: time.Date(2026, 12, 3, 0, 0, 0, 0, tokyo), To: time.Date(2026, 12, 4, 0, 0, 0, 0, tokyo)}
	var found int
	b.ResetTimer()
	for b.Loop() {
		found = 0
		if err := s.QueryLogs(context.Background(), q, func(*slokeeper.LogRecord) error { found++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(found), "records")
}

// sharedBenchStore is a store on the shared backend, on a fresh schema of
// the local PostgreSQL (skipped without one).
func sharedBenchStore(b *testing.B, clock *clock) *logstore.Store {
	b.Helper()
	db, err := postgres.Open(context.Background(), storetest.PostgresDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	s, err := logstore.Open(context.Background(), logstore.Config{Blocks: postgres.NewLogBlocks(db), Node: "bench", Location: tokyo, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkSharedAppend: BenchmarkAppend's workload (appends of 1000
// generated records, as NDJSON posts and loadgen send them) through one
// store on the shared backend, 8 appends in flight per core.
func BenchmarkSharedAppend(b *testing.B) {
	clk := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)}
	s := sharedBenchStore(b, clk)
	var seed atomic.Uint64
	var lines atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		g := loggen.New(seed.Add(1), 1000)
		batch := make([]slokeeper.LogRecord, 1000)
		for pb.Next() {
			for i := range batch {
				batch[i] = g.Record()
			}
			if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, batch, ""); err != nil {
				b.Error(err)
				return
			}
			lines.Add(int64(len(batch)))
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(lines.Load())/elapsed.Seconds(), "lines/s")
}

// BenchmarkSharedQueryOneSource: BenchmarkQueryOneSource on the shared
// backend: one source over one sealed day among SLOKEEPER_BENCH_RECORDS
// records (default 10 million) from 1000 sources, read from PostgreSQL.
func BenchmarkSharedQueryOneSource(b *testing.B) {
	total := 10_000_000
	if v, err := strconv.Atoi(os.Getenv("SLOKEEPER_BENCH_RECORDS")); err == nil && v > 0 {
		total = v
	}
	clk := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)}
	s := sharedBenchStore(b, clk)
	g := loggen.New(1, 1000)
	setup := time.Now()
	batch := make([]slokeeper.LogRecord, 10000)
	for done := 0; done < total; done += len(batch) {
		for i := range batch {
			batch[i] = g.Record()
		}
		clk.Set(clk.Now().Add(time.Millisecond))
		if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, batch, ""); err != nil {
			b.Fatal(err)
		}
	}
	ingested := time.Since(setup)
	clk.Set(time.Date(2026, 12, 4, 1, 0, 0, 0, tokyo))
	if _, err := s.SealDue(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Logf("setup: %d records ingested in %v, sealed in %v", total, ingested.Round(time.Millisecond), (time.Since(setup) - ingested).Round(time.Millisecond))
	source := g.Sources[500].ID
	q := slokeeper.LogQuery{SourceID: source, From: time.Date(2026, 12, 3, 0, 0, 0, 0, tokyo), To: time.Date(2026, 12, 4, 0, 0, 0, 0, tokyo)}
	var found int
	b.ResetTimer()
	for b.Loop() {
		found = 0
		if err := s.QueryLogs(context.Background(), q, func(*slokeeper.LogRecord) error { found++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(found), "records")
}

// BenchmarkSharedQueryOneSourceOpen: the same query on a day still open
// (today's partition, not yet sealed), among 10 million records that came
// in as sources send them: every append one source's batch (200 lines, an
// NDJSON post or an agent's chunk), so every open block names its one
// source and a query for one source reads only its blocks, whichever node
// took them. SLOKEEPER_BENCH_RECORDS overrides the total.
func BenchmarkSharedQueryOneSourceOpen(b *testing.B) {
	total := 10_000_000
	if v, err := strconv.Atoi(os.Getenv("SLOKEEPER_BENCH_RECORDS")); err == nil && v > 0 {
		total = v
	}
	clk := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)}
	s := sharedBenchStore(b, clk)
	g := loggen.New(1, 1000)
	setup := time.Now()
	const perAppend = 200
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	sem := make(chan struct{}, 16) // appends in flight, as many clients send at once
	for done, n := 0, 0; done < total; done, n = done+perAppend, n+1 {
		batch := make([]slokeeper.LogRecord, perAppend)
		src := g.Sources[n%len(g.Sources)].ID
		for i := range batch {
			batch[i] = g.Record()
			batch[i].SourceID = src
		}
		if n%len(g.Sources) == 0 {
			clk.Set(clk.Now().Add(time.Second))
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, batch, ""); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.Logf("setup: %d records ingested in %v", total, time.Since(setup).Round(time.Millisecond))
	source := g.Sources[500].ID
	q := slokeeper.LogQuery{SourceID: source, From: time.Date(2026, 12, 3, 0, 0, 0, 0, tokyo), To: time.Date(2026, 12, 4, 0, 0, 0, 0, tokyo)}
	var found int
	b.ResetTimer()
	for b.Loop() {
		found = 0
		if err := s.QueryLogs(context.Background(), q, func(*slokeeper.LogRecord) error { found++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(found), "records")
}

// BenchmarkQueryPage reads one page of 100 records at the start, the
// middle and the end of a large result over sealed days: with a cursor,
// page N skips the days and blocks before it on their headers, so it
// costs no more than page 1.
func BenchmarkQueryPage(b *testing.B) {
	total := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SLOKEEPER_BENCH_RECORDS")); err == nil && v > 0 {
		total = v
	}
	clk := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)}
	s, _ := benchStore(b, clk)
	g := loggen.New(1, 1000)
	batch := make([]slokeeper.LogRecord, 10000)
	const days = 5
	for done := 0; done < total; done += len(batch) {
		for i := range batch {
			batch[i] = g.Record()
		}
		day := done * days / total
		clk.Set(time.Date(2026, 12, 3+day, 10, 0, 0, 0, tokyo).Add(time.Duration(done) * time.Microsecond))
		if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, batch, ""); err != nil {
			b.Fatal(err)
		}
	}
	clk.Set(time.Date(2026, 12, 3+days, 1, 0, 0, 0, tokyo))
	if _, err := s.SealDue(context.Background()); err != nil {
		b.Fatal(err)
	}
	q := slokeeper.LogQuery{Class: slokeeper.LogClassExec}
	var pos []slokeeper.LogPosition
	if err := s.QueryLogs(context.Background(), q, func(r *slokeeper.LogRecord) error { pos = append(pos, r.Pos); return nil }); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   int // index of the record before the page; -1: the first page
	}{{"first", -1}, {"middle", len(pos) / 2}, {"last", len(pos) - 101}} {
		b.Run(tc.name, func(b *testing.B) {
			pq := q
			pq.Limit = 100
			if tc.at >= 0 {
				pq.After = q.LogCursor(pos[tc.at])
			}
			for b.Loop() {
				n := 0
				if err := s.QueryLogs(context.Background(), pq, func(*slokeeper.LogRecord) error { n++; return nil }); err != nil || n != 100 {
					b.Fatalf("page: %d records, %v", n, err)
				}
			}
		})
	}
}

// BenchmarkQueryPageOpen reads one page of 101 records (the console's page
// and its "is there more" probe) at the start, the middle and the end of an
// open day of 200,000 records from 1,000 sources
// (SLOKEEPER_BENCH_OPEN_RECORDS to change), and the largest page (10,001)
// at its start: an open day is stored in arrival order, not in LogPosition
// order, so every page reads the whole day. peak-heap-B is the most heap a
// page holds at once: it must stay O(page), not O(day).
func BenchmarkQueryPageOpen(b *testing.B) {
	total := 200_000
	if v, err := strconv.Atoi(os.Getenv("SLOKEEPER_BENCH_OPEN_RECORDS")); err == nil && v > 0 {
		total = v
	}
	clk := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)}
	s, _ := benchStore(b, clk)
	g := loggen.New(1, 1000)
	batch := make([]slokeeper.LogRecord, 1000)
	for done := 0; done < total; done += len(batch) {
		for i := range batch {
			batch[i] = g.Record()
		}
		clk.Set(clk.Now().Add(time.Millisecond))
		if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, batch, ""); err != nil {
			b.Fatal(err)
		}
	}
	q := slokeeper.LogQuery{Class: slokeeper.LogClassExec}
	// Every position, page by page (as a client would get them).
	var pos []slokeeper.LogPosition
	for pq := (slokeeper.LogQuery{Class: q.Class, Limit: 10000}); ; {
		n := 0
		if err := s.QueryLogs(context.Background(), pq, func(r *slokeeper.LogRecord) error { pos = append(pos, r.Pos); n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		pq.After = q.LogCursor(pos[len(pos)-1])
	}
	if len(pos) != total {
		b.Fatalf("paged %d records, want %d", len(pos), total)
	}
	for _, tc := range []struct {
		name  string
		at    int // index of the record before the page; -1: the first page
		limit int
	}{{"first", -1, 101}, {"middle", len(pos) / 2, 101}, {"last", len(pos) - 102, 101},
		{"first-10001", -1, slokeeper.MaxLogPage + 1}} { // the largest page: memory grows with it, not with the day
		b.Run(tc.name, func(b *testing.B) {
			pq := q
			pq.Limit = tc.limit
			if tc.at >= 0 {
				pq.After = q.LogCursor(pos[tc.at])
			}
			var peak uint64
			for b.Loop() {
				n := 0
				var err error
				peak = max(peak, heaptest.Peak(func() {
					err = s.QueryLogs(context.Background(), pq, func(*slokeeper.LogRecord) error { n++; return nil })
				}))
				if err != nil || n != tc.limit {
					b.Fatalf("page: %d records, %v", n, err)
				}
			}
			b.ReportMetric(float64(peak), "peak-heap-B")
		})
	}
}
