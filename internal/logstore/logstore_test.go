package logstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/logstore"
	"slokeeper/internal/sqlite"
)

var tokyo, _ = time.LoadLocation("Asia/Tokyo")

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

type env struct {
	dir     string
	catalog *sqlite.LogCatalog
	clock   *clock
	cfg     logstore.Config
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{dir: filepath.Join(dir, "logs"), catalog: sqlite.NewLogCatalog(db), clock: &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)}}
	e.cfg = logstore.Config{Dir: e.dir, Catalog: e.catalog, Location: tokyo, Clock: e.clock, SealDelay: 10 * time.Minute}
	return e
}

func (e *env) open(t *testing.T) *logstore.Store {
	t.Helper()
	s, err := logstore.Open(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func recs(source string, n int, prefix string) []slokeeper.LogRecord {
	out := make([]slokeeper.LogRecord, n)
	for i := range out {
		out[i] = slokeeper.LogRecord{Account: "acct-1", SourceKind: slokeeper.SourceDevice, SourceID: source, Level: "info", Message: fmt.Sprintf("%s-%d", prefix, i)}
	}
	return out
}

func query(t *testing.T, s *logstore.Store, q slokeeper.LogQuery) []slokeeper.LogRecord {
	t.Helper()
	var out []slokeeper.LogRecord
	if err := s.QueryLogs(context.Background(), q, func(r *slokeeper.LogRecord) error { out = append(out, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func messages(rs []slokeeper.LogRecord) string {
	var b bytes.Buffer
	for _, r := range rs {
		b.WriteString(r.Message + " ")
	}
	return b.String()
}

// forBackends runs a behaviour test on both backends: open opens the store
// (again, after a Close: on the same files or database), c is its clock.
func forBackends(t *testing.T, test func(t *testing.T, open func() *logstore.Store, c *clock)) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			mk, c := be.new(t), newClock()
			test(t, func() *logstore.Store { return openCfg(t, mk(t, "node-1", c)) }, c)
		})
	}
}

func TestAppendQueryRoundTrip(t *testing.T) { forBackends(t, testAppendQueryRoundTrip) }

func testAppendQueryRoundTrip(t *testing.T, open func() *logstore.Store, c *clock) {
	s := open()
	sender := time.Date(2026, 12, 3, 0, 59, 58, 123000000, time.UTC)
	in := []slokeeper.LogRecord{
		{Account: "acct-1", SourceKind: slokeeper.SourceAgent, SourceID: "gw-1", Level: "error", Message: "フローの実行に失敗しました: timeout",
			Attrs: json.RawMessage(`{"flow":"f-1","retry":3}`), SenderTime: sender},
		{Account: "acct-1", SourceKind: slokeeper.SourceAgent, SourceID: "gw-1", Level: "info", Message: "", SenderTimeRaw: "yesterday-ish"},
	}
	if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, in, ""); err != nil {
		t.Fatal(err)
	}
	got := query(t, s, slokeeper.LogQuery{})
	if len(got) != 2 {
		t.Fatalf("got %d records, want 2", len(got))
	}
	want0 := in[0]
	want0.Received, want0.Class = c.Now().UTC(), slokeeper.LogClassExec
	g := got[0]
	if !g.Received.Equal(want0.Received) || g.Class != "exec" || g.Account != want0.Account || g.SourceKind != want0.SourceKind ||
		g.SourceID != want0.SourceID || g.Level != want0.Level || g.Message != want0.Message || string(g.Attrs) != string(want0.Attrs) ||
		!g.SenderTime.Equal(sender) || g.SenderTimeRaw != "" {
		t.Errorf("record 0 = %+v\nwant %+v", g, want0)
	}
	if got[1].SenderTimeRaw != "yesterday-ish" || !got[1].SenderTime.IsZero() || got[1].Attrs != nil {
		t.Errorf("record 1 = %+v", got[1])
	}
	// Reopening reads the same from disk.
	s.Close()
	s = open()
	if again := query(t, s, slokeeper.LogQuery{}); messages(again) != messages(got) || string(again[0].Attrs) != string(got[0].Attrs) {
		t.Errorf("after reopen: %v", again)
	}
}

func TestPartitionByDayInPolicyZone(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := context.Background()
	for _, at := range []time.Time{
		time.Date(2026, 12, 3, 23, 59, 59, 0, tokyo), // 14:59 UTC: still Dec 3 in Tokyo
		time.Date(2026, 12, 4, 0, 0, 0, 0, tokyo),    // Dec 3 15:00 UTC: Dec 4 in Tokyo
	} {
		e.clock.Set(at)
		if _, err := s.AppendLogs(ctx, slokeeper.LogClassSystem, recs("app-1", 1, at.Format("15:04")), ""); err != nil {
			t.Fatal(err)
		}
	}
	ps := partitions(t, s)
	if len(ps) != 2 || ps[0].Day != "2026-12-03" || ps[1].Day != "2026-12-04" || ps[0].Records != 1 || ps[1].Records != 1 {
		t.Fatalf("partitions = %+v", ps)
	}
	cat, _ := e.catalog.FindLogPartitions(ctx, slokeeper.LogPartitionFilter{Class: slokeeper.LogClassSystem})
	if len(cat) != 2 {
		t.Errorf("catalog lists %d partitions, want 2", len(cat))
	}
	if got := query(t, s, slokeeper.LogQuery{From: time.Date(2026, 12, 4, 0, 0, 0, 0, tokyo)}); messages(got) != "00:00-0 " {
		t.Errorf("records from Dec 4 = %q", messages(got))
	}
}

func TestIdempotentAppend(t *testing.T) { forBackends(t, testIdempotentAppend) }

func testIdempotentAppend(t *testing.T, open func() *logstore.Store, _ *clock) {
	s := open()
	ctx := context.Background()
	dup, err := s.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 3, "chunk"), "chunk-key-1")
	if err != nil || dup {
		t.Fatalf("first append: %v %v", dup, err)
	}
	dup, err = s.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 3, "chunk"), "chunk-key-1")
	if err != nil || !dup {
		t.Fatalf("second append = %v %v, want a duplicate", dup, err)
	}
	s.Close()
	s = open() // keys survive a restart: they are in the block headers (or the database)
	if dup, _ := s.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 3, "chunk"), "chunk-key-1"); !dup {
		t.Error("after restart the same key was stored again")
	}
	if n := len(query(t, s, slokeeper.LogQuery{})); n != 3 {
		t.Errorf("%d records stored, want 3", n)
	}
}

