package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"slokeeper/internal/blob/blobtest"
	"slokeeper/internal/mailtest"
	"slokeeper/internal/mqtt/mqtttest"
	"slokeeper/internal/storetest"
)

// ClusterOptions shape a test cluster of slokeeper serve processes.
type ClusterOptions struct {
	// Nodes is how many nodes run; default 3.
	Nodes int
	// DSN is the database every node uses; default a fresh schema on the
	// test PostgreSQL (storetest.PostgresDSN).
	DSN string
	// NodeDSN, if set, gives node i (0-based) its own way to the same
	// database, e.g. through a proxy that can cut it; default DSN.
	NodeDSN func(i int, dsn string) string
	// Policy is the SLO policy file every node loads; default the
	// embedded one.
	Policy string
	// Env is extra SLOKEEPER_* settings every node gets, as KEY=value.
	Env []string
}

// Cluster is K slokeeper serve processes on one database, one S3 backup
// target, one MQTT broker and one SMTP server, each node with its own
// data directory (its cache), name and listen port, and a copy of one
// master key.
type Cluster struct {
	DSN       string // the database the nodes share
	KeysDSN   string // the key store they share, a database apart
	S3        string // the backup target (s3://…, credentials inside)
	MQTT      string // the broker (mqtt://…)
	SMTP      *mailtest.Server
	MasterKey string // the master keyset every node has a copy of
	Nodes     []*ClusterNode
	t         testing.TB
}

// ClusterNode is one node. Its URL stays the same across restarts.
type ClusterNode struct {
	Name string
	Data string // its data directory
	DSN  string // its way to the database
	URL  string // http://127.0.0.1:port
	env  []string
	t    testing.TB

	mu   sync.Mutex
	proc *exec.Cmd
	done chan struct{} // closed when the running process has exited
	log  strings.Builder
}

// StartCluster starts the servers the nodes share and opts.Nodes nodes,
// and waits until every node is ready. Everything stops when the test
// ends. Each node runs the test binary standing in for slokeeper (see
// TestMain), built once by go test, race detector included.
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.DSN == "" {
		opts.DSN = storetest.PostgresDSN(t)
	}
	c := &Cluster{DSN: opts.DSN, KeysDSN: storetest.PostgresDSN(t), S3: blobtest.S3Server(t), MQTT: mqtttest.Broker(t), SMTP: mailtest.Start(t), t: t}
	dir := t.TempDir()
	smtpCA := filepath.Join(dir, "smtp-ca.pem")
	if err := os.WriteFile(smtpCA, c.SMTP.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	// One master key for the cluster, made once, then copied to each node
	// as an operator would (README "Running several nodes").
	c.MasterKey = filepath.Join(dir, "master.key")
	_, closeKeys, err := openKeys(context.Background(), Config{Data: dir, MasterKey: c.MasterKey, KeysDB: c.KeysDSN})
	if err != nil {
		t.Fatal(err)
	}
	closeKeys()
	key, err := os.ReadFile(c.MasterKey)
	if err != nil {
		t.Fatal(err)
	}
	for i := range opts.Nodes {
		n := &ClusterNode{Name: fmt.Sprintf("node%d", i+1), Data: filepath.Join(dir, fmt.Sprintf("node%d", i+1)), DSN: c.DSN, t: t}
		if opts.NodeDSN != nil {
			n.DSN = opts.NodeDSN(i, c.DSN)
		}
		if err := os.MkdirAll(n.Data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(n.Data, "master.key"), key, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		n.URL = "http://" + addr
		// Settings go by environment, not arguments: a process list shows
		// arguments, and the S3 URL and SMTP password are secrets.
		n.env = append([]string{
			"SLOKEEPER_DATA=" + n.Data, "SLOKEEPER_DB=" + n.DSN, "SLOKEEPER_LISTEN=" + addr, "SLOKEEPER_NODE=" + n.Name,
			"SLOKEEPER_MASTER_KEY=" + filepath.Join(n.Data, "master.key"), "SLOKEEPER_KEYS_DB=" + c.KeysDSN,
			"SLOKEEPER_BACKUP_TARGET=" + c.S3, "SLOKEEPER_MQTT=" + c.MQTT,
			"SLOKEEPER_SMTP=smtp://" + c.SMTP.Username + "@" + c.SMTP.Addr + "?from=status@example.jp",
			"SLOKEEPER_SMTP_CA=" + smtpCA, "SLOKEEPER_SMTP_PASSWORD=" + c.SMTP.Password,
			"SLOKEEPER_LOG_FORMAT=json", "SLOKEEPER_INGEST_RATE=-1", "SLOKEEPER_POLICY=" + opts.Policy,
		}, opts.Env...)
		c.Nodes = append(c.Nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			n.stop(syscall.SIGTERM, 20*time.Second)
		}
	})
	// The first node alone applies the migrations; then the others.
	c.Nodes[0].Start(t)
	for _, n := range c.Nodes[1:] {
		n.Start(t)
	}
	c.WaitReady(t)
	return c
}

