// Package ingest turns what senders post (NDJSON lines, the enebular-agent
// log chunk, OTLP logs) into log records. It does no I/O beyond reading the
// body it is given: who sent it (account, source) is the caller's to fill
// in, from the sender's token, never from the payload.
package ingest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"slokeeper"
)

// Defaults for the limits ingestion enforces.
const (
	DefaultMaxLine  = 64 << 10 // one NDJSON line
	DefaultMaxBody  = 8 << 20  // one request body
	maxMessageBytes = DefaultMaxLine
)

// Reject says why one line was refused.
type Reject struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ParseNDJSON reads one JSON object per line from r and returns the records
// of the good lines and a Reject for each bad one: not UTF-8, not a JSON
// object, longer than lim.MaxLine, or without a message. Blank lines are
// skipped. At most MaxListedRejects rejects are listed; one more entry
// counts the rest. More than lim.MaxRecords good lines fail the whole
// request with a *LimitError, as r does when it does (a decoded body
// read through LimitReader). An error is returned only when r fails or a
// limit is passed.
func ParseNDJSON(r io.Reader, lim Limits) ([]slokeeper.LogRecord, []Reject, error) {
	lim = lim.WithDefaults()
	br := bufio.NewReaderSize(r, 64<<10)
	var recs []slokeeper.LogRecord
	var rejects []Reject
	unlisted, firstUnlisted := 0, 0
	reject := func(rj Reject) {
		if len(rejects) < MaxListedRejects {
			rejects = append(rejects, rj)
			return
		}
		if unlisted == 0 {
			firstUnlisted = rj.Line
		}
		unlisted++
	}
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br, lim.MaxLine)
		if len(bytes.TrimSpace(line)) > 0 || tooLong {
			switch {
			case tooLong:
				reject(Reject{n, fmt.Sprintf("line is longer than %d bytes", lim.MaxLine)})
			default:
				rec, perr := ParseObject(line)
				if perr != nil {
					reject(Reject{n, perr.Error()})
				} else if len(recs) == lim.MaxRecords {
					return nil, nil, &LimitError{"records", int64(lim.MaxRecords)}
				} else {
					recs = append(recs, rec)
				}
			}
		}
		if err == io.EOF {
			if unlisted > 0 {
				rejects = append(rejects, Reject{firstUnlisted, fmt.Sprintf("%d more lines from this one on were refused (not listed)", unlisted)})
			}
			return recs, rejects, nil
		}
		if err != nil {
			return recs, rejects, err
		}
	}
}

// readLine reads one line without its newline. A line longer than max is
// consumed and reported as too long, not returned.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max+1 { // +1: the newline itself
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), tooLong, err
	}
}

// Field names accepted for each part of a record, first match wins.
var (
	messageKeys = []string{"message", "msg"}
	levelKeys   = []string{"level", "severity"}
	timeKeys    = []string{"timestamp", "time", "ts"}
)

// parseTime reads a sender's timestamp: RFC 3339 text, or Unix time in
// seconds, milliseconds or nanoseconds. Anything else is kept as written.
func parseTime(v json.RawMessage) (time.Time, string) {
	if len(v) > 0 && v[0] == '"' {
		if s, err := text(v, true); err == nil {
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999"} {
				if t, err := time.Parse(layout, s); err == nil {
					return t.UTC(), ""
				}
			}
			return time.Time{}, truncate(s, 256)
		}
	}
	// Whole numbers take the exact path: a float64 cannot hold every
	// nanosecond (or even millisecond) of today.
	if n, err := strconv.ParseInt(string(v), 10, 64); err == nil && n > 0 {
		switch {
		case n < 1e11:
			return time.Unix(n, 0).UTC(), ""
		case n < 1e14:
			return time.UnixMilli(n).UTC(), ""
		default:
			return time.Unix(0, n).UTC(), ""
		}
	}
	var f float64
	if json.Unmarshal(v, &f) == nil && f > 0 && !math.IsInf(f, 0) {
		switch {
		case f < 1e11: // seconds (until the year 5138)
			return time.Unix(0, int64(f*1e9)).UTC(), ""
		case f < 1e14: // milliseconds
			return time.Unix(0, int64(f*1e6)).UTC(), ""
		case f < 9e18: // nanoseconds
			return time.Unix(0, int64(f)).UTC(), ""
		}
	}
	return time.Time{}, truncate(string(v), 256)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Bounds of one enebular-agent log chunk. The agent finalizes a cache
// file once its size in bytes plus the next event's length in UTF-16
// code units (JavaScript's string length) reaches 256 KiB, so a chunk of
// more than one event holds fewer than 256 Ki UTF-16 units, but up to
// three times as many bytes when the last event is Japanese text (3 bytes
// a unit in UTF-8). A chunk is bounded in the agent's units, with
// headroom, and in bytes at three times that, the most that many units
// can take in UTF-8, which is also what a request body is read up to.
const (
	MaxAgentChunkUnits = 256<<10 + 32<<10 // 288 Ki UTF-16 code units
	MaxAgentChunkBytes = 3 * MaxAgentChunkUnits
)

