package slokeeper_test

import (
	"strings"
	"testing"
	"time"

	"slokeeper"
)

func TestLogCursor(t *testing.T) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	q := slokeeper.LogQuery{Class: slokeeper.LogClassExec, SourceID: "dev-1", From: from, Limit: 10}
	p := slokeeper.LogPosition{Class: "exec", Day: "2026-12-01", Source: "dev-1", Received: from.UnixNano() + 5, N: 3}
	c := q.LogCursor(p)

	t.Run("OK", func(t *testing.T) {
		q2 := q
		q2.Limit, q2.After = 50, c // the limit is not a filter
		got, ok, err := q2.ParseLogCursor()
		if err != nil || !ok || got != p {
			t.Fatalf("ParseLogCursor = %+v, %v, %v; want %+v", got, ok, err, p)
		}
	})
	t.Run("OKEmpty", func(t *testing.T) {
		if _, ok, err := q.ParseLogCursor(); ok || err != nil {
			t.Fatalf("empty cursor: ok %v err %v", ok, err)
		}
	})
	t.Run("ErrOtherQuery", func(t *testing.T) {
		q2 := q
		q2.SourceID, q2.After = "dev-2", c
		_, _, err := q2.ParseLogCursor()
		if slokeeper.ErrorCode(err) != slokeeper.EINVALID || !strings.Contains(slokeeper.ErrorMessage(err), "other filters") {
			t.Fatalf("foreign cursor: %v, want EINVALID about other filters", err)
		}
	})
	t.Run("ErrTampered", func(t *testing.T) {
		for _, bad := range []string{"x", "c1.", "c2." + c[3:], c + "A", c[:len(c)-2], strings.Replace(c, c[10:11], "_", 1)} {
			q2 := q
			q2.After = bad
			if _, _, err := q2.ParseLogCursor(); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
				t.Errorf("cursor %q: err %v, want EINVALID", bad, err)
			}
		}
	})
}

func TestLogPositionCompare(t *testing.T) {
	a := slokeeper.LogPosition{Class: "exec", Day: "2026-12-01", Source: "b", Received: 5, N: 1}
	for _, tc := range []struct {
		b    slokeeper.LogPosition
		want int
	}{
		{a, 0},
		{slokeeper.LogPosition{Class: "exec", Day: "2026-12-02", Source: "a"}, -1},
		{slokeeper.LogPosition{Class: "exec", Day: "2026-12-01", Source: "a", Received: 9}, 1},
		{slokeeper.LogPosition{Class: "exec", Day: "2026-12-01", Source: "b", Received: 5, N: 2}, -1},
		{slokeeper.LogPosition{Class: "system", Day: "2026-11-01"}, -1},
	} {
		if got := a.Compare(tc.b); got != tc.want {
			t.Errorf("%+v.Compare(%+v) = %d, want %d", a, tc.b, got, tc.want)
		}
	}
}

func FuzzParseLogCursor(f *testing.F) {
	q := slokeeper.LogQuery{Class: "exec", Contains: "err"}
	f.Add(q.LogCursor(slokeeper.LogPosition{Class: "exec", Day: "2026-12-01", Source: "d", Received: 1, N: 2}))
	f.Add("c1.")
	f.Add("c1.AAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		q := q
		q.After = s
		p, ok, err := q.ParseLogCursor()
		if err != nil {
			if slokeeper.ErrorCode(err) != slokeeper.EINVALID {
				t.Fatalf("cursor %q: error %v is not EINVALID", s, err)
			}
			return
		}
		if !ok {
			if s != "" {
				t.Fatalf("cursor %q: neither an error nor a position", s)
			}
			return
		}
		// A cursor that parses says the same thing when written again.
		q.After = q.LogCursor(p)
		if p2, _, err := q.ParseLogCursor(); err != nil || p2 != p {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", s, p2, err, p)
		}
	})
}