// WaitReady waits until every running node answers /readyz with 200.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	for _, n := range c.Nodes {
		n.WaitReady(t)
	}
}

// Start starts the node's process (again, after Kill or Stop) and waits
// until it serves HTTP.
func (n *ClusterNode) Start(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	if n.proc != nil {
		n.mu.Unlock()
		t.Fatalf("%s is already running", n.Name)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "SLOKEEPER_TEST_RUN_MAIN=1", "SLOKEEPER_TEST_ARGS=serve"), n.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		n.mu.Unlock()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		t.Fatal(err)
	}
	done := make(chan struct{})
	serving := make(chan struct{}, 1)
	n.proc, n.done = cmd, done
	fmt.Fprintf(&n.log, "--- %s started (pid %d)\n", n.Name, cmd.Process.Pid)
	n.mu.Unlock()
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			n.mu.Lock()
			n.log.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
			var rec struct{ Msg string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "slokeeper serving" {
				select {
				case serving <- struct{}{}:
				default:
				}
			}
		}
		cmd.Wait()
	}()
	select {
	case <-serving:
	case <-done:
		t.Fatalf("%s exited before serving:\n%s", n.Name, n.Logs())
	case <-time.After(90 * time.Second):
		t.Fatalf("%s did not start within 90 s:\n%s", n.Name, n.Logs())
	}
}

// Kill kills the node with SIGKILL, as a crash or a power cut would:
// no shutdown, nothing flushed.
func (n *ClusterNode) Kill(t testing.TB) {
	t.Helper()
	if !n.stop(syscall.SIGKILL, 10*time.Second) {
		t.Fatalf("%s did not die on SIGKILL", n.Name)
	}
}

// Stop stops the node with SIGTERM and waits until it has shut down.
func (n *ClusterNode) Stop(t testing.TB) {
	t.Helper()
	if !n.stop(syscall.SIGTERM, 40*time.Second) {
		t.Fatalf("%s did not stop within 40 s of SIGTERM:\n%s", n.Name, n.Logs())
	}
}

// stop signals the running process, if any, and waits up to d for it to
// exit (then kills it); false if it had to be killed.
func (n *ClusterNode) stop(sig syscall.Signal, d time.Duration) bool {
	n.mu.Lock()
	cmd, done := n.proc, n.done
	n.proc = nil
	n.mu.Unlock()
	if cmd == nil {
		return true
	}
	cmd.Process.Signal(sig)
	ok := true
	select {
	case <-done:
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		ok = false
	}
	n.mu.Lock()
	fmt.Fprintf(&n.log, "--- %s stopped (%s)\n", n.Name, sig)
	n.mu.Unlock()
	return ok
}

// Running says whether the node's process is up.
func (n *ClusterNode) Running() bool { n.mu.Lock(); defer n.mu.Unlock(); return n.proc != nil }

// Logs returns everything the node logged, across restarts.
func (n *ClusterNode) Logs() string { n.mu.Lock(); defer n.mu.Unlock(); return n.log.String() }

