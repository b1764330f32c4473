package mqtt_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/mqtt"

	"github.com/eclipse/paho.golang/autopaho"
)

// cutter is a TCP relay between one subscriber and the broker whose
// connections the test can cut, as a node's death cuts them: no
// DISCONNECT, no acknowledgement of what it had received.
type cutter struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

func newCutter(t *testing.T, broker string) (*cutter, string) {
	t.Helper()
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln}
	t.Cleanup(func() { c.cut(); ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", u.Host)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			if c.dead {
				in.Close()
				out.Close()
			} else {
				c.conns = append(c.conns, in, out)
			}
			c.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return c, "mqtt://" + ln.Addr().String()
}

// cut closes every connection and refuses new ones.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dead = true
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// countingLogs is the shared log store as one node sees it: it counts
// what this node stored, and can be made to die mid-stream: once it has
// stored hangAfter messages it stores one more and then hangs before the
// acknowledgement (a crash between the durable write and the ack), and
// every later message hangs unstored.
type countingLogs struct {
	slokeeper.LogService
	hangAfter int
	mu        sync.Mutex
	stored    int  // messages stored by this node, duplicates not counted
	dups      int  // redeliveries the payload key recognised
	crashed   bool // the crash point has been reached
	hung      chan struct{}
	hungOnce  sync.Once
}

func newCountingLogs(logs slokeeper.LogService, hangAfter int) *countingLogs {
	return &countingLogs{LogService: logs, hangAfter: hangAfter, hung: make(chan struct{})}
}

func (l *countingLogs) AppendLogs(ctx context.Context, class string, recs []slokeeper.LogRecord, key string) (bool, error) {
	// The crash is decided under the lock: one message (the first past
	// hangAfter) is written and left unacknowledged; every one after it
	// hangs unwritten, whichever worker has it.
	l.mu.Lock()
	dead := l.crashed
	dying := !dead && l.hangAfter > 0 && l.stored >= l.hangAfter
	if dying {
		l.crashed = true
	}
	l.mu.Unlock()
	if dead {
		<-ctx.Done()
		return false, ctx.Err()
	}
	dup, err := l.LogService.AppendLogs(ctx, class, recs, key)
	if err != nil {
		return dup, err
	}
	l.mu.Lock()
	if dup {
		l.dups++
	} else {
		l.stored++
	}
	l.mu.Unlock()
	if dying {
		l.hungOnce.Do(func() { close(l.hung) })
		<-ctx.Done()
		return false, ctx.Err()
	}
	return dup, nil
}

func (l *countingLogs) count() (stored, dups int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stored, l.dups
}

