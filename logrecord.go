package slokeeper

import (
	"context"
	"encoding/json"
	"time"
)

// Log classes: the two kinds of logs the policy's retention clauses name.
const (
	LogClassSystem = "system" // the application's and hosting servers' logs
	LogClassExec   = "exec"   // execution-environment logs: cloud runtimes, agents, devices
)

// Source kinds: what sent a log record.
const (
	SourceCloud  = "cloud"  // a cloud execution environment
	SourceAgent  = "agent"  // an on-device agent
	SourceDevice = "device" // a device
	SourceApp    = "app"    // the service's own application or hosting servers (system logs)
)

// LogRecord is one log line as stored.
type LogRecord struct {
	// Received is when the service received the record: the retention
	// clock, and the key of its day partition.
	Received   time.Time       `json:"received"`
	Class      string          `json:"class"`
	Account    string          `json:"account,omitempty"`
	SourceKind string          `json:"source_kind"`
	SourceID   string          `json:"source"`
	Level      string          `json:"level,omitempty"`
	Message    string          `json:"message"`
	Attrs      json.RawMessage `json:"attrs,omitempty"` // a JSON object, or nil
	// SenderTime is the timestamp the sender wrote, kept for display and
	// queries only (device clocks lie); SenderTimeRaw keeps it as sent
	// when it could not be parsed.
	SenderTime    time.Time `json:"time,omitzero"`
	SenderTimeRaw string    `json:"time_raw,omitempty"`
	// Pos is the record's place in the query's results, set by QueryLogs:
	// LogQuery.LogCursor(Pos) continues the query after this record. Zero
	// for a record of an open day in a stream (see LogQuery.Limit), which
	// is not in position order.
	Pos LogPosition `json:"-"`
}

// LogQuery selects log records. Zero fields do not filter.
type LogQuery struct {
	Class    string
	Account  string
	SourceID string
	Level    string
	From, To time.Time // Received in [From, To)
	Contains string    // substring of the message
	// Limit is the most records returned; 0: no limit. A page (a Limit of
	// at most MaxLogPage+1, a page and one record more to tell whether
	// there is a next) is in LogPosition order throughout, and holds only
	// Limit records in memory. Anything else is a stream: in position
	// order too, except that an open day's records come in the order they
	// arrived (ordering a whole day would hold it in memory).
	Limit int
	// After, when set, is a cursor (from LogQuery.LogCursor) made by a
	// query with the same filters: only records whose LogPosition is after
	// it are returned. Opaque to callers; see LogPosition for the order and
	// the guarantee. A malformed or foreign cursor is EINVALID.
	After string
}

// LogPartition is one (class, day) partition of the log store: the unit of
// backup and erasure.
type LogPartition struct {
	Class       string    `json:"class"`
	Day         string    `json:"day"` // YYYY-MM-DD in the policy's time zone
	Records     int64     `json:"records"`
	Bytes       int64     `json:"bytes"`
	Sealed      bool      `json:"sealed"`
	Checksum    string    `json:"checksum,omitempty"` // sha256 hex of the sealed file, once sealed
	MinReceived time.Time `json:"min_received,omitzero"`
	MaxReceived time.Time `json:"max_received,omitzero"`
	SealedAt    time.Time `json:"sealed_at,omitzero"`
}

// LogPartitionFilter selects partitions. Zero fields do not filter.
type LogPartitionFilter struct {
	Class  string
	Day    string
	Sealed *bool
}

// LogCatalog records the log store's partitions in the database, so the
// lifecycle engine plans from the database alone.
type LogCatalog interface {
	// UpsertLogPartition inserts p, or updates the partition with its class
	// and day.
	UpsertLogPartition(ctx context.Context, p *LogPartition) error
	// FindLogPartitions returns matching partitions by class, then day.
	FindLogPartitions(ctx context.Context, f LogPartitionFilter) ([]*LogPartition, error)
	// DeleteLogPartition removes a partition's entry; ENOTFOUND if none.
	DeleteLogPartition(ctx context.Context, class, day string) error
}

// LogService stores and reads log records.
type LogService interface {
	// AppendLogs stores recs as received now, in class, all or none, and
	// returns once they are durable. A non-empty key makes the append
	// idempotent: a second append with the same key adds nothing and
	// reports duplicate.
	AppendLogs(ctx context.Context, class string, recs []LogRecord, key string) (duplicate bool, err error)
	// QueryLogs calls fn for each record matching q and after q.After, in
	// LogPosition order with the record's Pos set; in a stream (see
	// LogQuery.Limit) an open day's records come in arrival order instead,
	// with Pos zero.
	QueryLogs(ctx context.Context, q LogQuery, fn func(*LogRecord) error) error
	// LogPartitions lists the partitions with their current counts.
	LogPartitions(ctx context.Context) ([]*LogPartition, error)
}
