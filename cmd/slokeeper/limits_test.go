package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"slokeeper/internal/mqtt/mqtttest"
	"slokeeper/internal/storetest"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"google.golang.org/protobuf/encoding/protowire"
)

// child is slokeeper serve running as a process of its own (the test
// binary standing in for it), so its memory can be read from /proc.
type child struct {
	cmd *exec.Cmd
	url string
	mu  sync.Mutex
	log strings.Builder
}

func (c *child) logs() string { c.mu.Lock(); defer c.mu.Unlock(); return c.log.String() }

// startChild runs "slokeeper serve args..." and waits until it serves.
// It is stopped with SIGTERM when the test ends.
func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "SLOKEEPER_TEST_RUN_MAIN=1",
		"SLOKEEPER_TEST_ARGS=serve --listen 127.0.0.1:0 --log-format json "+strings.Join(args, " ")), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd}
	urls := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.log.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			var rec struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "slokeeper serving" {
				urls <- rec.URL
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		cmd.Wait()
	})
	select {
	case c.url = <-urls:
	case <-exited:
		t.Fatalf("serve exited before serving:\n%s", c.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start within 60 s:\n%s", c.logs())
	}
	return c
}

// highWater is the most resident memory the process has had, in bytes
// (VmHWM).
func (c *child) highWater(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", c.cmd.Process.Pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// otlpEmptyRecords is an OTLP LogsData of n empty log records, 2 bytes
// each on the wire.
func otlpEmptyRecords(n int) []byte {
	var sl []byte
	for range n {
		sl = protowire.AppendTag(sl, 2, protowire.BytesType)
		sl = protowire.AppendVarint(sl, 0)
	}
	rl := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), sl)
	return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), rl)
}

// rssBound is the resident memory slokeeper serve must stay under while
// every bomb below is thrown at it: 256 MiB, three times that under the
// race detector (whose child process starts at about 180 MiB).
func rssBound() int64 {
	if raceEnabled {
		return 3 * 256 << 20
	}
	return 256 << 20
}

