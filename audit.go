package slokeeper

import (
	"context"
	"strings"
	"time"
)

// AuditEntry is one sensitive action in the audit ledger: append-only,
// hash-chained and covered by signed checkpoints.
type AuditEntry struct {
	Seq    int64     `json:"seq"` // 1-based position in the ledger
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`            // who: "operator:alice", "local:root@host" (a direct-store command), "system:node"
	Action string    `json:"action"`           // what: "login", "grant.approve", "source.add", ...
	Target string    `json:"target,omitempty"` // to what: "account:acct-1", "source:src_x"
	Detail string    `json:"detail,omitempty"` // a sentence, or JSON
	// LeafHash is the RFC 6962 leaf hash of the entry's canonical form;
	// ChainHash is SHA-256(previous ChainHash || LeafHash).
	LeafHash  []byte `json:"leaf_hash"`
	ChainHash []byte `json:"chain_hash"`
}

// Validate reports whether e can be recorded.
func (e *AuditEntry) Validate() error {
	switch {
	case e.At.IsZero():
		return Errorf(EINVALID, "An audit entry needs its time.")
	case e.Actor == "":
		return Errorf(EINVALID, "An audit entry needs the actor.")
	case e.Action == "":
		return Errorf(EINVALID, "An audit entry needs the action.")
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	return nil
}

// AuditCheckpoint is a signed statement of the ledger's size and Merkle
// root at a moment.
type AuditCheckpoint struct {
	Size int64     `json:"size"`
	Root []byte    `json:"root"`
	Note string    `json:"note"` // the signed note (golang.org/x/mod/sumdb/note)
	At   time.Time `json:"at"`
}

// AuditStore stores the ledger. Entries are never updated or deleted.
type AuditStore interface {
	// AppendAuditEntry assigns e the next sequence number and, in the same
	// transaction, calls seal with the previous entry's chain hash (nil for
	// the first) to fill in e's hashes before storing it. Appends are
	// serialized: sequence numbers have no gaps.
	AppendAuditEntry(ctx context.Context, e *AuditEntry, seal func(prevChain []byte) error) error
	// EachAuditEntry calls fn for entries with Seq in [from, to] in order
	// (to <= 0: to the end).
	EachAuditEntry(ctx context.Context, from, to int64, fn func(*AuditEntry) error) error
	// AddAuditCheckpoint stores a checkpoint; ECONFLICT if one of that size exists.
	AddAuditCheckpoint(ctx context.Context, c *AuditCheckpoint) error
	// FindAuditCheckpoints returns the checkpoints by size.
	FindAuditCheckpoints(ctx context.Context) ([]*AuditCheckpoint, error)
}

// AuditFilter selects ledger entries as people search them: the actor
// exactly, the action exactly or by its prefix with a dot ("grant"
// matches grant.approve), the target as a substring. Zero fields do not
// filter.
type AuditFilter struct {
	Actor, Action, Target string
}

// Match reports whether e is one f selects.
func (f AuditFilter) Match(e *AuditEntry) bool {
	return (f.Actor == "" || e.Actor == f.Actor) &&
		(f.Action == "" || e.Action == f.Action || strings.HasPrefix(e.Action, f.Action+".")) &&
		(f.Target == "" || strings.Contains(e.Target, f.Target))
}
