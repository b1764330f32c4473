package logstore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/logstore"
	"slokeeper/internal/postgres"
	"slokeeper/internal/storetest"
)

// backend opens stores of one kind; shared stores opened from one backend
// value are "nodes" on one database schema.
type backend struct {
	name string
	new  func(t *testing.T) func(t *testing.T, node string, c *clock) logstore.Config
}

var backends = []backend{
	{"Files", func(t *testing.T) func(*testing.T, string, *clock) logstore.Config {
		e := newEnv(t)
		return func(_ *testing.T, _ string, c *clock) logstore.Config {
			cfg := e.cfg
			cfg.Clock = c
			return cfg
		}
	}},
	{"Postgres", func(t *testing.T) func(*testing.T, string, *clock) logstore.Config {
		dsn := storetest.PostgresDSN(t)
		return func(t *testing.T, node string, c *clock) logstore.Config {
			db, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return logstore.Config{Dir: t.TempDir(), Blocks: postgres.NewLogBlocks(db), Node: node, Location: tokyo, Clock: c, SealDelay: 10 * time.Minute}
		}
	}},
}

func openCfg(t *testing.T, cfg logstore.Config) *logstore.Store {
	t.Helper()
	s, err := logstore.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newClock() *clock { return &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)} }

// fill appends 10 batches of 100 records from 3 sources, a minute apart.
func fill(t *testing.T, s *logstore.Store, c *clock) {
	t.Helper()
	for i := range 10 {
		c.Set(time.Date(2026, 12, 3, 10, i, 0, 0, tokyo))
		if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, recs(fmt.Sprintf("dev-%d", i%3), 100, fmt.Sprintf("m%d", i)), ""); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBackends runs the log store's behaviour on both backends.
func TestBackends(t *testing.T) {
	exports := map[string][]byte{}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			node := be.new(t)
			c := newClock()
			s := openCfg(t, node(t, "node-1", c))
			fill(t, s, c)
			dup, err := s.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 3, "chunk"), "chunk-key-1")
			if err != nil || dup {
				t.Fatalf("first keyed append = %v, %v", dup, err)
			}
			if dup, err := s.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 3, "chunk"), "chunk-key-1"); err != nil || !dup {
				t.Fatalf("second keyed append = %v, %v; want a duplicate", dup, err)
			}
			if got := query(t, s, slokeeper.LogQuery{SourceID: "dev-1"}); len(got) != 300 || got[0].SourceID != "dev-1" {
				t.Fatalf("dev-1: %d records, want 300", len(got))
			}
			if got := query(t, s, slokeeper.LogQuery{Limit: 150}); len(got) != 150 || got[0].Message != "m0-0" {
				t.Errorf("limit 150: %d records, first %v", len(got), got)
			}
			from := time.Date(2026, 12, 3, 10, 5, 0, 0, tokyo)
			if got := query(t, s, slokeeper.LogQuery{From: from, To: from.Add(time.Minute)}); messages(got)[:5] != "m5-0 " || len(got) != 100 {
				t.Errorf("10:05-10:06: %d records", len(got))
			}
			if ps := partitions(t, s); len(ps) != 1 || ps[0].Records != 1003 || ps[0].Sealed {
				t.Fatalf("partitions before sealing = %+v", ps)
			}

			c.Set(time.Date(2026, 12, 4, 0, 5, 0, 0, tokyo))
			if sealed, err := s.SealDue(ctx); err != nil || len(sealed) != 0 {
				t.Fatalf("SealDue before the delay = %v, %v", sealed, err)
			}
			c.Set(time.Date(2026, 12, 4, 0, 10, 0, 0, tokyo))
			sealed, err := s.SealDue(ctx)
			if err != nil || len(sealed) != 1 || !sealed[0].Sealed || sealed[0].Records != 1003 || len(sealed[0].Checksum) != 64 {
				t.Fatalf("SealDue = %+v, %v", sealed, err)
			}
			if again, err := s.SealDue(ctx); err != nil || len(again) != 0 {
				t.Errorf("SealDue again = %+v, %v; want nothing", again, err)
			}
			if ps := partitions(t, s); len(ps) != 1 || !ps[0].Sealed || ps[0].Checksum != sealed[0].Checksum || ps[0].Records != 1003 {
				t.Errorf("partitions after sealing = %+v", ps)
			}
			if got := query(t, s, slokeeper.LogQuery{SourceID: "dev-1"}); len(got) != 300 {
				t.Errorf("dev-1 after sealing: %d records, want 300", len(got))
			}

			var exp bytes.Buffer
			if _, err := s.Export(ctx, "exec", "2026-12-03", &exp); err != nil {
				t.Fatal(err)
			}
			info, err := logstore.Verify(bytes.NewReader(exp.Bytes()))
			if err != nil || info.Records != 1003 || info.Checksum != sealed[0].Checksum {
				t.Fatalf("Verify of the export = %+v, %v", info, err)
			}
			if int64(exp.Len()) != sealed[0].Bytes {
				t.Errorf("export is %d bytes, the catalog says %d", exp.Len(), sealed[0].Bytes)
			}
			exports[be.name] = exp.Bytes()

			s2 := openCfg(t, be.new(t)(t, "node-1", newClock()))
			if _, err := s2.Import(ctx, bytes.NewReader(exp.Bytes()[:exp.Len()-1])); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
				t.Errorf("Import of a truncated stream = %v, want EINVALID", err)
			}
			if len(partitions(t, s2)) != 0 {
				t.Error("a failed import left a partition")
			}
			if _, err := s2.Import(ctx, bytes.NewReader(exp.Bytes())); err != nil {
				t.Fatal(err)
			}
			if got := query(t, s2, slokeeper.LogQuery{}); len(got) != 1003 {
				t.Errorf("imported partition holds %d records", len(got))
			}
			var again bytes.Buffer
			if _, err := s2.Export(ctx, "exec", "2026-12-03", &again); err != nil || !bytes.Equal(again.Bytes(), exp.Bytes()) {
				t.Errorf("export of the import differs from the original (%v)", err)
			}
			if _, err := s2.Import(ctx, bytes.NewReader(exp.Bytes())); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
				t.Errorf("import over an existing partition = %v, want ECONFLICT", err)
			}

			if err := s.Drop(ctx, "exec", "2026-12-03"); err != nil {
				t.Fatal(err)
			}
			if got := query(t, s, slokeeper.LogQuery{}); len(got) != 0 {
				t.Errorf("%d records after drop", len(got))
			}
			if ps := partitions(t, s); len(ps) != 0 {
				t.Errorf("partitions after drop = %+v", ps)
			}
			if err := s.Drop(ctx, "exec", "2026-12-03"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
				t.Errorf("second drop = %v, want ENOTFOUND", err)
			}
			// The day can be written again after a drop.
			c.Set(time.Date(2026, 12, 3, 12, 0, 0, 0, tokyo))
			if _, err := s.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 2, "after"), ""); err != nil {
				t.Fatalf("append after drop: %v", err)
			}
		})
	}
	// One format: the same records sealed by either backend are the same bytes.
	if f, p := exports["Files"], exports["Postgres"]; f != nil && p != nil && !bytes.Equal(f, p) {
		t.Errorf("the backends export different bytes for the same records (%d and %d bytes)", len(f), len(p))
	}
}

