package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper/internal/postgres/pgcluster"
)

// ingester posts one-line NDJSON bodies to a node until stopped, and
// remembers which lines the node acknowledged (2xx) and how many it
// refused or could not answer while the database was away.
type ingester struct {
	url, token string
	stop       chan struct{}
	done       chan struct{}
	mu         sync.Mutex
	acked      []string
	refused    map[string]int // "503", "connection", ...
}

func startIngest(url, token, prefix string) *ingester {
	in := &ingester{url: url, token: token, stop: make(chan struct{}), done: make(chan struct{}), refused: map[string]int{}}
	client := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(in.done)
		for i := 0; ; i++ {
			select {
			case <-in.stop:
				return
			default:
			}
			msg := fmt.Sprintf("%s %d", prefix, i)
			req, _ := http.NewRequest("POST", in.url+"/api/v1/logs", strings.NewReader(`{"message":"`+msg+`"}`+"\n"))
			req.Header.Set("Authorization", "Bearer "+in.token)
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := client.Do(req)
			in.mu.Lock()
			switch {
			case err != nil:
				in.refused["connection"]++
			case resp.StatusCode/100 == 2:
				in.acked = append(in.acked, msg)
			default:
				in.refused[resp.Status]++
			}
			in.mu.Unlock()
			if resp != nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode/100 != 2 {
				time.Sleep(50 * time.Millisecond) // a client's pause before it tries again
			}
		}
	}()
	return in
}

func (in *ingester) ackedCount() int { in.mu.Lock(); defer in.mu.Unlock(); return len(in.acked) }

func (in *ingester) finish() (acked []string, refused map[string]int) {
	close(in.stop)
	<-in.done
	return in.acked, in.refused
}

// queryMessages returns how often each message of a source is stored, as
// an operator reads them over the API.
func queryMessages(t *testing.T, url, token, source string) map[string]int {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/v1/logs?limit=1000000&source="+source, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/logs = %s", resp.Status)
	}
	got := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct{ Message string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("a record is not JSON: %v: %s", err, sc.Text())
		}
		got[rec.Message]++
	}
	return got
}

// syncPolicy writes the default policy with
// redundancy.synchronous_replication on.
func syncPolicy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../policy/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "synchronous_replication: false", "synchronous_replication: true", 1)
	if s == string(b) {
		t.Fatal("no synchronous_replication key in the default policy")
	}
	p := filepath.Join(t.TempDir(), "slo.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDatabaseFailover: a node on a multi-host DSN
// (target_session_attrs=read-write) to a primary and a synchronous
// standby ingests while the primary crashes and the standby is promoted.
// Ingest pauses (refusals, never an acknowledgement that is later lost)
// and resumes on the promoted server; every acknowledged line is stored
// once (every line goes through the shared log store in the database, so
// ingest must pause, answering 503, while no server takes writes); the log
// names the server in use at start and after the failover;
// the node says that synchronous replication, which the policy asks for,
// is in force.
func TestDatabaseFailover(t *testing.T) {
	c := pgcluster.Start(t, pgcluster.Options{Synchronous: true})
	dsn := c.DSN()
	data := t.TempDir()
	mustAccount(t, data, dsn, "acct-1")
	out, stderr, code := cliRun(t, "source", "add", "--data", data, "--db", dsn, "--kind", "device", "--account", "acct-1", "--name", "failover")
	m := regexp.MustCompile(`source: (src_\w+)\ntoken:  (slk_\S+)\n`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("source add: exit %d\n%s%s", code, out, stderr)
	}
	sourceID, token := m[1], m[2]
	staff := mustOperatorToken(t, []string{"--data", data, "--db", dsn}, "sre", "operator", "write")
	node := startChild(t, nil, "--data", data, "--db", dsn, "--node", "n1", "--policy", syncPolicy(t), "--ingest-rate", "-1")
	if logs := node.logs(); !strings.Contains(logs, `"msg":"postgres: connected","component":"postgres","host":"`+c.Primary.Addr()+`","primary":true`) {
		t.Errorf("the log does not name the primary %s at start:\n%s", c.Primary.Addr(), logs)
	}
	if logs := node.logs(); !strings.Contains(logs, "synchronous replication is in force") {
		t.Errorf("the log does not say synchronous replication is in force:\n%s", logs)
	}

	in := startIngest(node.url, token, "line")
	waitFor(t, "ingest before the failover", func() bool { return in.ackedCount() >= 100 })
	c.Primary.Stop(t)
	atCrash := in.ackedCount()
	// /readyz reaches for the database, as a load balancer's check does.
	ready := map[int]int{}
	readyz := func() int {
		resp, err := http.Get(node.url + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		ready[resp.StatusCode]++
		return resp.StatusCode
	}
	for range 5 {
		readyz()
	}
	c.Standby.Promote(t)
	waitFor(t, "the node ready on the promoted server", func() bool { return readyz() == 200 })
	waitFor(t, "ingest after the failover", func() bool { return in.ackedCount() >= atCrash+100 })
	acked, refused := in.finish()
	t.Logf("%d lines acknowledged; refused while the database was away: %v; /readyz: %v", len(acked), refused, ready)
	if ready[503] == 0 {
		t.Errorf("/readyz never said 503 while the primary was down: %v", ready)
	}
	if len(refused) == 0 {
		t.Errorf("ingest never paused while no server took writes: the shared log store acknowledged lines with no database")
	}
	for status, n := range refused {
		if status != "connection" && !strings.HasPrefix(status, "503") {
			t.Errorf("%d ingest requests were answered %s while the database was away; want 503 (send again)", n, status)
		}
	}
	waitFor(t, "the log to name the promoted server", func() bool {
		return strings.Contains(node.logs(), `"msg":"postgres: reconnected to another server","component":"postgres","host":"`+c.Standby.Addr()+`","primary":true`)
	})
	got := queryMessages(t, node.url, staff, sourceID)
	lost, twice := 0, 0
	for _, msg := range acked {
		switch got[msg] {
		case 0:
			lost++
		case 1:
		default:
			twice++
		}
	}
	if lost > 0 || twice > 0 {
		t.Errorf("of %d acknowledged lines, %d are lost and %d stored more than once", len(acked), lost, twice)
	}
}

// TestSyncReplicationNotInForce: the policy asks for synchronous
// replication, and the database (a server without a standby) does not
// wait for one: the node says so at start, naming the settings.
func TestSyncReplicationNotInForce(t *testing.T) {
	cfg := withPostgres(t)
	node := startChild(t, nil, "--data", t.TempDir(), "--db", cfg.DB, "--node", "n1", "--policy", syncPolicy(t))
	logs := node.logs()
	if !strings.Contains(logs, "the policy asks for synchronous replication (redundancy.synchronous_replication) but the database does not wait for a standby") ||
		!strings.Contains(logs, `synchronous_standby_names=\"\"`) {
		t.Errorf("no warning naming the replication settings at start:\n%s", logs)
	}
}
