package slokeeper

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"
)

// LogPosition is a record's place in the total order of log search
// results: partition (class, then day), then source, then received time,
// then N, the record's index among the records of that partition that
// match the query and share its source and received time, in the order
// they were stored.
//
// The order is the one a sealed partition's blocks already have (sealing
// sorts by source, then received time, stably), so a position never
// changes when its partition is sealed. A position is bound to a query:
// N counts only matching records, and a cursor carries a hash of the
// query's filters.
//
// Guarantee: paging with cursors returns every record that existed when
// the first page was read exactly once, in this order, however many
// records arrive between pages. A record that arrives later is returned
// if its position is after the cursor (any record of a later day, and of
// the open day when its source sorts after the cursor's); otherwise the
// next search, started afresh, finds it.
type LogPosition struct {
	Class    string
	Day      string // YYYY-MM-DD
	Source   string
	Received int64 // Unix ns
	N        uint32
}

// Compare returns -1, 0 or +1 as p sorts before, with or after o: the one
// rule every backend pages by.
func (p LogPosition) Compare(o LogPosition) int {
	return cmp.Or(strings.Compare(p.Class, o.Class), strings.Compare(p.Day, o.Day),
		strings.Compare(p.Source, o.Source), cmp.Compare(p.Received, o.Received), cmp.Compare(p.N, o.N))
}

// MaxLogPage is the largest page of log search results: a query with a
// Limit of at most MaxLogPage+1 gets its records in LogPosition order, a
// cursor to continue from, and costs memory for Limit records, however
// large the day it reads.
const MaxLogPage = 10000

// logCursorVersion prefixes every cursor, so that a later format can be
// told apart and an old one refused clearly.
const logCursorVersion = "c1."

// filterHash is a short hash of q's filters (not its limit or cursor):
// a cursor is valid only for the query that produced it.
func (q LogQuery) filterHash() [8]byte {
	h := sha256.New()
	for _, s := range []string{q.Class, q.Account, q.SourceID, strings.ToLower(q.Level), q.Contains} {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	for _, t := range []time.Time{q.From, q.To} {
		var b [8]byte
		if !t.IsZero() {
			binary.BigEndian.PutUint64(b[:], uint64(t.UnixNano()))
		}
		h.Write(b[:])
	}
	var out [8]byte
	copy(out[:], h.Sum(nil))
	return out
}

// LogCursor returns the opaque cursor that continues q after p: the next
// page holds the records whose position is after p.
func (q LogQuery) LogCursor(p LogPosition) string {
	fh := q.filterHash()
	b := append([]byte(nil), fh[:]...)
	for _, s := range []string{p.Class, p.Day, p.Source} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, p.Received)
	b = binary.AppendUvarint(b, uint64(p.N))
	return logCursorVersion + base64.RawURLEncoding.EncodeToString(b)
}

// errBadCursor is the answer to a cursor that is not one, or not this
// query's.
var errBadCursor = Errorf(EINVALID, "この検索の続きを示すカーソルが正しくありません。最初のページから検索し直してください。 / The cursor is not valid for this search; start again from the first page.")

// ParseLogCursor returns the position q.After names (ok false when After
// is empty). A cursor that is malformed, tampered with or made by another
// query is EINVALID.
func (q LogQuery) ParseLogCursor() (p LogPosition, ok bool, err error) {
	if q.After == "" {
		return p, false, nil
	}
	s, found := strings.CutPrefix(q.After, logCursorVersion)
	if !found || len(s) > 2048 {
		return p, false, errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 8 {
		return p, false, errBadCursor
	}
	fh := q.filterHash()
	if !bytes.Equal(b[:8], fh[:]) {
		return p, false, Errorf(EINVALID, "このカーソルは別の検索条件のものです。条件を変えたときは最初のページから検索してください。 / The cursor belongs to a search with other filters; start again from the first page.")
	}
	b = b[8:]
	var fields [3]string
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return p, false, errBadCursor
		}
		fields[i], b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	recv, k := binary.Varint(b)
	if k <= 0 {
		return p, false, errBadCursor
	}
	b = b[k:]
	n, k := binary.Uvarint(b)
	if k <= 0 || k != len(b) || n > 1<<32-1 {
		return p, false, errBadCursor
	}
	p = LogPosition{Class: fields[0], Day: fields[1], Source: fields[2], Received: recv, N: uint32(n)}
	if _, err := time.Parse(time.DateOnly, p.Day); err != nil || p.Class == "" {
		return LogPosition{}, false, errBadCursor
	}
	return p, true, nil
}
