package logstore

import (
	"cmp"
	"slices"
	"strings"

	"slokeeper"
)

// pager emits a query's records in LogPosition order from after its
// cursor, up to its limit: the one place both backends page.
type pager struct {
	q     *slokeeper.LogQuery
	after *slokeeper.LogPosition // nil: from the start
	n     int                    // records emitted
	fn    func(*slokeeper.LogRecord) error
}

func newPager(q *slokeeper.LogQuery, fn func(*slokeeper.LogRecord) error) (*pager, error) {
	p, ok, err := q.ParseLogCursor()
	if err != nil {
		return nil, err
	}
	pg := &pager{q: q, fn: fn}
	if ok {
		pg.after = &p
	}
	return pg, nil
}

// skipPartition reports whether the whole partition lies before the cursor.
func (pg *pager) skipPartition(k partKey) bool {
	if pg.after == nil {
		return false
	}
	return cmp.Or(strings.Compare(k.class, pg.after.Class), strings.Compare(k.day, pg.after.Day)) < 0
}

// skipBlock reports whether every record of a sealed partition's block
// lies before the cursor: its sources (sorted, as sealing writes them) all
// sort before the cursor's.
func (pg *pager) skipBlock(k partKey, h *blockHeader) bool {
	if pg.after == nil || k.class != pg.after.Class || k.day != pg.after.Day || h.flags&flagManySources != 0 || len(h.sources) == 0 {
		return false
	}
	return slices.Max(h.sources) < pg.after.Source
}

// partition emits one partition's records. scan yields its matching
// records in stored order; a sealed partition's stored order is already
// LogPosition order, an open one's is sorted here (stably, as sealing
// sorts, so that a position survives the seal).
func (pg *pager) partition(k partKey, sealed bool, scan func(fn func(*slokeeper.LogRecord) error) error) error {
	if pg.skipPartition(k) {
		return nil
	}
	var last slokeeper.LogPosition
	emit := func(r *slokeeper.LogRecord) error {
		pos := slokeeper.LogPosition{Class: k.class, Day: k.day, Source: r.SourceID, Received: r.Received.UnixNano()}
		if pos.Source == last.Source && pos.Received == last.Received && last.Day != "" {
			pos.N = last.N + 1
		}
		last = pos
		if pg.after != nil && pos.Compare(*pg.after) <= 0 {
			return nil
		}
		r.Pos = pos
		if err := pg.fn(r); err != nil {
			return err
		}
		pg.n++
		if pg.q.Limit > 0 && pg.n >= pg.q.Limit {
			return errStop
		}
		return nil
	}
	if sealed {
		return scan(emit)
	}
	var recs []slokeeper.LogRecord
	if err := scan(func(r *slokeeper.LogRecord) error { recs = append(recs, *r); return nil }); err != nil {
		return err
	}
	slices.SortStableFunc(recs, func(a, b slokeeper.LogRecord) int {
		return cmp.Or(strings.Compare(a.SourceID, b.SourceID), a.Received.Compare(b.Received))
	})
	for i := range recs {
		if err := emit(&recs[i]); err != nil {
			return err
		}
	}
	return nil
}
