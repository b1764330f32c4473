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
// object, longer than maxLine, or without a message. Blank lines are
// skipped. An error is returned only when r itself fails.
func ParseNDJSON(r io.Reader, maxLine int) ([]slokeeper.LogRecord, []Reject, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var recs []slokeeper.LogRecord
	var rejects []Reject
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br, maxLine)
		if len(bytes.TrimSpace(line)) > 0 || tooLong {
			switch {
			case tooLong:
				rejects = append(rejects, Reject{n, fmt.Sprintf("line is longer than %d bytes", maxLine)})
			default:
				rec, perr := ParseObject(line)
				if perr != nil {
					rejects = append(rejects, Reject{n, perr.Error()})
				} else {
					recs = append(recs, rec)
				}
			}
		}
		if err == io.EOF {
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