func TestConcurrentAppendsGroupCommit(t *testing.T) { forBackends(t, testConcurrentAppendsGroupCommit) }

func testConcurrentAppendsGroupCommit(t *testing.T, open func() *logstore.Store, _ *clock) {
	s := open()
	const writers, each = 16, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, recs(fmt.Sprintf("dev-%d", w), 10, fmt.Sprintf("w%d-%d", w, i)), ""); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := query(t, s, slokeeper.LogQuery{})
	if len(got) != writers*each*10 {
		t.Fatalf("stored %d, want %d", len(got), writers*each*10)
	}
	seen := map[string]bool{}
	for _, r := range got {
		k := r.SourceID + "/" + r.Message
		if seen[k] {
			t.Fatalf("duplicate record %s", k)
		}
		seen[k] = true
	}
	if got := query(t, s, slokeeper.LogQuery{SourceID: "dev-3", Limit: 25}); len(got) != 25 || got[0].SourceID != "dev-3" {
		t.Errorf("query by source with limit: %d records", len(got))
	}
}

func TestTornTailIsCut(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 5, fmt.Sprintf("b%d", i)), ""); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	seg := filepath.Join(e.dir, "exec", "2026-12-03", "open.seg")
	good, _ := os.ReadFile(seg)
	// A crash mid-write: the start of a block, then nothing.
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(append([]byte("SKB1\x40\x00\x00\x00"), bytes.Repeat([]byte{0xAB}, 30)...))
	f.Close()

	s = e.open(t)
	if got := query(t, s, slokeeper.LogQuery{}); len(got) != 15 {
		t.Fatalf("after a torn tail: %d records, want the 15 acknowledged", len(got))
	}
	if after, _ := os.ReadFile(seg); !bytes.Equal(after, good) {
		t.Errorf("segment is %d bytes after recovery, want the %d acknowledged", len(after), len(good))
	}
	if _, err := s.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 1, "after"), ""); err != nil {
		t.Fatal(err)
	}
	if got := query(t, s, slokeeper.LogQuery{}); len(got) != 16 {
		t.Errorf("appending after recovery: %d records, want 16", len(got))
	}
}

