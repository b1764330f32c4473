package storetest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"slokeeper"
)

// testNodes: heartbeats create and refresh a node; a silent node is
// marked stopped by exactly one of several nodes noticing at once, and
// its next beat reports it back, once.
func testNodes(t *testing.T, s Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	beat := func(name string, at time.Time) time.Time {
		t.Helper()
		was, err := s.Nodes.BeatNode(ctx, &slokeeper.Node{Name: name, StartedAt: t0, LastSeen: at, Version: "v1", Address: "https://" + name}, func(stopped time.Time) *slokeeper.Evidence {
			return &slokeeper.Evidence{At: at, Clause: "redundancy", Action: "node_back", Subject: "node:" + name, Outcome: slokeeper.OutcomeOK}
		})
		if err != nil {
			t.Fatalf("BeatNode(%s): %v", name, err)
		}
		return was
	}
	if _, err := s.Nodes.BeatNode(ctx, &slokeeper.Node{StartedAt: t0, LastSeen: t0}, nil); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Fatalf("BeatNode without a name: %v, want EINVALID", err)
	}
	if was := beat("a", t0); !was.IsZero() {
		t.Fatalf("first beat reported a stop at %v", was)
	}
	beat("b", t0)
	beat("a", t0.Add(10*time.Second))
	ns, err := s.Nodes.FindNodes(ctx)
	if err != nil || len(ns) != 2 || ns[0].Name != "a" || !ns[0].LastSeen.Equal(t0.Add(10*time.Second)) || ns[0].Version != "v1" || ns[0].Address != "https://a" {
		t.Fatalf("FindNodes = %+v, %v; want a (seen t0+10s) and b", ns, err)
	}

	stoppedEvidence := func(n *slokeeper.Node) *slokeeper.Evidence {
		return &slokeeper.Evidence{At: t0.Add(time.Minute), Clause: "redundancy", Action: "node_stopped", Subject: "node:" + n.Name, Outcome: slokeeper.OutcomeFailed}
	}
	count := func(action string) int {
		t.Helper()
		_, n, err := s.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// When the evidence cannot be stored, nothing is marked: the next
	// caller marks it and records it.
	if s.RefuseEvidence != nil {
		if err := s.RefuseEvidence(ctx, true); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Nodes.MarkStoppedNodes(ctx, t0.Add(5*time.Second), stoppedEvidence); err == nil {
			t.Fatal("MarkStoppedNodes succeeded with its evidence refused")
		}
		if err := s.RefuseEvidence(ctx, false); err != nil {
			t.Fatal(err)
		}
		if ns, _ := s.Nodes.FindNodes(ctx); !ns[1].StoppedAt.IsZero() {
			t.Fatalf("b marked stopped although its evidence was refused: %+v", ns[1])
		}
	}
	// Three nodes notice b's silence at once: one of them marks it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var marked []*slokeeper.Node
	for range 3 {
		wg.Go(func() {
			got, err := s.Nodes.MarkStoppedNodes(ctx, t0.Add(5*time.Second), stoppedEvidence)
			if err != nil {
				t.Errorf("MarkStoppedNodes: %v", err)
			}
			mu.Lock()
			marked = append(marked, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(marked) != 1 || marked[0].Name != "b" || !marked[0].StoppedAt.Equal(t0) {
		t.Fatalf("marked %+v, want b once, stopped at its last beat %v", marked, t0)
	}
	if n := count("node_stopped"); n != 1 {
		t.Fatalf("%d node_stopped evidence, want 1", n)
	}
	if again, err := s.Nodes.MarkStoppedNodes(ctx, t0.Add(time.Hour), nil); err != nil || len(again) != 1 || again[0].Name != "a" {
		t.Fatalf("MarkStoppedNodes later = %+v, %v; want a alone (b already marked)", again, err)
	}
	if was := beat("b", t0.Add(2*time.Hour)); !was.Equal(t0) {
		t.Fatalf("b's return reported stop %v, want %v", was, t0)
	}
	if was := beat("b", t0.Add(2*time.Hour+time.Second)); !was.IsZero() {
		t.Fatalf("b's second beat after its return reported stop %v again", was)
	}
	if n := count("node_back"); n != 1 {
		t.Fatalf("%d node_back evidence, want 1", n)
	}
	ns, _ = s.Nodes.FindNodes(ctx)
	if !ns[1].StoppedAt.IsZero() || ns[0].StoppedAt.IsZero() {
		t.Fatalf("nodes = %+v; want a stopped, b serving", ns)
	}
}

// testClusterValues: a value is created once, swapped only from what it
// holds, and removed.
func testClusterValues(t *testing.T, s Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 4 {
		wg.Go(func() {
			_, ok, err := s.Nodes.SwapClusterValue(ctx, "k", nil, []byte{byte(i + 1)},
				&slokeeper.Evidence{At: time.Now(), Clause: "redundancy", Action: "alert", Outcome: slokeeper.OutcomeViolated})
			if err != nil {
				t.Errorf("SwapClusterValue: %v", err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	cur, ok, err := s.Nodes.SwapClusterValue(ctx, "k", nil, []byte("x"), nil)
	if wins != 1 || ok || err != nil || len(cur) != 1 {
		t.Fatalf("%d creators won, then create again = %q, %v, %v; want one winner and the value kept", wins, cur, ok, err)
	}
	if _, n, _ := s.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "alert"}); n != 1 {
		t.Fatalf("%d swaps' evidence stored, want the winner's alone", n)
	}
	if v, err := s.Nodes.ClusterValue(ctx, "k"); err != nil || !bytes.Equal(v, cur) {
		t.Fatalf("ClusterValue = %q, %v; want %q", v, err, cur)
	}
	if v, err := s.Nodes.ClusterValue(ctx, "absent"); err != nil || v != nil {
		t.Fatalf("ClusterValue of an absent name = %q, %v", v, err)
	}
	if got, ok, err := s.Nodes.SwapClusterValue(ctx, "k", []byte("wrong"), []byte("y"), nil); ok || err != nil || !bytes.Equal(got, cur) {
		t.Fatalf("swap from a stale value = %q, %v, %v; want no swap, %q", got, ok, err, cur)
	}
	if got, ok, err := s.Nodes.SwapClusterValue(ctx, "k", cur, []byte("y"), nil); !ok || err != nil || string(got) != "y" {
		t.Fatalf("swap = %q, %v, %v; want y", got, ok, err)
	}
	if got, ok, err := s.Nodes.SwapClusterValue(ctx, "k", []byte("y"), nil, nil); !ok || err != nil || got != nil {
		t.Fatalf("remove = %q, %v, %v", got, ok, err)
	}
	if _, ok, _ := s.Nodes.SwapClusterValue(ctx, "k", nil, []byte("z"), nil); !ok {
		t.Fatalf("create after removal did not swap")
	}
}
