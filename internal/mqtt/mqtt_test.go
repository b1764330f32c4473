package mqtt_test

import (
	"context"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"slokeeper"
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
