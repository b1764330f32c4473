package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"slokeeper"
	"slokeeper/policy"
)

// HeartbeatConfig configures a Heartbeat.
type HeartbeatConfig struct {
	Nodes    slokeeper.NodeService     // required
	Evidence slokeeper.EvidenceService // required
	// Ready is what the node's self-check checks. Required.
	Ready func(context.Context) error
	// Clock drives the beats and stamps evidence. Default: the system clock.
	Clock slokeeper.Clock
	// Node, Version and Address describe this node in the nodes table.
	Node, Version, Address string
	// Interval is how often the node beats. Default: 5s.
	Interval time.Duration
	// Bound is how long a node may go unseen before it counts as
	// stopped. Default: 6 intervals (30s).
	Bound time.Duration
	// SelfCheckInterval is how often this node checks itself. Default: 5m.
	SelfCheckInterval time.Duration
	// Want is how many nodes should serve (the policy's
	// redundancy.nodes); fewer raises the cluster's alert. 0: no alert.
	Want int
	// Logger. Default: slog.Default().
	Logger *slog.Logger
}

// Heartbeat is one node's own beat, not a cluster job: each node records
// that it is alive, checks itself on its own schedule (the self-check's
// evidence is each node's own, so a dead node leaves a gap in its
// trail), marks the nodes that went silent, and raises or clears the
// cluster's alert when fewer nodes serve than the policy asks. Whatever
// several nodes notice alike is recorded by the one whose conditional
// update wins, with its evidence in that update's transaction, so it is
// recorded exactly once.
type Heartbeat struct {
	cfg     HeartbeatConfig
	started time.Time
	log     *slog.Logger

	mu        sync.Mutex
	nextCheck time.Time // when the self-check is next due
	dbDown    time.Time // the first beat that failed, while the database is away
	stop      func()
}

// alertValue names the cluster value that holds the raised alert.
const alertValue = "redundancy_alert"

