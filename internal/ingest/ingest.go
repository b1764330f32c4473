// Package ingest turns what senders post (NDJSON lines, the enebular-agent
// log chunk, OTLP logs) into log records. It does no I/O beyond reading the
// body it is given: who sent it (account, source) is the caller's to fill
// in, from the sender's token, never from the payload.
package ingest

import (
	"bufio"
	"bytes"
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
	MaxAgentChunk   = 256 << 10
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

// ParseAgentChunk parses the enebular-agent's log chunk: a JSON array of
// winston-style events ({"level", "message", "timestamp", ...extra}), as
// its log cache uploads them. The chunk is taken whole or not at all: one
// bad event refuses the chunk, naming it.
func ParseAgentChunk(b []byte) ([]slokeeper.LogRecord, error) {
	if len(b) > MaxAgentChunk {
		return nil, fmt.Errorf("the chunk is %d bytes; the agent sends at most %d", len(b), MaxAgentChunk)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("the chunk is not valid UTF-8")
	}
	var events []json.RawMessage
	if err := json.Unmarshal(b, &events); err != nil {
		return nil, errors.New("the chunk is not a JSON array of log events")
	}
	if len(events) > DefaultMaxRecords {
		return nil, &LimitError{"records", DefaultMaxRecords}
	}
	recs := make([]slokeeper.LogRecord, 0, len(events))
	for i, ev := range events {
		rec, err := ParseObject(ev)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		recs = append(recs, rec)
	}
	return recs, nil
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
		recs, err := ParseAgentChunk(t)
		if err != nil {
			return nil, err.Error()
		}
		return recs, ""
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
