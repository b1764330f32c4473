package slokeeper

import (
	"context"
	"fmt"
	"time"
)

// PassHolder is the node running the cluster's lifecycle pass, as the
// database records it beside the lock.
type PassHolder struct {
	Node    string    `json:"node"`
	Started time.Time `json:"started"`
}

// PassLock keeps lifecycle passes to one at a time for the whole cluster:
// a lock in the shared database, not a per-node worker limit.
type PassLock interface {
	// LockPass takes the lock for node, whose pass starts at started,
	// waiting up to wait for a pass under way to end. If one still runs
	// then, the error is a *PassBusyError naming its node.
	LockPass(ctx context.Context, node string, started time.Time, wait time.Duration) (PassLease, error)
}

// PassLease is the pass lock, held.
type PassLease interface {
	// Check reports whether the lock is still held: nil, or why not (its
	// database connection is gone, the database is unreachable). An action
	// of the pass must not start once Check has failed: another node may
	// hold the lock by then. It is safe for concurrent use.
	Check(ctx context.Context) error
	// Stale is the holder a pass that died holding the lock left recorded
	// (the database dropped its lock with its connection); zero if none.
	Stale() PassHolder
	// Release clears the holder's record and releases the lock.
	Release()
}

// PassBusyError says that another pass holds the lock.
type PassBusyError struct {
	Holder PassHolder // zero Node when the holder has not recorded itself yet
}

func (e *PassBusyError) Error() string { return e.Text("en") }

// Unwrap makes it an ECONFLICT Error.
func (e *PassBusyError) Unwrap() error { return &Error{Code: ECONFLICT, Message: e.Text("en")} }

// Text says it in Japanese ("ja") or English.
func (e *PassBusyError) Text(lang string) string {
	h := e.Holder
	switch {
	case h.Node == "" && lang == "ja":
		return "ライフサイクルのパスが別のノードで実行中です。終了後に再度お試しください。"
	case h.Node == "":
		return "A lifecycle pass is running on another node; try again once it has ended."
	case lang == "ja":
		return fmt.Sprintf("ライフサイクルのパスがノード %s で実行中です(%s 開始)。終了後に再度お試しください。", h.Node, h.Started.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("A lifecycle pass is running on node %s (started %s); try again once it has ended.", h.Node, h.Started.UTC().Format(time.RFC3339))
}