func (f *fixture) node(t *testing.T, broker, name string, logs slokeeper.LogService) *mqtt.Subscriber {
	t.Helper()
	s, err := mqtt.Open(context.Background(), mqtt.Config{URL: broker, ClientID: "slokeeper-" + name, Logs: logs, Sources: f.sources, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.AwaitSubscribed(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// messages counts the stored records by message text.
func (f *fixture) messages(t *testing.T) map[string]int {
	t.Helper()
	got := map[string]int{}
	if err := f.logs.QueryLogs(context.Background(), slokeeper.LogQuery{}, func(r *slokeeper.LogRecord) error { got[r.Message]++; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func checkOnce(t *testing.T, got map[string]int, prefix string, n int) {
	t.Helper()
	for i := range n {
		m := fmt.Sprintf("%s %d", prefix, i)
		if got[m] != 1 {
			t.Errorf("%q stored %d times, want once", m, got[m])
		}
	}
}

func publishN(t *testing.T, dev *autopaho.ConnectionManager, prefix string, n int) {
	t.Helper()
	for i := range n {
		publish(t, dev, "slokeeper/src_dev1/logs", fmt.Sprintf(`{"message":"%s %d"}`, prefix, i))
	}
}

func (f *fixture) waitDistinct(t *testing.T, n int) map[string]int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		got := f.messages(t)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d distinct messages stored, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the broker and the subscribers
	}
}

func closeNode(t *testing.T, s *mqtt.Subscriber) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Close(ctx) // a dead node's connection is gone: its DISCONNECT fails
}

// TestSharedSubscriptionStoresEachMessageOnce: two nodes on one broker
// share the subscription: each message is stored by one of them, once,
// and both take a share.
func TestSharedSubscriptionStoresEachMessageOnce(t *testing.T) {
	f := setup(t)
	la, lb := newCountingLogs(f.logs, 0), newCountingLogs(f.logs, 0)
	a := f.node(t, f.broker, "a", la)
	defer a.Close(context.Background())
	b := f.node(t, f.broker, "b", lb)
	defer b.Close(context.Background())
	dev := publisher(t, f.broker)
	const n = 200
	publishN(t, dev, "m", n)
	got := f.waitDistinct(t, n)
	checkOnce(t, got, "m", n)
	time.Sleep(200 * time.Millisecond) // a second copy, were there one, would be on its way
	sa, da := la.count()
	sb, db := lb.count()
	if sa+sb != n || da+db != 0 {
		t.Errorf("node a stored %d (+%d again), node b %d (+%d again); want %d messages delivered once in all", sa, da, sb, db, n)
	}
	if sa == 0 || sb == 0 {
		t.Errorf("node a stored %d, node b %d: the broker did not share the subscription", sa, sb)
	}
}

// TestSharedSubscriptionNodeKilledMidStream: node a dies between a
// durable write and its acknowledgement, its connection cut without a
// DISCONNECT. Node b goes on storing its share. Mosquitto keeps a's
// unacknowledged message and a's share of what follows in a's persistent
// session; when a comes back under the same client ID it gets them, and
// the payload key stores the redelivered message once.
func TestSharedSubscriptionNodeKilledMidStream(t *testing.T) {
	f := setup(t)
	la, lb := newCountingLogs(f.logs, 5), newCountingLogs(f.logs, 0)
	cut, viaCut := newCutter(t, f.broker)
	a := f.node(t, viaCut, "a", la)
	b := f.node(t, f.broker, "b", lb)
	defer b.Close(context.Background())
	dev := publisher(t, f.broker)
	// Publish until node a has died (the broker deals it about every
	// other message, but not to the message).
	const after = 40
	before := 0
	for crashed := false; !crashed; {
		if before == 1000 {
			sa, _ := la.count()
			sb, _ := lb.count()
			t.Fatalf("node a never reached its crash point: %d published, a stored %d, b %d", before, sa, sb)
		}
		publish(t, dev, "slokeeper/src_dev1/logs", fmt.Sprintf(`{"message":"before %d"}`, before))
		before++
		select {
		case <-la.hung:
			crashed = true
		case <-time.After(5 * time.Millisecond):
		}
	}
	cut.cut() // a is dead: no DISCONNECT, its last write unacknowledged
	sbAtCut, _ := lb.count()
	publishN(t, dev, "after", after)
	waitFor(t, "node b to go on storing after a died", func() bool { s, _ := lb.count(); return s > sbAtCut })
	time.Sleep(500 * time.Millisecond) // let b store all it was given
	held := before + after - len(f.messages(t))
	t.Logf("while node a was down, %d of %d messages waited in its session at the broker", held, before+after)
	closeNode(t, a)

	la2 := newCountingLogs(f.logs, 0)
	a2 := f.node(t, f.broker, "a", la2) // the same node restarted: same client ID
	defer a2.Close(context.Background())
	got := f.waitDistinct(t, before+after)
	checkOnce(t, got, "before", before)
	checkOnce(t, got, "after", after)
	waitFor(t, "the unacknowledged message to be delivered again", func() bool { _, d := la2.count(); return d >= 1 })
}

// TestSharedSubscriptionAllNodesDown: with every node of the group down
// (their persistent sessions kept at the broker), what devices publish
// waits in the sessions and is stored, once, when the nodes return.
func TestSharedSubscriptionAllNodesDown(t *testing.T) {
	f := setup(t)
	a := f.node(t, f.broker, "a", f.logs)
	b := f.node(t, f.broker, "b", f.logs)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	dev := publisher(t, f.broker)
	const n = 30
	publishN(t, dev, "down", n)
	a = f.node(t, f.broker, "a", f.logs)
	defer a.Close(context.Background())
	b = f.node(t, f.broker, "b", f.logs)
	defer b.Close(context.Background())
	checkOnce(t, f.waitDistinct(t, n), "down", n)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShareGroupRefused(t *testing.T) {
	for _, g := range []string{"a/b", "x+", "#"} {
		if _, err := mqtt.Open(context.Background(), mqtt.Config{URL: "mqtt://127.0.0.1:1", ShareGroup: g}); err == nil || !strings.Contains(err.Error(), "share group") {
			t.Errorf("Open with share group %q = %v, want a share group error", g, err)
		}
	}
}

// TestDrainARetiredNode: node a leaves for good while its session lives
// on at the broker, which goes on queueing a's share there. Drain stores
// what was queued, once, and ends the session: from then on node b gets
// every message.
func TestDrainARetiredNode(t *testing.T) {
	f := setup(t)
	a := f.node(t, f.broker, "a", f.logs)
	lb := newCountingLogs(f.logs, 0)
	b := f.node(t, f.broker, "b", lb)
	defer b.Close(context.Background())
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	dev := publisher(t, f.broker)
	const n = 40
	publishN(t, dev, "queued", n)
	waitFor(t, "node b to store its share", func() bool { s, _ := lb.count(); return s > 0 })
	time.Sleep(300 * time.Millisecond) // let b store all of its share
	if got := len(f.messages(t)); got == n {
		t.Fatalf("all %d messages stored without node a: the broker queued nothing for it, nothing to drain", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	drained, err := mqtt.Drain(ctx, mqtt.Config{URL: f.broker, ClientID: "slokeeper-a", Logs: f.logs, Sources: f.sources}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if drained == 0 {
		t.Error("Drain handled no message")
	}
	checkOnce(t, f.waitDistinct(t, n), "queued", n)

	before, _ := lb.count()
	publishN(t, dev, "after", n)
	waitFor(t, "node b to store every message", func() bool { s, _ := lb.count(); return s >= before+n })
	checkOnce(t, f.waitDistinct(t, 2*n), "after", n)
}

// flakyLogs is the shared log store with its database away for a while:
// the first fail appends are refused as the store refuses them then
// (EUNAVAILABLE), and the rest go through.
type flakyLogs struct {
	slokeeper.LogService
	mu      sync.Mutex
	fail    int
	refused int
}

func (l *flakyLogs) AppendLogs(ctx context.Context, class string, recs []slokeeper.LogRecord, key string) (bool, error) {
	l.mu.Lock()
	if l.refused < l.fail {
		l.refused++
		l.mu.Unlock()
		return false, slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The log database is unreachable.")
	}
	l.mu.Unlock()
	return l.LogService.AppendLogs(ctx, class, recs, key)
}

// TestStoreFailureRetriedOnTheConnection: while the log store refuses
// writes (its database failing over), a node keeps the message and tries
// again on the same connection. Giving up unacknowledged would strand it:
// an MQTT 5 broker redelivers only on a new connection, and acks go out in
// order, so the node's whole share would wait at the broker behind it.
// Everything published is stored once, with no reconnect.
func TestStoreFailureRetriedOnTheConnection(t *testing.T) {
	f := setup(t)
	logs := &flakyLogs{LogService: f.logs, fail: 5}
	s := f.node(t, f.broker, "a", logs)
	defer s.Close(context.Background())
	dev := publisher(t, f.broker)
	const n = 60 // past the broker's in-flight window (Mosquitto: 20)
	publishN(t, dev, "m", n)
	got := f.waitDistinct(t, n)
	checkOnce(t, got, "m", n)
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if logs.refused != 5 {
		t.Errorf("the store refused %d appends, want the 5 it was set to", logs.refused)
	}
}
