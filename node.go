package slokeeper

import (
	"context"
	"time"
)

// Node is one `slokeeper serve` process of the cluster, as its own
// heartbeats describe it. Every node beats on its own; any node may find
// another stopped.
type Node struct {
	Name      string    `json:"name"`       // --node, or the host name
	StartedAt time.Time `json:"started_at"` // when the process serving under this name started
	LastSeen  time.Time `json:"last_seen"`  // its latest heartbeat
	Version   string    `json:"version"`
	Address   string    `json:"address,omitempty"` // where it serves HTTP
	// StoppedAt is the last heartbeat of a node found stopped (no beat
	// for the heartbeat bound); zero while it beats.
	StoppedAt time.Time `json:"stopped_at,omitzero"`
}

// Validate reports whether n can be stored, truncating its times to the
// microseconds both engines keep.
func (n *Node) Validate() error {
	switch {
	case n.Name == "":
		return Errorf(EINVALID, "A node needs its name.")
	case len(n.Name) > 200:
		return Errorf(EINVALID, "A node's name is at most 200 bytes.")
	case n.LastSeen.IsZero() || n.StartedAt.IsZero():
		return Errorf(EINVALID, "A node's heartbeat needs its time and the node's start.")
	}
	n.StartedAt = n.StartedAt.UTC().Truncate(time.Microsecond)
	n.LastSeen = n.LastSeen.UTC().Truncate(time.Microsecond)
	return nil
}

// NodeService keeps the cluster's nodes and the few values the whole
// cluster must agree on (the master key's check value, which alerts are
// raised). Every change that evidence follows from is conditional, so
// that of several nodes noticing the same thing exactly one records it.
type NodeService interface {
	// BeatNode records n's heartbeat, creating its row on the first, and
	// clears a stopped mark: it returns the StoppedAt it cleared (zero
	// when the node was not marked stopped), once. When it clears one and
	// back is not nil, the evidence back returns is stored in the same
	// transaction: the return is recorded exactly once.
	BeatNode(ctx context.Context, n *Node, back func(stoppedAt time.Time) *Evidence) (wasStopped time.Time, err error)
	// MarkStoppedNodes marks stopped every node not yet marked whose last
	// heartbeat is before cutoff, and returns those this call marked,
	// storing for each the evidence stopped returns (stopped may be nil)
	// in the same transaction.
	MarkStoppedNodes(ctx context.Context, cutoff time.Time, stopped func(*Node) *Evidence) ([]*Node, error)
	// FindNodes returns every node by name.
	FindNodes(ctx context.Context) ([]*Node, error)
	// SwapClusterValue sets the cluster value name to new only if it is
	// old (nil: the value is absent; new nil: remove it), and returns the
	// value held afterwards and whether this call changed it. When it
	// changes it and e is not nil, e is stored in the same transaction.
	SwapClusterValue(ctx context.Context, name string, old, new []byte, e *Evidence) (current []byte, swapped bool, err error)
	// ClusterValue returns the cluster value name, nil when absent.
	ClusterValue(ctx context.Context, name string) ([]byte, error)
}

// Serving reports whether n serves at now: not marked stopped, and seen
// within bound.
func (n *Node) Serving(now time.Time, bound time.Duration) bool {
	return n.StoppedAt.IsZero() && !n.LastSeen.Before(now.Add(-bound))
}