// TestIngestBombsStayUnderRSS throws at a running server each body that
// used to cost hundreds of MiB (gzip NDJSON, gzip OTLP three at once, an
// agent chunk of empty events, a 24 MiB MQTT message) and checks each is
// refused with 413 (the MQTT one is never delivered: slokeeper announces
// its maximum packet size), that the server's resident memory stays
// under rssBound, and that a normal message still gets through.
func TestIngestBombsStayUnderRSS(t *testing.T) {
	dir := t.TempDir()
	broker := mqtttest.Broker(t)
	mustAccount(t, dir, "", "acct-1")
	out, _, _ := cliRun(t, "source", "add", "--data", dir, "--kind", "device", "--account", "acct-1", "--name", "bomb")
	m := regexp.MustCompile(`source: (src_\w+)\ntoken:  (slk_\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("source add:\n%s", out)
	}
	sourceID, token := m[1], m[2]
	c := startChild(t, nil, "--data", dir, "--mqtt", broker, "--ingest-rate", "-1")
	base := c.url
	start := c.highWater(t)

	ndjsonBomb := gzipped(bytes.Repeat([]byte(`{"message":""}`+"\n"), 550000)) // 8.25 MB decoded, under the wire limit
	otlpBomb := gzipped(otlpEmptyRecords(4000000))                             // 8 MB decoded
	agentBomb := append([]byte("["), bytes.Repeat([]byte(`{"message":""},`), 17000)...)
	agentBomb = append(agentBomb, `{"message":""}]`...)
	t.Logf("wire: NDJSON bomb %d B, OTLP bomb %d B, agent bomb %d B", len(ndjsonBomb), len(otlpBomb), len(agentBomb))

	if r := post(t, base+"/api/v1/logs", token, "application/x-ndjson", ndjsonBomb, "Content-Encoding", "gzip"); r.status != 413 || !strings.Contains(r.body, "more than") {
		t.Errorf("NDJSON bomb = %d %s, want 413", r.status, r.body)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if r := post(t, base+"/v1/logs", token, "application/x-protobuf", otlpBomb, "Content-Encoding", "gzip"); r.status != 413 || !strings.Contains(r.body, "more than") {
				t.Errorf("OTLP bomb = %d %s, want 413", r.status, r.body)
			}
		})
	}
	wg.Wait()
	// The agent's chunk is bounded at 256 KiB: it is stored (17,001
	// records), and must stay cheap.
	if r := post(t, base+"/api/v1/agent/logs", token, "application/json", agentBomb); r.status != 200 {
		t.Errorf("agent chunk = %d %s", r.status, r.body)
	}

	u, _ := url.Parse(broker)
	dev, err := autopaho.NewConnection(context.Background(), autopaho.ClientConfig{ServerUrls: []*url.URL{u}, KeepAlive: 30, ClientConfig: paho.ClientConfig{ClientID: "bomber"}})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Disconnect(context.Background())
	dev.AwaitConnection(context.Background())
	// Wait until slokeeper's subscription is at the broker.
	waitFor(t, "the MQTT subscription", func() bool { return strings.Contains(c.logs(), "mqtt: subscribed") })
	topic := "slokeeper/" + sourceID + "/logs"
	bomb := bytes.Repeat([]byte(`{"message":"x"}`+"\n"), 24<<20/16)
	if _, err := dev.Publish(context.Background(), &paho.Publish{Topic: topic, QoS: 1, Payload: bomb}); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Publish(context.Background(), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(`{"message":"after the bomb"}`)}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("serve logs:\n%s", c.logs())
		}
	}()
	waitFor(t, "the normal MQTT message in the store", func() bool {
		out, _, _ := cliRun(t, "logs", "query", "--data", dir, "--source", sourceID, "--q", "after the bomb", "--format", "text")
		return strings.Contains(out, "after the bomb")
	})
	peak := c.highWater(t)
	t.Logf("resident memory: %d MiB at start, %d MiB at most (bound %d MiB)", start>>20, peak>>20, rssBound()>>20)
	if peak > rssBound() {
		t.Errorf("serve reached %d MiB resident, over the bound of %d MiB", peak>>20, rssBound()>>20)
	}
	if out, _, _ := cliRun(t, "logs", "query", "--data", dir, "--source", sourceID, "--q", "x", "--format", "text"); strings.Count(out, "\n") > 0 {
		t.Errorf("the MQTT bomb's records were stored")
	}
}

// closedWithin reads from conn until the server closes it, and fails if
// that takes longer than a generous bound: it waits for the server's
// deadline, never sleeps for it.
func closedWithin(t *testing.T, conn net.Conn, bound time.Duration, what string) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(bound))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open for %s", what, bound)
	}
	return string(b)
}

// TestSlowClientsAreCutOff: a client trickling its headers, an ingest
// body under the minimum rate, or a form body past its deadline has its
// connection closed, over real TCP. The deadlines are short here; the
// defaults are in the README.
func TestSlowClientsAreCutOff(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	mustAccount(t, cfg.Data, "", "acct-1")
	out, _, _ := cliRun(t, "source", "add", "--data", cfg.Data, "--kind", "agent", "--account", "acct-1", "--name", "slow")
	token := regexp.MustCompile(`token:  (slk_\S+)\n`).FindStringSubmatch(out)[1]
	cfg.ReadHeaderTimeout = duration(200 * time.Millisecond)
	cfg.BodyTimeout = duration(200 * time.Millisecond)
	cfg.IngestRateWindow = duration(200 * time.Millisecond)
	cfg.IngestMinRate = 1 << 10
	m := MustRunMain(t, cfg)
	addr := strings.TrimPrefix(m.HTTP.URL(), "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	t.Run("Headers", func(t *testing.T) {
		c := dial()
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // and never the blank line
		closedWithin(t, c, 10*time.Second, "trickled headers")
	})
	t.Run("IngestBody", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n{\"mess", token)
		resp := closedWithin(t, c, 10*time.Second, "an ingest body under the minimum rate")
		if !strings.Contains(resp, "too slowly") {
			t.Errorf("response = %q, want one saying the body came too slowly", resp)
		}
	})
	t.Run("FormBody", func(t *testing.T) {
		c := dial()
		fmt.Fprint(c, "POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=ad")
		closedWithin(t, c, 10*time.Second, "a form body past its deadline")
	})
	t.Run("FastBodyStillWorks", func(t *testing.T) {
		body := bytes.Repeat([]byte(`{"message":"quick"}`+"\n"), 1000)
		if r := post(t, m.HTTP.URL()+"/api/v1/logs", token, "application/x-ndjson", body); r.status != 200 {
			t.Errorf("a normal body = %d %s", r.status, r.body)
		}
	})
}

// TestIngestInFlightBound: past the bound of ingest requests under way,
// the next is answered 503 with Retry-After at once.
func TestIngestInFlightBound(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	mustAccount(t, cfg.Data, "", "acct-1")
	out, _, _ := cliRun(t, "source", "add", "--data", cfg.Data, "--kind", "agent", "--account", "acct-1", "--name", "busy")
	token := regexp.MustCompile(`token:  (slk_\S+)\n`).FindStringSubmatch(out)[1]
	cfg.IngestInFlight = 1
	m := MustRunMain(t, cfg)
	c, err := net.Dial("tcp", strings.TrimPrefix(m.HTTP.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Holds the one slot while its body (at the default minimum rate) is awaited.
	fmt.Fprintf(c, "POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n{", token)
	var last response
	waitFor(t, "a 503 while the slot is taken", func() bool {
		last = post(t, m.HTTP.URL()+"/api/v1/logs", token, "application/x-ndjson", []byte(`{"message":"second"}`))
		return last.status == 503
	})
	if last.header.Get("Retry-After") == "" || !strings.Contains(last.body, "nothing was stored") {
		t.Errorf("503 without Retry-After or a clear message: %v %s", last.header, last.body)
	}
	c.Close()
	waitFor(t, "the slot to be free again", func() bool {
		return post(t, m.HTTP.URL()+"/api/v1/logs", token, "application/x-ndjson", []byte(`{"message":"third"}`)).status == 200
	})
}

// TestDiskFull: when the log store's disk is full (ENOSPC from the file
// layer, after a partial write), ingest answers 507 with Retry-After and
// stores nothing; /readyz says not ready, with the reason, when free space
// is under min_free_space; once space is back, ingest works again, and
// after a restart every acknowledged record is there and the refused ones
// are not.
func TestDiskFull(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testDiskFull(t, testConfig()) })
	// With PostgreSQL no log lands on the node's disk: a full data
	// directory neither refuses ingest nor makes the node unready.
	t.Run("Postgres", func(t *testing.T) {
		cfg := testConfig()
		cfg.DB = storetest.PostgresDSN(t)
		cfg.Data = t.TempDir()
		mustAccount(t, cfg.Data, cfg.DB, "acct-1")
		out, _, _ := cliRun(t, "source", "add", "--data", cfg.Data, "--db", cfg.DB, "--kind", "agent", "--account", "acct-1", "--name", "full")
		token := regexp.MustCompile(`token:  (slk_\S+)\n`).FindStringSubmatch(out)[1]
		m := NewMain(cfg, io.Discard)
		m.logWriteAt = func(f *os.File, b []byte, off int64) (int, error) {
			return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer m.Close(context.Background())
		m.Config.MinFreeSpace = 1 << 50
		if r := post(t, m.HTTP.URL()+"/api/v1/logs", token, "application/x-ndjson", []byte(`{"message":"stored"}`)); r.status != 200 {
			t.Errorf("ingest with a full local disk = %d %s, want 200: the logs go to the database", r.status, r.body)
		}
		if r := get(t, http.DefaultClient, m.HTTP.URL()+"/readyz"); r.status != 200 {
			t.Errorf("/readyz with a full local disk = %d %s, want ready", r.status, r.body)
		}
	})
}

func testDiskFull(t *testing.T, cfg Config) {
	cfg.Data = t.TempDir()
	mustAccount(t, cfg.Data, cfg.DB, "acct-1")
	out, _, _ := cliRun(t, "source", "add", "--data", cfg.Data, "--db", cfg.DB, "--kind", "agent", "--account", "acct-1", "--name", "full")
	m1 := regexp.MustCompile(`source: (src_\w+)\ntoken:  (slk_\S+)\n`).FindStringSubmatch(out)
	sourceID, token := m1[1], m1[2]
	var full atomic.Bool
	m := NewMain(cfg, io.Discard)
	m.logWriteAt = func(f *os.File, b []byte, off int64) (int, error) {
		if full.Load() {
			n, _ := f.WriteAt(b[:len(b)/2], off) // what a disk takes before it is full
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return f.WriteAt(b, off)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := m.HTTP.URL()
	send := func(msg string) response {
		return post(t, base+"/api/v1/logs", token, "application/x-ndjson", []byte(`{"message":"`+msg+`"}`))
	}
	if r := send("before"); r.status != 200 {
		t.Fatalf("before = %d %s", r.status, r.body)
	}
	full.Store(true)
	r := send("refused")
	if r.status != 507 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "disk holding the log store is full") {
		t.Errorf("on a full disk = %d (Retry-After %q) %s, want 507 with Retry-After", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r := post(t, base+"/api/v1/agent/logs", token, "application/json", []byte(`[{"message":"refused chunk"}]`)); r.status != 507 {
		t.Errorf("agent chunk on a full disk = %d %s", r.status, r.body)
	}
	full.Store(false)
	if r := send("after"); r.status != 200 {
		t.Fatalf("after = %d %s", r.status, r.body)
	}
	if r := get(t, http.DefaultClient, base+"/readyz"); r.status != 200 {
		t.Errorf("/readyz with space = %d %s", r.status, r.body)
	}
	m.Config.MinFreeSpace = 1 << 50 // more than any disk here has free
	if r := get(t, http.DefaultClient, base+"/readyz"); r.status != 503 || !strings.Contains(r.body, "min_free_space") {
		t.Errorf("/readyz short of space = %d %s, want 503 naming the reason", r.status, r.body)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	m = MustRunMain(t, cfg) // the store opens again after the torn writes
	m.Close(context.Background())
	out, errOut, code := cliRun(t, "logs", "query", "--data", cfg.Data, "--db", cfg.DB, "--source", sourceID, "--format", "text")
	if code != 0 || !strings.Contains(out, "before") || !strings.Contains(out, "after") || strings.Contains(out, "refused") {
		t.Errorf("stored after the restart (exit %d):\n%s%s\nwant before and after, nothing refused", code, out, errOut)
	}
}