// EventReject says why one event of an agent chunk was refused; Event
// counts from 1 (the agent writes one event a line, after the "[" line).
type EventReject struct {
	Event  int    `json:"event"`
	Reason string `json:"reason"`
}

// AgentChunk is what an enebular-agent log chunk becomes.
type AgentChunk struct {
	Records []slokeeper.LogRecord
	// Rejects lists the events refused, at most MaxListedRejects; one
	// more entry counts the rest.
	Rejects []EventReject
	// Digest is the SHA-256 of the good events as sent, each followed by
	// a newline: the same chunk sent again has the same digest.
	Digest [sha256.Size]byte
}

// ParseAgentChunk parses the enebular-agent's log chunk: a JSON array of
// winston events ({"level", "message", "timestamp", ...metadata}), as its
// log cache uploads them; each event is read by ParseEvent. The agent
// resends a refused chunk until it is accepted, so a bad event (not an
// object, no message, a message over the line limit) is reported in
// Rejects and the good ones kept. An error refuses the whole chunk: over
// its bounds (MaxAgentChunkUnits UTF-16 units, MaxAgentChunkBytes bytes,
// DefaultMaxRecords events; a *LimitError for the last), not UTF-8, or
// not a JSON array.
func ParseAgentChunk(b []byte) (AgentChunk, error) {
	var c AgentChunk
	if len(b) > MaxAgentChunkBytes {
		return c, fmt.Errorf("the chunk is %d bytes; the agent sends at most %d", len(b), MaxAgentChunkBytes)
	}
	if !utf8.Valid(b) {
		return c, errors.New("the chunk is not valid UTF-8")
	}
	if n := utf16Len(b); n > MaxAgentChunkUnits {
		return c, fmt.Errorf("the chunk is %d UTF-16 code units long; the agent sends at most %d", n, MaxAgentChunkUnits)
	}
	var events []json.RawMessage
	if err := json.Unmarshal(b, &events); err != nil {
		return c, errors.New("the chunk is not a JSON array of log events")
	}
	if len(events) > DefaultMaxRecords {
		return c, &LimitError{"records", DefaultMaxRecords}
	}
	c.Records = make([]slokeeper.LogRecord, 0, len(events))
	h := sha256.New()
	unlisted, firstUnlisted := 0, 0
	for i, ev := range events {
		rec, err := ParseEvent(ev)
		if err != nil {
			if len(c.Rejects) < MaxListedRejects {
				c.Rejects = append(c.Rejects, EventReject{i + 1, err.Error()})
			} else if unlisted++; unlisted == 1 {
				firstUnlisted = i + 1
			}
			continue
		}
		h.Write(ev)
		h.Write([]byte{'\n'})
		c.Records = append(c.Records, rec)
	}
	if unlisted > 0 {
		c.Rejects = append(c.Rejects, EventReject{firstUnlisted, fmt.Sprintf("%d more events from this one on were refused (not listed)", unlisted)})
	}
	h.Sum(c.Digest[:0])
	return c, nil
}

// utf16Len is the length of valid UTF-8 text b in UTF-16 code units:
// one a character, two for one outside the Basic Multilingual Plane
// (whose UTF-8 lead byte is 0xF0 to 0xF4).
func utf16Len(b []byte) int {
	n := 0
	for _, c := range b {
		switch {
		case c&0xC0 == 0x80: // a continuation byte
		case c >= 0xF0:
			n += 2
		default:
			n++
		}
	}
	return n
}

// ParseMessage reads one MQTT message's payload: an agent chunk (a JSON
// array) or NDJSON. A payload over maxPayload bytes is refused before it
// is decoded. It returns the records to store and, when some or all of
// the payload was refused, why.
func ParseMessage(payload []byte, maxPayload int, lim Limits) ([]slokeeper.LogRecord, string) {
	if len(payload) > maxPayload {
		return nil, fmt.Sprintf("the payload is %d bytes, over the limit of %d", len(payload), maxPayload)
	}
	if t := bytes.TrimSpace(payload); len(t) > 0 && t[0] == '[' {
		c, err := ParseAgentChunk(t)
		if err != nil {
			return nil, err.Error()
		}
		if len(c.Rejects) > 0 {
			return c.Records, fmt.Sprintf("%d events refused, the first (event %d): %s", len(c.Rejects), c.Rejects[0].Event, c.Rejects[0].Reason)
		}
		return c.Records, ""
	}
	recs, rejects, err := ParseNDJSON(bytes.NewReader(payload), lim)
	if err != nil {
		return nil, err.Error()
	}
	if len(rejects) > 0 {
		return recs, fmt.Sprintf("%d lines refused, the first (line %d): %s", len(rejects), rejects[0].Line, rejects[0].Reason)
	}
	return recs, ""
}
