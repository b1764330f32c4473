package logstore

import (
	"cmp"
	"container/heap"
	"slices"
	"strings"

	"slokeeper"
)

// pager emits a query's records from after its cursor, up to its limit:
// the one place both backends page.
//
// A sealed partition is stored in LogPosition order and streamed as it is
// read. An open partition is stored in arrival order. A page (a Limit of
// at most slokeeper.MaxLogPage+1) needs position order, so the open
// partition's matching records are read whole and only the page's smallest
// positions after the cursor are kept, in a max-heap of at most Limit
// records: memory O(Limit), time O(n log Limit). A stream (no Limit, or a
// larger one) gets the open partition in arrival order, as it is read:
// sorting a whole day needs the day in memory, or a spill file of its size
// per reader and no first record before the day is sorted; repeated
// bounded passes cost O(n²/page). A stream is read whole (a download, a
// copy), so its order matters less than its memory; a cursor needs order,
// and only pages make cursors.
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

// paged reports whether the query is a page, read in LogPosition order
// everywhere; otherwise it is a stream (see pager).
func (pg *pager) paged() bool { return pg.q.Limit > 0 && pg.q.Limit <= slokeeper.MaxLogPage+1 }

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

// emit hands r to the caller; errStop once the limit is reached.
func (pg *pager) emit(r *slokeeper.LogRecord) error {
	if err := pg.fn(r); err != nil {
		return err
	}
	pg.n++
	if pg.q.Limit > 0 && pg.n >= pg.q.Limit {
		return errStop
	}
	return nil
}

// cursorGroup counts, in stored order, the records of partition k that
// share the cursor's source and received time: the one group whose
// records lie on both sides of the cursor, so the only one whose N is
// needed to tell which side a record is on.
type cursorGroup struct {
	after *slokeeper.LogPosition // nil: the cursor is not in this partition
	n     uint32                 // records of the group seen so far
}

func (pg *pager) cursorGroup(k partKey) cursorGroup {
	if pg.after != nil && pg.after.Class == k.class && pg.after.Day == k.day {
		return cursorGroup{after: pg.after}
	}
	return cursorGroup{}
}

// side tells where rr lies against the cursor: -1 before (or at) it, +1
// after it; 0 after it and in its group, with n its N.
func (c *cursorGroup) side(rr *rawRecord) (side int, n uint32) {
	if c.after == nil {
		return 1, 0
	}
	switch s := cmpRaw(rr, c.after.Source, c.after.Received); {
	case s < 0:
		return -1, 0
	case s > 0:
		return 1, 0
	}
	n = c.n
	c.n++
	if n <= c.after.N {
		return -1, n
	}
	return 0, n
}

// cmpRaw compares rr's source and received time with source and received,
// without allocating (string(b) in a comparison is not copied).
func cmpRaw(rr *rawRecord, source string, received int64) int {
	switch src := rr.fields[2]; {
	case string(src) < source:
		return -1
	case string(src) > source:
		return 1
	}
	return cmp.Compare(rr.received, received)
}

// partition emits one partition's records. scan yields its matching
// records in stored order.
func (pg *pager) partition(k partKey, sealed bool, scan func(fn func(*rawRecord) error) error) error {
	switch {
	case pg.skipPartition(k):
		return nil
	case sealed:
		return pg.inOrder(k, scan)
	case pg.paged():
		return pg.smallest(k, scan)
	default:
		return pg.arrivals(k, scan)
	}
}

// inOrder emits a partition stored in LogPosition order (a sealed one) as
// it is read; a record before the cursor is not even decoded.
func (pg *pager) inOrder(k partKey, scan func(fn func(*rawRecord) error) error) error {
	var last slokeeper.LogPosition // Day "": none yet
	return scan(func(rr *rawRecord) error {
		if last.Day != "" && cmpRaw(rr, last.Source, last.Received) == 0 {
			last.N++
		} else {
			src := last.Source
			if string(rr.fields[2]) != src {
				src = string(rr.fields[2])
			}
			last = slokeeper.LogPosition{Class: k.class, Day: k.day, Source: src, Received: rr.received}
		}
		if pg.after != nil && last.Compare(*pg.after) <= 0 {
			return nil
		}
		r := rr.record(k.class)
		r.Pos = last
		return pg.emit(&r)
	})
}