// WaitReady waits until the node answers /readyz with 200.
func (n *ClusterNode) WaitReady(t testing.TB) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(n.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 60 s (%v):\n%s", n.Name, err, n.Logs())
		}
		time.Sleep(100 * time.Millisecond) // waiting for the node
	}
}

// AddSource registers a device source in the cluster's database and
// returns its ID and ingest token.
func (c *Cluster) AddSource(t testing.TB, name string) (id, token string) {
	t.Helper()
	mustAccount(t, c.Nodes[0].Data, c.DSN, "acct-1")
	out, errOut, code := cliRunTB(t, "source", "add", "--data", c.Nodes[0].Data, "--db", c.DSN, "--kind", "device", "--account", "acct-1", "--name", name)
	m := regexp.MustCompile(`source: (src_\w+)\ntoken:  (slk_\S+)\n`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("source add: exit %d\n%s%s", code, out, errOut)
	}
	return m[1], m[2]
}

func cliRunTB(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	var out, errb strings.Builder
	code := run(context.Background(), args, noEnv, &out, &errb)
	return out.String(), errb.String(), code
}

// TestClusterSmoke: three nodes on one database, backup target, broker
// and mail server; ingest on node 1; node 3 killed with SIGKILL and
// started again; every node ready again and node 1 still ingesting.
func TestClusterSmoke(t *testing.T) {
	c := StartCluster(t, ClusterOptions{Nodes: 3})
	_, token := c.AddSource(t, "smoke")
	in := startIngest(c.Nodes[0].URL, token, "smoke")
	waitFor(t, "ingest on node 1", func() bool { return in.ackedCount() >= 20 })
	c.Nodes[2].Kill(t)
	if c.Nodes[2].Running() {
		t.Fatal("node 3 still runs after Kill")
	}
	c.Nodes[2].Start(t)
	c.WaitReady(t)
	n := in.ackedCount()
	waitFor(t, "ingest on node 1 after node 3's restart", func() bool { return in.ackedCount() >= n+20 })
	acked, refused := in.finish()
	if len(refused) > 0 {
		t.Errorf("node 1 refused ingest while node 3 was down: %v (%d acknowledged)", refused, len(acked))
	}
	for _, n := range c.Nodes {
		if logs := n.Logs(); !strings.Contains(logs, `"msg":"mqtt: subscribed"`) || !strings.Contains(logs, "$share/slokeeper/slokeeper/+/logs") {
			t.Errorf("%s did not join the shared MQTT subscription:\n%s", n.Name, logs)
		}
		if os.Getenv("SLOKEEPER_TEST_CLUSTER_LOGS") != "" {
			t.Logf("%s:\n%s", n.Name, n.Logs())
		}
	}
}

// TestClusterExampleConfigs: the README's example node configurations
// load and validate, differ only in the node name, and put every node on
// a multi-host DSN that follows the primary, one key store, one backup
// target and one MQTT share group.
func TestClusterExampleConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../examples/cluster/node*.yaml")
	if len(files) < 2 {
		t.Fatalf("example node configurations: %v, want several", files)
	}
	var first Config
	for i, f := range files {
		cfg := DefaultConfig()
		if err := cfg.loadFile(f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := cfg.validate(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if want := fmt.Sprintf("node%d", i+1); cfg.Node != want {
			t.Errorf("%s: node = %q, want %q", f, cfg.Node, want)
		}
		if !strings.Contains(cfg.DB, ",") || !strings.Contains(cfg.DB, "target_session_attrs=read-write") {
			t.Errorf("%s: db = %q, want a multi-host DSN with target_session_attrs=read-write", f, cfg.DB)
		}
		if cfg.KeysDB == "" || !strings.HasPrefix(cfg.BackupTarget, "s3://") {
			t.Errorf("%s: keys_db = %q, backup_target = %q: want a shared key store and an S3 target", f, cfg.KeysDB, cfg.BackupTarget)
		}
		if i == 0 {
			first = cfg
			continue
		}
		cfg.Node = first.Node
		if cfg != first {
			t.Errorf("%s differs from %s in more than the node name", f, files[0])
		}
	}
}