func TestCorruptionInTheMiddleIsRefused(t *testing.T) {
	e := newEnv(t)
	e.cfg.MaxCommitBytes = 512
	s := e.open(t)
	for i := range 20 {
		if _, err := s.AppendLogs(context.Background(), slokeeper.LogClassExec, recs("gw", 5, fmt.Sprintf("b%d", i)), ""); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	seg := filepath.Join(e.dir, "exec", "2026-12-03", "open.seg")
	data, _ := os.ReadFile(seg)
	if len(data) < 3*512 {
		t.Fatalf("segment only %d bytes; the test needs more than the commit bound", len(data))
	}
	data[20] ^= 0xFF // inside the first block
	os.WriteFile(seg, data, 0o600)
	_, err := logstore.Open(context.Background(), e.cfg)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("not a torn write")) {
		t.Fatalf("Open with a damaged first block = %v, want a refusal", err)
	}
	if after, _ := os.ReadFile(seg); len(after) != len(data) {
		t.Errorf("the damaged segment was changed: %d bytes, was %d", len(after), len(data))
	}
}

func TestSealExportImportDrop(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := context.Background()
	for i := range 10 {
		e.clock.Set(time.Date(2026, 12, 3, 10, i, 0, 0, tokyo))
		s.AppendLogs(ctx, slokeeper.LogClassExec, recs(fmt.Sprintf("dev-%d", i%3), 100, fmt.Sprintf("m%d", i)), "")
	}
	before := query(t, s, slokeeper.LogQuery{SourceID: "dev-1"})

	// Not yet: the day has not closed plus the delay.
	e.clock.Set(time.Date(2026, 12, 4, 0, 5, 0, 0, tokyo))
	if sealed, err := s.SealDue(ctx); err != nil || len(sealed) != 0 {
		t.Fatalf("SealDue 5 minutes after midnight = %v, %v; want nothing", sealed, err)
	}
	e.clock.Set(time.Date(2026, 12, 4, 0, 10, 0, 0, tokyo))
	sealed, err := s.SealDue(ctx)
	if err != nil || len(sealed) != 1 || !sealed[0].Sealed || sealed[0].Records != 1000 || len(sealed[0].Checksum) != 64 {
		t.Fatalf("SealDue = %+v, %v", sealed, err)
	}
	cat, _ := e.catalog.FindLogPartitions(ctx, slokeeper.LogPartitionFilter{Class: "exec", Day: "2026-12-03"})
	if len(cat) != 1 || !cat[0].Sealed || cat[0].Checksum != sealed[0].Checksum || cat[0].Records != 1000 || cat[0].SealedAt.IsZero() {
		t.Errorf("catalog after seal = %+v", cat)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "exec", "2026-12-03", "open.seg")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("open.seg remains after sealing: %v", err)
	}
	after := query(t, s, slokeeper.LogQuery{SourceID: "dev-1"})
	if len(after) != len(before) || len(after) != 300 {
		t.Errorf("dev-1 has %d records after sealing, %d before", len(after), len(before))
	}

	var exported bytes.Buffer
	if _, err := s.Export(ctx, "exec", "2026-12-03", &exported); err != nil {
		t.Fatal(err)
	}
	info, err := logstore.Verify(bytes.NewReader(exported.Bytes()))
	if err != nil || info.Records != 1000 || info.Checksum != sealed[0].Checksum {
		t.Fatalf("Verify = %+v, %v", info, err)
	}
	for name, damage := range map[string]func([]byte) []byte{
		"FlippedByte": func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 1; return b },
		"Truncated":   func(b []byte) []byte { return b[:len(b)-100] },
		"Empty":       func(b []byte) []byte { return nil },
	} {
		if _, err := logstore.Verify(bytes.NewReader(damage(exported.Bytes()))); err == nil {
			t.Errorf("Verify accepted a %s stream", name)
		}
	}

	// Restore into another store.
	e2 := newEnv(t)
	s2 := e2.open(t)
	if _, err := s2.Import(ctx, bytes.NewReader(exported.Bytes()[:exported.Len()-1])); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("Import of a truncated stream = %v, want EINVALID", err)
	}
	if len(partitions(t, s2)) != 0 {
		t.Error("a failed import left a partition")
	}
	if _, err := s2.Import(ctx, bytes.NewReader(exported.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got := query(t, s2, slokeeper.LogQuery{}); len(got) != 1000 {
		t.Errorf("imported partition holds %d records", len(got))
	}
	if _, err := s2.Import(ctx, bytes.NewReader(exported.Bytes())); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("importing over an existing partition = %v, want ECONFLICT", err)
	}

	if err := s.Drop(ctx, "exec", "2026-12-03"); err != nil {
		t.Fatal(err)
	}
	if got := query(t, s, slokeeper.LogQuery{}); len(got) != 0 {
		t.Errorf("%d records after drop", len(got))
	}
	if cat, _ := e.catalog.FindLogPartitions(ctx, slokeeper.LogPartitionFilter{}); len(cat) != 0 {
		t.Errorf("catalog after drop = %+v", cat)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "exec")); len(entries) != 0 {
		t.Errorf("files left after drop: %v", entries)
	}
}