// arrivals emits an open partition in stored (arrival) order, for a
// stream: only the records after the cursor, with Pos left zero, since
// this is not position order and no cursor may be made from it.
func (pg *pager) arrivals(k partKey, scan func(fn func(*rawRecord) error) error) error {
	cg := pg.cursorGroup(k)
	return scan(func(rr *rawRecord) error {
		if side, _ := cg.side(rr); side < 0 {
			return nil
		}
		r := rr.record(k.class)
		return pg.emit(&r)
	})
}

// pageRec is a record kept for a page, with its tie-break among records of
// the same source and received time: the index among the partition's
// matching records in stored order, or for the cursor's group its N; both
// follow stored order within a group, which is what N counts.
type pageRec struct {
	r   slokeeper.LogRecord
	key uint64
}

func comparePageRec(a, b *pageRec) int {
	return cmp.Or(strings.Compare(a.r.SourceID, b.r.SourceID), a.r.Received.Compare(b.r.Received), cmp.Compare(a.key, b.key))
}

// pageHeap is a max-heap of pageRecs: its root is the largest position kept.
type pageHeap []pageRec

func (h pageHeap) Len() int           { return len(h) }
func (h pageHeap) Less(i, j int) bool { return comparePageRec(&h[i], &h[j]) > 0 }
func (h pageHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pageHeap) Push(x any)        { *h = append(*h, x.(pageRec)) }
func (h *pageHeap) Pop() any          { x := (*h)[len(*h)-1]; *h = (*h)[:len(*h)-1]; return x }

// smallest emits the page's records of an open partition: the Limit (less
// what earlier partitions gave) smallest positions after the cursor, kept
// in a bounded max-heap while the partition is read whole, then sorted. A
// record that would not enter the heap is compared on its bytes and never
// decoded.
//
// N is what sealing's stable sort would give: a record's index among the
// partition's matching records with its source and received time, in
// stored order. It does not depend on the limit: the page is a prefix of
// the partition's order after the cursor, so with any record of a group it
// holds every earlier one of that group except those before the cursor,
// which only the cursor's group has and which cursorGroup counts.
func (pg *pager) smallest(k partKey, scan func(fn func(*rawRecord) error) error) error {
	limit := pg.q.Limit - pg.n
	h := make(pageHeap, 0, min(limit, 1024))
	cg := pg.cursorGroup(k)
	var seq uint64
	err := scan(func(rr *rawRecord) error {
		key := seq
		seq++
		side, n := cg.side(rr)
		switch side {
		case -1:
			return nil
		case 0:
			key = uint64(n)
		}
		if len(h) == limit {
			top := &h[0]
			if c := cmpRaw(rr, top.r.SourceID, top.r.Received.UnixNano()); c > 0 || c == 0 && key > top.key {
				return nil
			}
			*top = pageRec{rr.record(k.class), key}
			heap.Fix(&h, 0)
			return nil
		}
		h = append(h, pageRec{rr.record(k.class), key})
		heap.Fix(&h, len(h)-1) // as heap.Push, without boxing the record
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(h, func(a, b pageRec) int { return comparePageRec(&a, &b) })
	var last slokeeper.LogPosition
	for i := range h {
		r := &h[i].r
		pos := slokeeper.LogPosition{Class: k.class, Day: k.day, Source: r.SourceID, Received: r.Received.UnixNano()}
		switch {
		case i > 0 && pos.Source == last.Source && pos.Received == last.Received:
			pos.N = last.N + 1
		case cg.after != nil && pos.Source == cg.after.Source && pos.Received == cg.after.Received:
			pos.N = uint32(h[i].key)
		}
		last, r.Pos = pos, pos
		if err := pg.emit(r); err != nil {
			return err
		}
	}
	return nil
}
