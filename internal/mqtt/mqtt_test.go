package mqtt_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/ingest"
	"slokeeper/internal/logstore"
	"slokeeper/internal/mqtt"
	"slokeeper/internal/mqtt/mqtttest"
	"slokeeper/internal/sqlite"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

type fixture struct {
	broker  string
	logs    *logstore.Store
	sources *sqlite.SourceService
	src     *slokeeper.Source
}

func setup(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs, err := logstore.Open(context.Background(), logstore.Config{Dir: filepath.Join(dir, "logs"), Catalog: sqlite.NewLogCatalog(db)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	f := &fixture{broker: mqtttest.Broker(t), logs: logs, sources: sqlite.NewSourceService(db)}
	f.src = &slokeeper.Source{ID: "src_dev1", Account: "acct-1", Kind: slokeeper.SourceDevice, Name: "sensor", CreatedAt: time.Now(), TokenHash: slokeeper.HashToken("t")}
	if err := f.sources.CreateSource(context.Background(), f.src); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) subscribe(t *testing.T) *mqtt.Subscriber {
	t.Helper()
	s, err := mqtt.Open(context.Background(), mqtt.Config{URL: f.broker, ClientID: "slokeeper-test", Logs: f.logs, Sources: f.sources})
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

// publisher connects a device to the broker.
func publisher(t *testing.T, broker string) *autopaho.ConnectionManager {
	t.Helper()
	u, _ := url.Parse(broker)
	cm, err := autopaho.NewConnection(context.Background(), autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, ClientConfig: paho.ClientConfig{ClientID: "device-" + t.Name()},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cm.AwaitConnection(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cm.Disconnect(context.Background()) })
	return cm
}

func publish(t *testing.T, cm *autopaho.ConnectionManager, topic, payload string) {
	t.Helper()
	if _, err := cm.Publish(context.Background(), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) waitRecords(t *testing.T, n int) []slokeeper.LogRecord {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got []slokeeper.LogRecord
		f.logs.QueryLogs(context.Background(), slokeeper.LogQuery{}, func(r *slokeeper.LogRecord) error { got = append(got, *r); return nil })
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records stored, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the broker and the subscriber
	}
}

func TestSubscribeStoresWhatDevicesPublish(t *testing.T) {
	f := setup(t)
	s := f.subscribe(t)
	defer s.Close(context.Background())
	dev := publisher(t, f.broker)
	publish(t, dev, "slokeeper/src_unknown/logs", `{"message":"from nobody"}`)
	publish(t, dev, "slokeeper/src_dev1/logs", "{\"level\":\"warn\",\"message\":\"電池残量が少なくなっています\",\"battery\":12}\nnot json\n{\"message\":\"second\"}")
	publish(t, dev, "slokeeper/src_dev1/logs", `[{"level":"info","message":"chunk event","timestamp":"2026-12-03T01:00:00Z"}]`)
	got := f.waitRecords(t, 3)
	if len(got) != 3 {
		t.Fatalf("stored %d records, want 3 (nothing from the unknown source): %+v", len(got), got)
	}
	byMsg := map[string]slokeeper.LogRecord{}
	for _, r := range got {
		byMsg[r.Message] = r
	}
	r := byMsg["電池残量が少なくなっています"]
	if r.Level != "warn" || r.SourceID != "src_dev1" || r.Account != "acct-1" || r.Class != slokeeper.LogClassExec || string(r.Attrs) != `{"battery":12}` {
		t.Errorf("record = %+v", r)
	}
	if _, ok := byMsg["chunk event"]; !ok {
		t.Error("the agent chunk was not stored")
	}
}

// TestMessagesWhileDownArriveAfterRestart: the session lives at the broker,
// so what devices publish while slokeeper is stopped is stored when it
// starts again, and nothing is stored twice.
func TestMessagesWhileDownArriveAfterRestart(t *testing.T) {
	f := setup(t)
	s := f.subscribe(t)
	dev := publisher(t, f.broker)
	publish(t, dev, "slokeeper/src_dev1/logs", `{"message":"before"}`)
	f.waitRecords(t, 1)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"while down 1", "while down 2", "while down 3"} {
		publish(t, dev, "slokeeper/src_dev1/logs", `{"message":"`+m+`"}`)
	}
	s = f.subscribe(t)
	defer s.Close(context.Background())
	got := f.waitRecords(t, 4)
	if len(got) != 4 {
		t.Errorf("after restart %d records, want 4", len(got))
	}
}

// syncBuffer is a log destination tests read while the subscriber writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *stepClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func waitLog(t *testing.T, logs *syncBuffer, what string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(logs.String(), what); {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", what, logs.String())
		}
		time.Sleep(10 * time.Millisecond) // waiting for the subscriber to log
	}
}

// TestRateLimitDelaysTheAck: a source over its rate (the same bucket as
// HTTP) has its message wait, unacknowledged, until the bucket has room:
// stored late, never dropped.
func TestRateLimitDelaysTheAck(t *testing.T) {
	f := setup(t)
	clock := &stepClock{now: time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)}
	var logs syncBuffer
	s, err := mqtt.Open(context.Background(), mqtt.Config{URL: f.broker, ClientID: "slokeeper-rate", Logs: f.logs, Sources: f.sources,
		Rate: ingest.NewRateLimiter(2, clock), Workers: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if err := s.AwaitSubscribed(context.Background()); err != nil {
		t.Fatal(err)
	}
	dev := publisher(t, f.broker)
	publish(t, dev, "slokeeper/src_dev1/logs", "{\"message\":\"1\"}\n{\"message\":\"2\"}")
	publish(t, dev, "slokeeper/src_dev1/logs", "{\"message\":\"3\"}\n{\"message\":\"4\"}")
	f.waitRecords(t, 2)
	waitLog(t, &logs, "over its rate")
	var n int
	f.logs.QueryLogs(context.Background(), slokeeper.LogQuery{}, func(*slokeeper.LogRecord) error { n++; return nil })
	if n != 2 {
		t.Fatalf("%d records stored while the source was over its rate, want 2", n)
	}
	clock.Add(time.Second)
	if got := f.waitRecords(t, 4); len(got) != 4 {
		t.Fatalf("%d records after the bucket refilled, want 4", len(got))
	}
}

// TestPayloadLimit: a message over MaxPayload is never decoded (the
// broker, told the maximum packet size, does not even send it); the next
// one is stored.
func TestPayloadLimit(t *testing.T) {
	f := setup(t)
	s, err := mqtt.Open(context.Background(), mqtt.Config{URL: f.broker, ClientID: "slokeeper-size", Logs: f.logs, Sources: f.sources, MaxPayload: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if err := s.AwaitSubscribed(context.Background()); err != nil {
		t.Fatal(err)
	}
	dev := publisher(t, f.broker)
	publish(t, dev, "slokeeper/src_dev1/logs", strings.Repeat(`{"message":"big"}`+"\n", 100<<10/18))
	publish(t, dev, "slokeeper/src_dev1/logs", `{"message":"small"}`)
	got := f.waitRecords(t, 1)
	if len(got) != 1 || got[0].Message != "small" {
		t.Fatalf("stored %d records (first %q), want only the small one", len(got), got[0].Message)
	}
}
