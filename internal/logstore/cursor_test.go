package logstore_test

import (
	"context"
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
	all := query(t, s, q)
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