func TestSharedTwoNodes(t *testing.T) {
	ctx := context.Background()
	node := backends[1].new(t)
	ca, cb := newClock(), newClock()
	a := openCfg(t, node(t, "node-a", ca))
	b := openCfg(t, node(t, "node-b", cb))
	if _, err := a.AppendLogs(ctx, slokeeper.LogClassExec, recs("dev-a", 5, "a"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendLogs(ctx, slokeeper.LogClassExec, recs("dev-b", 7, "b"), ""); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*logstore.Store{"a": a, "b": b} {
		if got := query(t, s, slokeeper.LogQuery{}); len(got) != 12 {
			t.Errorf("node %s sees %d records, want both nodes' 12", name, len(got))
		}
		if got := query(t, s, slokeeper.LogQuery{SourceID: "dev-b"}); len(got) != 7 {
			t.Errorf("node %s sees %d of dev-b's records, want 7", name, len(got))
		}
		if ps := partitions(t, s); len(ps) != 1 || ps[0].Records != 12 {
			t.Errorf("node %s: partitions = %+v, want one with the cluster's 12 records", name, ps)
		}
	}
	// A chunk sent to both nodes is stored once.
	if dup, err := a.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 3, "k"), "chunk-9"); err != nil || dup {
		t.Fatalf("keyed append on a = %v, %v", dup, err)
	}
	if dup, err := b.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 3, "k"), "chunk-9"); err != nil || !dup {
		t.Fatalf("the same key on b = %v, %v; want a duplicate", dup, err)
	}
	// A reader beside both (a CLI on a third node).
	r, err := logstore.OpenReadOnly(ctx, node(t, "cli", newClock()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := query(t, r, slokeeper.LogQuery{}); len(got) != 15 {
		t.Errorf("read-only store sees %d records, want 15", len(got))
	}
	if _, err := r.AppendLogs(ctx, slokeeper.LogClassExec, recs("x", 1, "x"), ""); slokeeper.ErrorCode(err) != slokeeper.EUNAVAILABLE {
		t.Errorf("append on a read-only store = %v", err)
	}

	// b keeps appending to Dec 3 while a seals it: every acknowledged
	// record is in the sealed day, the rest were refused.
	cb.Set(time.Date(2026, 12, 3, 23, 59, 0, 0, tokyo))
	var acked atomic.Int64
	var refused atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				_, err := b.AppendLogs(ctx, slokeeper.LogClassExec, recs(fmt.Sprintf("w%d", w), 10, fmt.Sprint(i)), "")
				switch {
				case err == nil:
					acked.Add(10)
				case slokeeper.ErrorCode(err) == slokeeper.EUNAVAILABLE:
					refused.Add(10)
					if refused.Load() > 200 {
						return
					}
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	for acked.Load() < 200 { // the seal comes while appends are under way
		runtime.Gosched()
	}
	ca.Set(time.Date(2026, 12, 4, 1, 0, 0, 0, tokyo))
	sealedA, err := a.SealDue(ctx)
	sealedB, errB := b.SealDue(ctx) // the second node finds it sealed
	wg.Wait()                       // the writers stop once refused

	if err != nil || errB != nil || len(sealedA) != 1 {
		t.Fatalf("SealDue = %+v, %v; on b %+v, %v", sealedA, err, sealedB, errB)
	}
	want := 15 + acked.Load()
	if got := query(t, a, slokeeper.LogQuery{}); int64(len(got)) != want {
		t.Errorf("after the seal: %d records, want the %d acknowledged", len(got), want)
	}
	ps := partitions(t, b)
	if len(ps) != 1 || !ps[0].Sealed || ps[0].Records != want || ps[0].Checksum != sealedA[0].Checksum {
		t.Errorf("partitions after the seal = %+v, want sealed with %d", ps, want)
	}
}

func TestSharedDatabaseDown(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	s := openCfg(t, logstore.Config{Blocks: postgres.NewLogBlocks(db), Location: tokyo, Clock: newClock()})
	db.Close()
	if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, recs("gw", 1, "x"), ""); slokeeper.ErrorCode(err) != slokeeper.EUNAVAILABLE {
		t.Errorf("append with the database gone = %v, want EUNAVAILABLE", err)
	}
	if err := s.QueryLogs(context.Background(), slokeeper.LogQuery{}, func(*slokeeper.LogRecord) error { return nil }); err == nil {
		t.Error("a query with the database gone answered as if there were nothing")
	}
}

// copyDir copies a data directory's logs, as a crash would leave them
// before the rename.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrateLocalPartitions(t *testing.T) {
	ctx := context.Background()
	// Two nodes that kept their logs locally: the same day on both, a
	// chunk both took, and a sealed day on node 1.
	c := newClock()
	e1, e2 := newEnv(t), newEnv(t)
	e1.cfg.Clock, e2.cfg.Clock = c, c
	n1, n2 := e1.open(t), e2.open(t)
	c.Set(time.Date(2026, 12, 2, 9, 0, 0, 0, tokyo))
	n1.AppendLogs(ctx, slokeeper.LogClassSystem, recs("app", 4, "old"), "")
	c.Set(time.Date(2026, 12, 3, 9, 0, 0, 0, tokyo))
	if _, err := n1.SealDue(ctx); err != nil {
		t.Fatal(err)
	}
	n1.AppendLogs(ctx, slokeeper.LogClassExec, recs("dev-1", 10, "n1"), "")
	n2.AppendLogs(ctx, slokeeper.LogClassExec, recs("dev-2", 20, "n2"), "")
	n1.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 3, "both"), "chunk-1")
	n2.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 3, "both"), "chunk-1")
	n1.Close()
	n2.Close()
	backup2 := filepath.Join(t.TempDir(), "logs")
	copyDir(t, e2.dir, backup2)

	node := backends[1].new(t)
	shared := openCfg(t, node(t, "node-1", c))
	rep, err := shared.MigrateLocal(ctx, e1.dir)
	if err != nil || rep.Partitions != 2 || rep.Records != 17 || rep.MovedTo == "" {
		t.Fatalf("migrating node 1 = %+v, %v", rep, err)
	}
	if _, err := os.Stat(e1.dir); !os.IsNotExist(err) {
		t.Errorf("node 1's logs directory is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rep.MovedTo, "exec", "2026-12-03", "open.seg")); err != nil {
		t.Errorf("node 1's local copy was not kept aside: %v", err)
	}
	// The Dec 3 exec day closes and is sealed in the shared store before
	// node 2 moves in: migrating node 2 must seal it again with the union.
	c.Set(time.Date(2026, 12, 4, 1, 0, 0, 0, tokyo))
	first, err := shared.SealDue(ctx)
	if err != nil || len(first) != 1 || first[0].Records != 13 {
		t.Fatalf("sealing node 1's day = %+v, %v", first, err)
	}
	shared2 := openCfg(t, node(t, "node-2", c))
	if rep, err := shared2.MigrateLocal(ctx, e2.dir); err != nil || rep.Records != 23 {
		t.Fatalf("migrating node 2 = %+v, %v", rep, err)
	}
	// A crash after the import, before the rename: the directory is back,
	// and migrating again adds nothing.
	copyDir(t, backup2, e2.dir)
	rep, err = shared2.MigrateLocal(ctx, e2.dir)
	if err != nil || rep.Skipped != 1 {
		t.Fatalf("migrating node 2 again = %+v, %v; want its one chunk skipped", rep, err)
	}
	ps := partitions(t, shared)
	if len(ps) != 2 {
		t.Fatalf("partitions = %+v", ps)
	}
	exec, sys := ps[0], ps[1]
	if exec.Class != "exec" || !exec.Sealed || exec.Records != 33 || exec.Checksum == first[0].Checksum {
		t.Errorf("exec day = %+v; want re-sealed with the union of 10 + 20 + 3 records and a new checksum", exec)
	}
	if sys.Class != "system" || !sys.Sealed || sys.Records != 4 {
		t.Errorf("system day = %+v, want node 1's sealed 4 records", sys)
	}
	got := query(t, shared, slokeeper.LogQuery{Class: "exec"})
	if len(got) != 33 {
		t.Errorf("the shared exec day holds %d records, want 33", len(got))
	}
	for _, r := range got {
		if want := time.Date(2026, 12, 3, 9, 0, 0, 0, tokyo); !r.Received.Equal(want) {
			t.Fatalf("record %s received %v, want its original %v", r.Message, r.Received, want)
		}
	}
	var exp bytes.Buffer
	if _, err := shared.Export(ctx, "exec", "2026-12-03", &exp); err != nil {
		t.Fatal(err)
	}
	if info, err := logstore.Verify(&exp); err != nil || info.Records != 33 || info.Checksum != exec.Checksum {
		t.Errorf("export of the re-sealed day = %+v, %v", info, err)
	}
}

