package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper/internal/mqtt/mqtttest"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	logsv1 "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"
)

// testClock is a settable clock for Main.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time       { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration)  { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func newTestClock(t time.Time) *testClock { return &testClock{now: t} }
func cliRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, noEnv, &out, &errb)
	return out.String(), errb.String(), code
}

func post(t *testing.T, url, token, contentType string, body []byte, header ...string) response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func TestIngestEndToEnd(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.IngestRate = 100
	clock := newTestClock(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))

	// The operator registers a device agent; the token is shown once.
	mustAccount(t, cfg.Data, "", "acct-1")
	out, stderr, code := cliRun(t, "source", "add", "--data", cfg.Data, "--kind", "agent", "--account", "acct-1", "--name", "工場A ゲートウェイ")
	m := regexp.MustCompile(`source: (src_\w+)\ntoken:  (slk_\S+)\n`).FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(stderr, "not be shown again") {
		t.Fatalf("source add: exit %d\n%s\n%s", code, out, stderr)
	}
	sourceID, token := m[1], m[2]
	if out, _, _ := cliRun(t, "source", "list", "--data", cfg.Data); !strings.Contains(out, sourceID) || strings.Contains(out, token) {
		t.Errorf("source list:\n%s", out)
	}

	main := NewMain(cfg, io.Discard)
	main.Clock = clock
	if err := main.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer main.Close(context.Background())
	base := main.HTTP.URL()

	// NDJSON: good lines stored, bad ones listed.
	body := "{\"level\":\"info\",\"message\":\"起動しました\",\"time\":\"2026-12-03T18:59:59+09:00\"}\nnot json\n{\"level\":\"error\",\"msg\":\"disk full\",\"disk\":\"/dev/sda1\"}\n"
	r := post(t, base+"/api/v1/logs", token, "application/x-ndjson", []byte(body))
	if r.status != 200 || !strings.Contains(r.body, `"accepted": 2`) || !strings.Contains(r.body, `"line": 2`) || !strings.Contains(r.body, "not a JSON object") {
		t.Fatalf("NDJSON post = %d %s", r.status, r.body)
	}
	// gzip, as log shippers send it.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"message":"compressed"}` + "\n"))
	zw.Close()
	if r := post(t, base+"/api/v1/logs", token, "application/x-ndjson", gz.Bytes(), "Content-Encoding", "gzip"); r.status != 200 || !strings.Contains(r.body, `"accepted": 1`) {
		t.Errorf("gzip NDJSON post = %d %s", r.status, r.body)
	}
	// A batch sent again with its Idempotency-Key is stored once.
	for i, want := range []string{`"accepted": 1`, `"duplicate": true`} {
		if r := post(t, base+"/api/v1/logs", token, "application/x-ndjson", []byte(`{"message":"keyed"}`+"\n"), "Idempotency-Key", "k-1"); r.status != 200 || !strings.Contains(r.body, want) {
			t.Errorf("keyed NDJSON post %d = %d %s, want %s", i+1, r.status, r.body, want)
		}
	}

	// The agent's chunk: whole, and a resend is not stored twice.
	chunk := []byte("[\n{\"level\":\"info\",\"message\":\"Agent starting...\",\"timestamp\":\"2026-12-03T01:00:00.000Z\",\"context\":\"internal\"},\n{\"level\":\"warn\",\"message\":\"retrying\",\"timestamp\":\"2026-12-03T01:00:01.000Z\"}\n]")
	if r := post(t, base+"/api/v1/agent/logs", token, "application/json", chunk); r.status != 200 || !strings.Contains(r.body, `"accepted": 2`) || !strings.Contains(r.body, `"duplicate": false`) {
		t.Errorf("agent chunk = %d %s", r.status, r.body)
	}
	if r := post(t, base+"/api/v1/agent/logs", token, "application/json", chunk); r.status != 200 || !strings.Contains(r.body, `"duplicate": true`) {
		t.Errorf("agent chunk resent = %d %s", r.status, r.body)
	}
	if r := post(t, base+"/api/v1/agent/logs", token, "application/json", chunk[:40]); r.status != 400 || !strings.Contains(r.body, "refused whole") {
		t.Errorf("broken agent chunk = %d %s", r.status, r.body)
	}

	// OTLP/HTTP protobuf, as an OpenTelemetry Collector's otlphttp exporter sends it.
	export, _ := proto.Marshal(&logsv1.LogsData{ResourceLogs: []*logsv1.ResourceLogs{{ScopeLogs: []*logsv1.ScopeLogs{{LogRecords: []*logsv1.LogRecord{
		{SeverityNumber: logsv1.SeverityNumber_SEVERITY_NUMBER_ERROR, Body: &commonv1.AnyValue{Value: &commonv1.AnyValue_StringValue{StringValue: "otlp error"}}},
		{SeverityText: "INFO"},
	}}}}}})
	if r := post(t, base+"/v1/logs", token, "application/x-protobuf", export); r.status != 200 || r.header.Get("Content-Type") != "application/x-protobuf" || len(r.body) == 0 {
		t.Errorf("OTLP export = %d %q", r.status, r.body)
	}

	// Authentication and limits.
	if r := post(t, base+"/api/v1/logs", "", "application/x-ndjson", []byte(`{"message":"x"}`)); r.status != 401 {
		t.Errorf("no token = %d %s", r.status, r.body)
	}
	if r := post(t, base+"/api/v1/logs", "slk_wrong", "application/x-ndjson", []byte(`{"message":"x"}`)); r.status != 401 {
		t.Errorf("wrong token = %d %s", r.status, r.body)
	}
	if r := post(t, base+"/api/v1/logs", token, "application/x-ndjson", bytes.Repeat([]byte(`{"message":"flood"}`+"\n"), 200)); r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("over the rate = %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	big := bytes.Repeat([]byte(`{"message":"`+strings.Repeat("x", 1000)+`"}`+"\n"), 9000)
	if r := post(t, base+"/api/v1/logs", token, "application/x-ndjson", big); r.status != 413 {
		t.Errorf("a 9 MB body = %d %s", r.status, r.body)
	}

	// Query over HTTP as a signed-in operator, and on the CLI beside the running server.
	r = get(t, signIn(t, main, "sre", "operator"), base+"/api/v1/logs?source="+sourceID+"&level=error&q=disk")
	var rec struct {
		Message, Source, Class, Account, Source_kind string
		Attrs                                        map[string]string
		Received                                     time.Time
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.body)), &rec); err != nil || rec.Message != "disk full" || rec.Class != "exec" ||
		rec.Account != "acct-1" || rec.Attrs["disk"] != "/dev/sda1" || !rec.Received.Equal(clock.Now()) {
		t.Errorf("query = %d %s (%v)", r.status, r.body, err)
	}
	out, stderr, code = cliRun(t, "logs", "query", "--data", cfg.Data, "--format", "text", "--source", sourceID)
	if code != 0 || strings.Count(out, "\n") != 7 || !strings.Contains(out, "起動しました") || !strings.Contains(out, "2026-12-03 19:00:00.000") {
		t.Errorf("logs query while serving: exit %d\n%s\n%s", code, out, stderr)
	}
	if out, _, _ := cliRun(t, "logs", "partitions", "--data", cfg.Data); !regexp.MustCompile(`exec\s+2026-12-03\s+7\s+\d+\s+false`).MatchString(out) {
		t.Errorf("logs partitions:\n%s", out)
	}

	// A revoked token stops working once the cache entry expires.
	if _, stderr, code := cliRun(t, "source", "revoke", sourceID, "--data", cfg.Data); code != 0 {
		t.Fatalf("revoke: %s", stderr)
	}
	clock.Add(11 * time.Second)
	if r := post(t, base+"/api/v1/logs", token, "application/x-ndjson", []byte(`{"message":"after revoke"}`)); r.status != 401 {
		t.Errorf("revoked token = %d %s", r.status, r.body)
	}
}

