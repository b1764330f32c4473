package logstore_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/logstore"
)

// page reads one page of q after cursor and returns its records and the
// cursor of its last record ("" when the page is empty).
func page(t *testing.T, s *logstore.Store, q slokeeper.LogQuery, after string) ([]slokeeper.LogRecord, string) {
	t.Helper()
	q.After = after
	var out []slokeeper.LogRecord
	if err := s.QueryLogs(context.Background(), q, func(r *slokeeper.LogRecord) error { out = append(out, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		return nil, ""
	}
	return out, q.LogCursor(out[len(out)-1].Pos)
}

func TestQueryLogsCursor(t *testing.T) { forBackends(t, testQueryLogsCursor) }

func testQueryLogsCursor(t *testing.T, open func() *logstore.Store, c *clock) {
	ctx := context.Background()
	s := open()
	appendAt := func(at time.Time, source string, n int, prefix string) {
		t.Helper()
		c.Set(at)
		if _, err := s.AppendLogs(ctx, slokeeper.LogClassExec, recs(source, n, prefix), ""); err != nil {
			t.Fatal(err)
		}
	}
	day1 := time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)
	appendAt(day1, "dev-b", 4, "d1b")
	appendAt(day1, "dev-a", 3, "d1a")                   // same received time, other source
	appendAt(day1, "dev-b", 2, "d1b2")                  // same source and received time: N tells them apart
	appendAt(day1.Add(time.Minute), "dev-a", 2, "d1a2") //
	c.Set(time.Date(2026, 12, 4, 0, 30, 0, 0, tokyo))
	if sealed, err := s.SealDue(ctx); err != nil || len(sealed) != 1 {
		t.Fatalf("SealDue = %v, %v; want day 1 sealed", sealed, err)
	}
	day2 := time.Date(2026, 12, 4, 9, 0, 0, 0, tokyo)
	appendAt(day2, "dev-c", 3, "d2c")
	appendAt(day2.Add(time.Second), "dev-a", 3, "d2a")

	q := slokeeper.LogQuery{Class: slokeeper.LogClassExec}
	pq := q
	pq.Limit = 100 // a page: in position order on the open day too
	all := query(t, s, pq)
	if len(all) != 17 {
		t.Fatalf("got %d records, want 17", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].Pos.Compare(all[i].Pos) >= 0 {
			t.Fatalf("record %d at %+v does not sort after %+v", i, all[i].Pos, all[i-1].Pos)
		}
	}

	t.Run("OKEveryRecordOnce", func(t *testing.T) {
		q := q
		q.Limit = 3
		var got []slokeeper.LogRecord
		for cur, n := "", 0; ; n++ {
			p, next := page(t, s, q, cur)
			if len(p) > 3 || n > 10 {
				t.Fatalf("page %d has %d records", n, len(p))
			}
			if next == "" {
				break
			}
			got, cur = append(got, p...), next
		}
		if messages(got) != messages(all) {
			t.Fatalf("paged:\n%s\nwant:\n%s", messages(got), messages(all))
		}
	})

	t.Run("OKArrivalsAndSealBetweenPages", func(t *testing.T) {
		q := q
		q.Limit = 13 // ends inside the open day 2, at d2a-1
		first, cur := page(t, s, q, "")
		// Records arrive on day 2 from sources before and after the
		// cursor's, then day 2 is sealed and day 3 opens.
		appendAt(day2.Add(time.Hour), "dev-0", 1, "late0")
		appendAt(day2.Add(time.Hour), "dev-z", 1, "latez")
		c.Set(time.Date(2026, 12, 5, 0, 30, 0, 0, tokyo))
		if _, err := s.SealDue(ctx); err != nil {
			t.Fatal(err)
		}
		appendAt(time.Date(2026, 12, 5, 1, 0, 0, 0, tokyo), "dev-a", 1, "d3")
		q.Limit = 0
		rest, _ := page(t, s, q, cur)
		got := messages(append(first, rest...))
		want := messages(all) + "latez-0 d3-0 "
		if got != want {
			t.Fatalf("paged:\n%s\nwant (every record once; late arrivals after the cursor):\n%s", got, want)
		}
	})

	t.Run("ErrCursor", func(t *testing.T) {
		_, cur := page(t, s, slokeeper.LogQuery{Class: slokeeper.LogClassExec, Limit: 2}, "")
		for name, q := range map[string]slokeeper.LogQuery{
			"OtherQuery": {Class: slokeeper.LogClassExec, SourceID: "dev-a", After: cur},
			"Tampered":   {Class: slokeeper.LogClassExec, After: cur[:len(cur)-3] + "zzz"},
			"Garbage":    {After: "?"},
		} {
			err := s.QueryLogs(ctx, q, func(*slokeeper.LogRecord) error { return nil })
			if slokeeper.ErrorCode(err) != slokeeper.EINVALID {
				t.Errorf("%s: err %v, want EINVALID", name, err)
			}
		}
	})
}

func TestQueryLogsOpenPageIsSortedPage(t *testing.T) {
	forBackends(t, testQueryLogsOpenPageIsSortedPage)
}

// testQueryLogsOpenPageIsSortedPage checks the bounded heap that pages an
// open day against a reference built here by sorting every record: random
// records from three sources at three received times appended in random
// order (the clock goes back and forth, so arrival order is not received
// order, and many records tie on source and received time), filtered or
// not, read with random limits after random cursors.
func testQueryLogsOpenPageIsSortedPage(t *testing.T, open func() *logstore.Store, c *clock) {
	ctx := context.Background()
	s := open()
	rng := rand.New(rand.NewPCG(14, 2))
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)
	var stored []slokeeper.LogRecord // in stored (arrival) order
	for b := range 60 {
		c.Set(t0.Add(time.Duration(rng.IntN(3)) * time.Millisecond))
		batch := make([]slokeeper.LogRecord, 1+rng.IntN(8))
		for i := range batch {
			batch[i] = slokeeper.LogRecord{SourceKind: slokeeper.SourceDevice, SourceID: fmt.Sprintf("s%d", rng.IntN(3)),
				Level: []string{"info", "error"}[rng.IntN(2)], Message: fmt.Sprintf("m%d.%d", b, i)}
		}
		if _, err := s.AppendLogs(ctx, slokeeper.LogClassExec, batch, ""); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, batch...) // AppendLogs set Received and Class
	}
	// reference: q's records in LogPosition order, each with its Pos, by
	// the definition: a stable sort of the stored order, N counting ties.
	reference := func(q slokeeper.LogQuery) []slokeeper.LogRecord {
		var out []slokeeper.LogRecord
		for _, r := range stored {
			if q.Level == "" || r.Level == q.Level {
				out = append(out, r)
			}
		}
		slices.SortStableFunc(out, func(a, b slokeeper.LogRecord) int {
			return cmp.Or(strings.Compare(a.SourceID, b.SourceID), a.Received.Compare(b.Received))
		})
		for i := range out {
			out[i].Pos = slokeeper.LogPosition{Class: slokeeper.LogClassExec, Day: "2026-12-03", Source: out[i].SourceID, Received: out[i].Received.UnixNano()}
			if i > 0 && out[i].SourceID == out[i-1].SourceID && out[i].Received.Equal(out[i-1].Received) {
				out[i].Pos.N = out[i-1].Pos.N + 1
			}
		}
		return out
	}
	same := func(t *testing.T, what string, got, want []slokeeper.LogRecord) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d:\n got %s\nwant %s", what, len(got), len(want), messages(got), messages(want))
		}
		for i := range got {
			if got[i].Message != want[i].Message || got[i].Pos != want[i].Pos {
				t.Fatalf("%s: record %d is %s at %+v, want %s at %+v", what, i, got[i].Message, got[i].Pos, want[i].Message, want[i].Pos)
			}
		}
	}
	queries := []slokeeper.LogQuery{{Class: slokeeper.LogClassExec}, {Class: slokeeper.LogClassExec, Level: "error"}}

	t.Run("OKRandomPages", func(t *testing.T) {
		for _, q := range queries {
			ref := reference(q)
			for range 200 {
				pq := q
				pq.Limit = 1 + rng.IntN(len(ref)+5)
				if rng.IntN(10) == 0 {
					pq.Limit = slokeeper.MaxLogPage + 1 // the largest page
				}
				from := 0 // index of the first record after the cursor
				if rng.IntN(5) > 0 {
					at := rng.IntN(len(ref))
					pq.After, from = q.LogCursor(ref[at].Pos), at+1
				}
				got, _ := page(t, s, pq, pq.After)
				want := ref[from:min(len(ref), from+pq.Limit)]
				same(t, fmt.Sprintf("level %q, limit %d, from %d", q.Level, pq.Limit, from), got, want)
			}
			// Paging with a random limit each time returns every record once.
			var got []slokeeper.LogRecord
			for cur := ""; ; {
				pq := q
				pq.Limit = 1 + rng.IntN(7)
				p, next := page(t, s, pq, cur)
				if next == "" {
					break
				}
				got, cur = append(got, p...), next
			}
			same(t, fmt.Sprintf("level %q, paged", q.Level), got, ref)
		}
	})

	t.Run("OKStreamInArrivalOrder", func(t *testing.T) {
		for _, q := range queries {
			ref := reference(q)
			for _, at := range []int{-1, 0, len(ref) / 3, len(ref) - 1} {
				var cur *slokeeper.LogPosition
				sq := q // no limit: a stream
				if at >= 0 {
					cur, sq.After = &ref[at].Pos, q.LogCursor(ref[at].Pos)
				}
				after := map[string]bool{}
				for _, r := range ref {
					if cur == nil || r.Pos.Compare(*cur) > 0 {
						after[r.Message] = true
					}
				}
				var want []slokeeper.LogRecord
				for _, r := range stored {
					if after[r.Message] {
						want = append(want, slokeeper.LogRecord{Message: r.Message}) // Pos zero: not in position order
					}
				}
				got := query(t, s, sq)
				same(t, fmt.Sprintf("level %q, stream after %d", q.Level, at), got, want)
			}
		}
	})

	t.Run("OKSealedKeepsPositions", func(t *testing.T) {
		c.Set(time.Date(2026, 12, 4, 0, 30, 0, 0, tokyo))
		if sealed, err := s.SealDue(ctx); err != nil || len(sealed) != 1 {
			t.Fatalf("SealDue = %v, %v; want the day sealed", sealed, err)
		}
		for _, q := range queries {
			same(t, fmt.Sprintf("level %q, sealed", q.Level), query(t, s, q), reference(q))
		}
	})
}