// TestSealSortsAcrossRuns: a day larger than one sort run is sealed with
// every source's records together and in received order, on both backends,
// to the same bytes.
func TestSealSortsAcrossRuns(t *testing.T) {
	var exports [][]byte
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			cfg := be.new(t)(t, "node-1", c)
			cfg.SealRunRecords = 70 // 1000 records: 15 runs
			s := openCfg(t, cfg)
			for i := range 100 {
				c.Set(time.Date(2026, 12, 3, 10, 0, i, 0, tokyo))
				rs := recs(fmt.Sprintf("dev-%d", i%7), 10, fmt.Sprintf("m%d", i))
				rs[3].SourceID = "dev-x" // one record of another source in each batch
				if _, err := s.AppendLogs(ctx, slokeeper.LogClassExec, rs, ""); err != nil {
					t.Fatal(err)
				}
			}
			before := map[string]string{}
			for _, src := range []string{"dev-0", "dev-3", "dev-x"} {
				before[src] = messages(query(t, s, slokeeper.LogQuery{SourceID: src}))
			}
			c.Set(time.Date(2026, 12, 4, 1, 0, 0, 0, tokyo))
			sealed, err := s.SealDue(ctx)
			if err != nil || len(sealed) != 1 || sealed[0].Records != 1000 {
				t.Fatalf("SealDue = %+v, %v", sealed, err)
			}
			all := query(t, s, slokeeper.LogQuery{})
			if len(all) != 1000 {
				t.Fatalf("%d records after sealing, want 1000", len(all))
			}
			for i := 1; i < len(all); i++ {
				a, b := all[i-1], all[i]
				if a.SourceID > b.SourceID || (a.SourceID == b.SourceID && a.Received.After(b.Received)) {
					t.Fatalf("record %d (%s %v) sorts after record %d (%s %v)", i-1, a.SourceID, a.Received, i, b.SourceID, b.Received)
				}
			}
			for src, want := range before {
				if got := messages(query(t, s, slokeeper.LogQuery{SourceID: src})); got != want {
					t.Errorf("%s after sealing:\n%s\nwant, as before:\n%s", src, got, want)
				}
			}
			var exp bytes.Buffer
			if _, err := s.Export(ctx, "exec", "2026-12-03", &exp); err != nil {
				t.Fatal(err)
			}
			if _, err := logstore.Verify(bytes.NewReader(exp.Bytes())); err != nil {
				t.Fatal(err)
			}
			exports = append(exports, exp.Bytes())
		})
	}
	if len(exports) == 2 && !bytes.Equal(exports[0], exports[1]) {
		t.Error("the backends sealed the same records to different bytes")
	}
}