// TestServeMQTT: with --mqtt, what a device publishes reaches the log store.
func TestServeMQTT(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.MQTT = mqtttest.Broker(t)
	mustAccount(t, cfg.Data, "", "acct-9")
	out, _, _ := cliRun(t, "source", "add", "--data", cfg.Data, "--kind", "device", "--account", "acct-9", "--name", "meter")
	sourceID := regexp.MustCompile(`source: (src_\w+)`).FindStringSubmatch(out)[1]
	m := MustRunMain(t, cfg)
	if err := m.MQTT.AwaitSubscribed(context.Background()); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(cfg.MQTT)
	dev, err := autopaho.NewConnection(context.Background(), autopaho.ClientConfig{ServerUrls: []*url.URL{u}, KeepAlive: 30, ClientConfig: paho.ClientConfig{ClientID: "meter"}})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Disconnect(context.Background())
	dev.AwaitConnection(context.Background())
	if _, err := dev.Publish(context.Background(), &paho.Publish{Topic: "slokeeper/" + sourceID + "/logs", QoS: 1, Payload: []byte(`{"message":"meter online"}`)}); err != nil {
		t.Fatal(err)
	}
	staff := signIn(t, m, "sre", "operator")
	waitFor(t, "the MQTT message in the log store", func() bool {
		r := get(t, staff, m.HTTP.URL()+"/api/v1/logs?source="+sourceID)
		return strings.Contains(r.body, "meter online")
	})
}

// TestLoadgen drives a server briefly and checks that what loadgen
// reports as acknowledged is in the store.
func TestLoadgen(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.IngestRate = -1
	mustAccount(t, cfg.Data, "", "a")
	out, _, _ := cliRun(t, "source", "add", "--data", cfg.Data, "--kind", "device", "--account", "a", "--name", "load")
	token := regexp.MustCompile(`token:  (\S+)`).FindStringSubmatch(out)[1]
	m := MustRunMain(t, cfg)
	out, stderr, code := cliRun(t, "loadgen", "--url", m.HTTP.URL(), "--token", token, "--duration", "300ms", "--batch", "100", "--conns", "2")
	match := regexp.MustCompile(`acknowledged  (\d+) lines in (\d+) requests \(0 failed\)`).FindStringSubmatch(out)
	if code != 0 || match == nil || match[1] == "0" || !strings.Contains(out, "lines/s") || !strings.Contains(out, "p99") {
		t.Fatalf("loadgen: exit %d\n%s\n%s", code, out, stderr)
	}
	ps, _ := m.Logs.LogPartitions(context.Background())
	var stored int64
	for _, p := range ps {
		if p.Class == "exec" {
			stored += p.Records
		}
	}
	if want, _ := strconv.ParseInt(match[1], 10, 64); stored != want {
		t.Errorf("store holds %d exec records, loadgen says %d acknowledged", stored, want)
	}
}