// NewHeartbeat returns a Heartbeat; Start starts it.
func NewHeartbeat(cfg HeartbeatConfig) *Heartbeat {
	if cfg.Clock == nil {
		cfg.Clock = slokeeper.SystemClock{}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Bound <= 0 {
		cfg.Bound = 6 * cfg.Interval
	}
	if cfg.SelfCheckInterval <= 0 {
		cfg.SelfCheckInterval = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	now := cfg.Clock.Now()
	return &Heartbeat{cfg: cfg, started: now, nextCheck: now, log: cfg.Logger.With("component", "heartbeat")}
}

// Bound is how long a node may go unseen before it counts as stopped.
func (h *Heartbeat) Bound() time.Duration { return h.cfg.Bound }

// Start beats at once and then every second that a beat is due by the
// injected clock, until Stop.
func (h *Heartbeat) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var next time.Time
		for {
			if now := h.cfg.Clock.Now(); !now.Before(next) {
				if err := h.RunOnce(ctx); err != nil && ctx.Err() == nil {
					h.log.Error("heartbeat", "err", err)
				}
				next = now.Add(h.cfg.Interval)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	h.mu.Lock()
	h.stop = func() { cancel(); <-done }
	h.mu.Unlock()
}

// Stop stops the beats and waits for one under way.
func (h *Heartbeat) Stop() {
	h.mu.Lock()
	stop := h.stop
	h.stop = nil
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// evidence is redundancy evidence by this node.
func (h *Heartbeat) evidence(e *slokeeper.Evidence) *slokeeper.Evidence {
	e.Clause, e.Node = policy.ClauseRedundancy, h.cfg.Node
	if e.Outcome == "" {
		e.Outcome = slokeeper.OutcomeOK
	}
	return e
}

// RunOnce beats once: the heartbeat (and the evidence of this node's
// return or of the database outage it just saw), the self-check when due,
// the nodes that stopped, and the alert.
func (h *Heartbeat) RunOnce(ctx context.Context) error {
	now := h.cfg.Clock.Now()
	// The return is recorded in the beat's transaction: exactly once.
	back := func(was time.Time) *slokeeper.Evidence {
		return h.evidence(&slokeeper.Evidence{At: now, Action: "node_back", Subject: "node:" + h.cfg.Node,
			Detail: fmt.Sprintf("node %s back at %s (stopped at ~%s)", h.cfg.Node, now.UTC().Format(time.RFC3339), was.UTC().Format(time.RFC3339))})
	}
	_, err := h.cfg.Nodes.BeatNode(ctx, &slokeeper.Node{Name: h.cfg.Node, StartedAt: h.started, LastSeen: now, Version: h.cfg.Version, Address: h.cfg.Address}, back)
	h.mu.Lock()
	down := h.dbDown
	if err != nil && down.IsZero() {
		h.dbDown = now
	}
	h.mu.Unlock()
	if err != nil {
		return fmt.Errorf("beat: %w", err)
	}
	if !down.IsZero() {
		e := &slokeeper.Evidence{At: now, Clause: policy.ClauseAvailability, Action: "database_outage", Subject: "node:" + h.cfg.Node,
			Outcome: slokeeper.OutcomeFailed, Node: h.cfg.Node,
			Detail: fmt.Sprintf("node %s could not reach the database from %s to %s (%s); the status page served its last good rendering meanwhile",
				h.cfg.Node, down.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), now.Sub(down).Round(time.Second))}
		if err := slokeeper.RecordEvidenceRetrying(ctx, h.cfg.Evidence, e); err != nil {
			return err // the outage stays owed: the next beat records it
		}
		h.mu.Lock()
		h.dbDown = time.Time{}
		h.mu.Unlock()
	}
	h.mu.Lock()
	due := h.nextCheck
	h.mu.Unlock()
	if !now.Before(due) {
		check := &SelfCheck{Evidence: h.cfg.Evidence, Ready: h.cfg.Ready, Clock: h.cfg.Clock, Node: h.cfg.Node, Interval: h.cfg.SelfCheckInterval}
		if err := check.RunOnce(ctx, due); err != nil {
			return fmt.Errorf("self-check: %w", err)
		}
		h.mu.Lock()
		for !h.nextCheck.After(now) {
			h.nextCheck = h.nextCheck.Add(h.cfg.SelfCheckInterval)
		}
		h.mu.Unlock()
	}
	// Marked and recorded in one transaction: by one node, once.
	stopped, err := h.cfg.Nodes.MarkStoppedNodes(ctx, now.Add(-h.cfg.Bound), func(n *slokeeper.Node) *slokeeper.Evidence {
		return h.evidence(&slokeeper.Evidence{At: now, Action: "node_stopped", Subject: "node:" + n.Name, Outcome: slokeeper.OutcomeFailed,
			Detail: fmt.Sprintf("node %s stopped at ~%s: no heartbeat since (noticed by %s)", n.Name, n.LastSeen.UTC().Format(time.RFC3339), h.cfg.Node)})
	})
	if err != nil {
		return err
	}
	for _, n := range stopped {
		h.log.Warn("a node stopped", "node", n.Name, "last_seen", n.LastSeen)
	}
	return h.alert(ctx, now)
}

// alert raises the cluster's alert when fewer nodes serve than wanted
// (not before this node has been up for a bound, so that nodes starting
// together do not raise it), and clears it when enough serve again.
func (h *Heartbeat) alert(ctx context.Context, now time.Time) error {
	if h.cfg.Want <= 0 {
		return nil
	}
	nodes, err := h.cfg.Nodes.FindNodes(ctx)
	if err != nil {
		return err
	}
	var serving []string
	for _, n := range nodes {
		if n.Serving(now, h.cfg.Bound) {
			serving = append(serving, n.Name)
		}
	}
	cur, err := h.cfg.Nodes.ClusterValue(ctx, alertValue)
	if err != nil {
		return err
	}
	switch {
	case len(serving) < h.cfg.Want && cur == nil && now.Sub(h.started) >= h.cfg.Bound:
		detail := fmt.Sprintf("%d of %d nodes serving (%s): the policy asks for %d", len(serving), h.cfg.Want, strings.Join(serving, ", "), h.cfg.Want)
		e := h.evidence(&slokeeper.Evidence{At: now, Action: "nodes_below_policy", Subject: "cluster", Outcome: slokeeper.OutcomeViolated, Detail: detail})
		if _, ok, err := h.cfg.Nodes.SwapClusterValue(ctx, alertValue, nil, []byte(now.UTC().Format(time.RFC3339Nano)+" "+detail), e); err != nil || !ok {
			return err
		}
		h.log.Error("fewer nodes serve than the policy asks", "serving", len(serving), "want", h.cfg.Want, "nodes", serving)
	case len(serving) >= h.cfg.Want && cur != nil:
		e := h.evidence(&slokeeper.Evidence{At: now, Action: "nodes_restored", Subject: "cluster",
			Detail: fmt.Sprintf("%d of %d nodes serving again (%s)", len(serving), h.cfg.Want, strings.Join(serving, ", "))})
		if _, ok, err := h.cfg.Nodes.SwapClusterValue(ctx, alertValue, cur, nil, e); err != nil || !ok {
			return err
		}
		h.log.Info("enough nodes serve again", "serving", len(serving), "want", h.cfg.Want)
	}
	return nil
}

// Alert returns the cluster's raised alert ("" when none): when it was
// raised and why.
func Alert(ctx context.Context, nodes slokeeper.NodeService) (string, error) {
	cur, err := nodes.ClusterValue(ctx, alertValue)
	return string(cur), err
}

// DatabaseDownSince is when this node's first beat failed, while the
// database is away and its outage not yet recorded; zero otherwise.
func (h *Heartbeat) DatabaseDownSince() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dbDown
}