func TestRecoveryFinishesInterruptedSealAndDrop(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := context.Background()
	s.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 10, "d3"), "")
	e.clock.Set(time.Date(2026, 12, 4, 12, 0, 0, 0, tokyo))
	s.AppendLogs(ctx, slokeeper.LogClassSystem, recs("app", 10, "d4"), "")
	e.clock.Set(time.Date(2026, 12, 5, 1, 0, 0, 0, tokyo))
	if _, err := s.SealDue(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()

	d3 := filepath.Join(e.dir, "exec", "2026-12-03")
	// A seal interrupted after the rename: open.seg is back beside sealed.seg,
	// and a half-written temporary file lies there too.
	os.WriteFile(filepath.Join(d3, "open.seg"), []byte("stale"), 0o600)
	os.WriteFile(filepath.Join(d3, "sealed.seg.tmp"), []byte("half"), 0o600)
	// A drop interrupted after the rename.
	os.Rename(filepath.Join(e.dir, "system", "2026-12-04"), filepath.Join(e.dir, "system", ".drop-2026-12-04"))

	s = e.open(t)
	entries, _ := os.ReadDir(d3)
	if len(entries) != 1 || entries[0].Name() != "sealed.seg" {
		t.Errorf("after recovery %s holds %v, want only sealed.seg", d3, entries)
	}
	if got := query(t, s, slokeeper.LogQuery{}); messages(got)[:5] != "d3-0 " || len(got) != 10 {
		t.Errorf("after recovery: %d records", len(got))
	}
	if _, err := os.Stat(filepath.Join(e.dir, "system", ".drop-2026-12-04")); !errors.Is(err, os.ErrNotExist) {
		t.Error("the interrupted drop was not finished")
	}
	if cat, _ := e.catalog.FindLogPartitions(ctx, slokeeper.LogPartitionFilter{Class: "system"}); len(cat) != 0 {
		t.Errorf("catalog still lists the dropped partition: %+v", cat)
	}
}

func partitions(t *testing.T, s *logstore.Store) []*slokeeper.LogPartition {
	t.Helper()
	ps, err := s.LogPartitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestOneWriterManyReaders(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := context.Background()
	if _, err := s.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 7, "m"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := logstore.Open(ctx, e.cfg); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Fatalf("a second writer = %v, want ECONFLICT", err)
	}
	// A block being written when the reader looks: the reader stops before
	// it and changes nothing.
	seg := filepath.Join(e.dir, "exec", "2026-12-03", "open.seg")
	before, _ := os.ReadFile(seg)
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("SKB1\x40\x00"))
	f.Close()

	r, err := logstore.OpenReadOnly(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := query(t, r, slokeeper.LogQuery{}); len(got) != 7 {
		t.Errorf("reader sees %d records, want 7", len(got))
	}
	if ps := partitions(t, r); len(ps) != 1 || ps[0].Records != 7 {
		t.Errorf("reader's partitions = %+v", ps)
	}
	if _, err := r.AppendLogs(ctx, slokeeper.LogClassExec, recs("gw", 1, "x"), ""); err == nil {
		t.Error("a read-only store accepted an append")
	}
	if after, _ := os.ReadFile(seg); len(after) != len(before)+6 {
		t.Errorf("the reader changed the segment: %d bytes, want %d", len(after), len(before)+6)
	}
}
