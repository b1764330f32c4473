package ingest

import (
	"errors"
	"fmt"
	"io"
)

// Defaults for what one request (or one MQTT message) may cost. A bound
// is checked before the memory it guards is allocated: the decoded stream
// is read through a limit, and OTLP's nested messages are counted on the
// wire before anything is unmarshalled.
const (
	// DefaultMaxDecoded bounds the bytes a body decompresses to.
	DefaultMaxDecoded = 8 << 20
	// DefaultMaxRecords bounds the records of one request.
	DefaultMaxRecords = 100000
	// DefaultMaxValues bounds the values one OTLP request holds: every
	// nested message (resource, scope, record, attribute, value) in
	// protobuf, every JSON value in OTLP/JSON. A Collector's batch of 8192
	// records with ten attributes each holds about 180,000.
	DefaultMaxValues = 500000
	// MaxListedRejects is how many refused lines a reply lists; the rest
	// are counted in one last entry.
	MaxListedRejects = 1000
)

// Limits bound what parsing one request may cost. Zero fields take the
// defaults above.
type Limits struct {
	MaxLine    int   // one NDJSON line; default DefaultMaxLine (64 KiB)
	MaxDecoded int64 // the decompressed body; default DefaultMaxDecoded (8 MiB)
	MaxRecords int   // records per request; default DefaultMaxRecords (100,000)
	MaxValues  int   // values per OTLP request; default DefaultMaxValues (500,000)
}

// WithDefaults returns l with its zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultMaxLine
	}
	if l.MaxDecoded <= 0 {
		l.MaxDecoded = DefaultMaxDecoded
	}
	if l.MaxRecords <= 0 {
		l.MaxRecords = DefaultMaxRecords
	}
	if l.MaxValues <= 0 {
		l.MaxValues = DefaultMaxValues
	}
	return l
}

// maxStored bounds the bytes of the records a request becomes (messages
// and attributes). OTLP copies a resource's attributes into each of its
// records, so a small request could otherwise become a large one.
func (l Limits) maxStored() int64 { return 4 * l.MaxDecoded }

// LimitError says which bound a request passed. Nothing of the request
// is stored.
type LimitError struct {
	What  string // e.g. "decoded body bytes", "records"
	Limit int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the request holds more than %d %s", e.Limit, e.What)
}

// IsLimit reports whether err is (or wraps) a *LimitError.
func IsLimit(err error) bool {
	var le *LimitError
	return errors.As(err, &le)
}

// LimitReader returns a reader of r that fails with a *LimitError once
// more than n bytes come out of it: what a decompressor is read through,
// so a small compressed body cannot become a large one in memory.
func LimitReader(r io.Reader, n int64) io.Reader {
	return &limitReader{r: r, n: n, limit: n}
}

type limitReader struct {
	r        io.Reader
	n, limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, &LimitError{"decoded body bytes", l.limit}
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1] // one byte past the limit is enough to know
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, &LimitError{"decoded body bytes", l.limit}
	}
	return n, err
}

// ReadAll reads r whole, failing with a *LimitError past max bytes: never
// an unbounded io.ReadAll.
func ReadAll(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(LimitReader(r, max))
	if err != nil {
		return nil, err
	}
	return b, nil
}
