package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/logstore"
	"slokeeper/internal/mailtest"
	"slokeeper/internal/netcut"
	"slokeeper/internal/postgres/pgcluster"
	"slokeeper/lifecycle"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// The cluster test's fault schedule: what can happen, at random, while
// traffic flows. Each happens once per run, in an order and with gaps the
// seed decides.
const (
	faultKillRestart = "kill -9 and restart"
	faultKillForever = "kill -9 for good"
	faultDBCut       = "5 s database cut"
	faultPromote     = "primary stopped, standby promoted"
)

// TestClusterFaults is issue 13's cluster test: three serve nodes on a
// PostgreSQL primary and synchronous standby (every node on a multi-host
// DSN through its own cuttable proxies, internal/netcut: no network
// namespaces are needed, a proxy per node and server cuts exactly one
// node's way to the database), an S3 backup target, Mosquitto and an SMTP
// server. While HTTP ingest goes to random nodes, a device publishes over
// MQTT and a maintenance window is announced to subscribers, a seeded
// schedule kills a node with SIGKILL and restarts it, kills another for
// good, cuts a node off the database for 5 s and promotes the standby.
// Then it settles and checks: every acknowledged line and message stored
// exactly once as every live node reads it (an unanswered one at most
// once); every record of each closed day in a verified backup of the
// same content; no original erased before its ceiling or without a
// verified backup; one notice per subscriber; audit verify clean on every
// node. SLOKEEPER_TEST_SEED replays a run.
//
// Days: the nodes run on the real clock, so no day closes during the
// test. Two closed days are made the way a node made them before it
// joined the cluster: node 1 is stopped, records are written into its
// data directory's log store on a clock set to those days (two days
// ago, and a day past the exec-log ceiling), and node 1 is started again,
// moving them into the shared log store. The lifecycle pass, asked for
// beside the servers (lifecycle run), must seal, back up and verify
// both, and erase the old one's original.
func TestClusterFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the cluster test runs a minute of faults")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLOKEEPER_TEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("SLOKEEPER_TEST_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (SLOKEEPER_TEST_SEED=%d replays this schedule)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	pg := pgcluster.Start(t, pgcluster.Options{Synchronous: true})
	type route struct{ primary, standby *netcut.Proxy }
	routes := make([]route, 3)
	for i := range routes {
		routes[i] = route{netcut.Listen(t, pg.Primary.Addr()), netcut.Listen(t, pg.Standby.Addr())}
	}
	policyFile := syncPolicy(t)
	c := StartCluster(t, ClusterOptions{
		Nodes: 3, DSN: pg.DSN(), Policy: policyFile,
		NodeDSN: func(i int, _ string) string {
			return fmt.Sprintf("postgres://postgres@%s,%s/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=3",
				routes[i].primary.Addr(), routes[i].standby.Addr())
		},
		// Passes run only when asked for, so that the checks see the pass
		// the test asked for and no periodic one half-way.
		Env: []string{"SLOKEEPER_LIFECYCLE_INTERVAL=0"},
	})
	sourceID, token := c.AddSource(t, "cluster")
	dbArgs := []string{"--data", c.Nodes[0].Data, "--db", c.DSN}
	staff := mustOperatorToken(t, dbArgs, "sre", "operator", "write")

	// Closed days, made on node 1 before the faults.
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(loc)
	// Two days back, not one: a day is sealed 10 minutes after it closes.
	closed := time.Date(today.Year(), today.Month(), today.Day()-2, 12, 0, 0, 0, loc)
	old := time.Date(today.Year(), today.Month()-1, today.Day()-10, 12, 0, 0, 0, loc)
	if old.Day() > 28 { // clear of month-end clamping, so the ceiling below is plain AddDate
		old = old.AddDate(0, 0, -3)
	}
	seeded := map[string]int64{"exec/" + closed.Format(time.DateOnly): 40, "exec/" + old.Format(time.DateOnly): 30}
	c.Nodes[0].Stop(t)
	seedDays(t, c, sourceID, map[time.Time]int64{closed: 40, old: 30})
	c.Nodes[0].Start(t)
	c.WaitReady(t)

	// Subscribers, through the status page's form on random nodes.
	subscribers := map[string]string{"hanako@example.jp": "ja", "taro@example.jp": "ja", "alice@example.com": "en", "bob@example.com": "en"}
	for _, addr := range slices.Sorted(maps.Keys(subscribers)) {
		subscribeOnNode(t, c.Nodes[rng.IntN(3)], c.SMTP, addr, subscribers[addr])
	}

	// Traffic: HTTP ingest to random live nodes, one unique id per line;
	// a device publishing over MQTT, QoS 1.
	traffic := newClusterTraffic(c, token)
	for w := range 3 {
		traffic.ingest(fmt.Sprintf("h%d", w), rng.Uint64())
	}
	traffic.publish(t, sourceID)
	waitFor(t, "traffic before the faults", func() bool { return traffic.ackedCount() >= 200 })

	// The faults, in a seeded order with seeded gaps; the maintenance
	// window is announced between two of them.
	faults := []string{faultKillRestart, faultKillRestart, faultKillForever, faultDBCut, faultPromote, "announce"}
	rng.Shuffle(len(faults), func(i, j int) { faults[i], faults[j] = faults[j], faults[i] })
	forever := -1
	pick := func() int { // a node still in the cluster, not the one gone for good
		for {
			if i := rng.IntN(3); i != forever {
				return i
			}
		}
	}
	var announced string
	began := time.Now()
	for _, f := range faults {
		gap := time.Duration(2000+rng.IntN(6000)) * time.Millisecond
		time.Sleep(gap) // the schedule runs on real time: the nodes are real processes on the real clock
		at := time.Since(began).Round(100 * time.Millisecond)
		switch f {
		case faultKillRestart:
			n := c.Nodes[pick()]
			down := time.Duration(2000+rng.IntN(5000)) * time.Millisecond
			t.Logf("%6s %s: %s, down %s", at, n.Name, f, down)
			n.Kill(t)
			time.Sleep(down) // the node stays down this long
			n.Start(t)
		case faultKillForever:
			forever = pick()
			t.Logf("%6s %s: %s", at, c.Nodes[forever].Name, f)
			c.Nodes[forever].Kill(t)
			traffic.retire(forever)
		case faultDBCut:
			i := pick()
			t.Logf("%6s %s: %s", at, c.Nodes[i].Name, f)
			routes[i].primary.Cut()
			routes[i].standby.Cut()
			time.Sleep(5 * time.Second) // the cut lasts 5 s
			routes[i].primary.Restore()
			routes[i].standby.Restore()
		case faultPromote:
			t.Logf("%6s %s", at, f)
			pg.Primary.Stop(t)
			pg.Standby.Promote(t)
		case "announce":
			n := c.Nodes[pick()]
			t.Logf("%6s maintenance announced on %s", at, n.Name)
			announced = announceMaintenance(t, c, n, staff, forever)
		}
	}
	t.Logf("faults over after %s", time.Since(began).Round(100*time.Millisecond))

	// Settle: node 1 (or 2) restarts with the node gone for good named in
	// mqtt_drain_nodes, as README tells an operator, so what the broker
	// had queued for it reaches the store; traffic stops; every live node
	// is ready.
	live := []*ClusterNode{}
	for i, n := range c.Nodes {
		if i != forever {
			live = append(live, n)
		}
	}
	for _, n := range live {
		if !n.Running() {
			n.Start(t)
		}
	}
	c.waitLive(t, live)
	heir := live[0]
	heir.Stop(t)
	heir.env = append(heir.env, "SLOKEEPER_MQTT_DRAIN_NODES="+c.Nodes[forever].Name)
	heir.Start(t)
	c.waitLive(t, live)
	res := traffic.finish()
	t.Logf("HTTP: %d lines acknowledged, %d unanswered, %d refused %v; MQTT: %d messages acknowledged by the broker, %d unanswered",
		res.httpAcked, len(res.unknown)-res.mqttUnknown, res.refused, res.firstErrors, res.mqttAcked, res.mqttUnknown)

	// 1. No acknowledged record lost or duplicated, on every live node.
	settled := time.Now().Add(45 * time.Second) // for every node together: MQTT redeliveries, replication
	missingMQTT := map[string]bool{}
	for _, n := range live {
		var got map[string]int
		var qerr error
		waitForOrReport(t, time.Until(settled), func() bool {
			if got, qerr = countIDs(n.URL, staff, sourceID); qerr != nil {
				return false
			}
			for id := range res.acked {
				if got[id] != 1 {
					return false
				}
			}
			return true
		})
		if qerr != nil {
			t.Errorf("%s: the log query: %v", n.Name, qerr)
			continue
		}
		for _, id := range reportRecords(t, n.Name, got, res) {
			if res.mqttIDs[id] {
				missingMQTT[id] = true
			}
		}
	}
	if len(missingMQTT) > 0 {
		diagnoseMQTT(t, c, live, staff, sourceID, missingMQTT)
	}

	// 2 and 3. Closed days backed up, verified, erased only as allowed.
	for range 2 { // a pass backs up and verifies; the next may erase what the first made safe
		out, errOut, code := cliRunTB(t, "lifecycle", "run", "--data", heir.Data, "--db", c.DSN, "--policy", policyFile, "--wait", "3m")
		if code != 0 {
			t.Errorf("lifecycle run beside the servers: exit %d\n%s%s", code, out, errOut)
		}
	}
	checkBackups(t, c, seeded)
	checkErasures(t, c, seeded, loc)
	// The sealed closed day reads the same from every live node; the
	// erased one from none.
	for _, n := range live {
		got, err := countIDs(n.URL, staff, sourceID)
		if err != nil {
			t.Errorf("%s: the log query after the passes: %v", n.Name, err)
			continue
		}
		for day, want := range map[time.Time]int64{closed: 40, old: 0} {
			var once, other []string
			for i := range 40 {
				id := fmt.Sprintf("seed %s %d", day.Format(time.DateOnly), i)
				if got[id] == 1 && i < int(want) {
					once = append(once, id)
				} else if got[id] != 0 || i < int(want) {
					other = append(other, fmt.Sprintf("%q×%d", id, got[id]))
				}
			}
			if len(other) > 0 {
				t.Errorf("%s: the records of %s written before the faults, after the passes: %d once as wanted, and %v (want %d records once, none erased ones)",
					n.Name, day.Format(time.DateOnly), len(once), other, want)
			}
		}
	}

	// 4. One notice per subscriber.
	if announced != "" {
		checkNotices(t, c.SMTP, subscribers, announced)
	}

	// 5. audit verify clean on every node, the one gone for good included
	// (its data directory is still there).
	for _, n := range c.Nodes {
		out, errOut, code := cliRunTB(t, "audit", "verify", "--data", n.Data, "--db", c.DSN)
		if code != 0 {
			t.Errorf("audit verify on %s: exit %d\n%s%s", n.Name, code, out, errOut)
		}
	}
	if t.Failed() || os.Getenv("SLOKEEPER_TEST_CLUSTER_LOGS") != "" {
		for _, n := range c.Nodes {
			t.Logf("%s:\n%s", n.Name, tail(n.Logs(), 40))
		}
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// waitLive waits until every node of live answers /readyz with 200.
func (c *Cluster) waitLive(t *testing.T, live []*ClusterNode) {
	t.Helper()
	for _, n := range live {
		n.WaitReady(t)
	}
}

// waitForOrReport waits up to d for cond; the caller reports what is
// missing if it never holds.
func waitForOrReport(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond) // waiting for the cluster to settle
	}
}

// seedDays writes n records per day into node 1's log store (its data
// directory, node 1 stopped), received on those days: days the node
// closed before it joined the cluster.
func seedDays(t *testing.T, c *Cluster, sourceID string, days map[time.Time]int64) {
	t.Helper()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Data, cfg.DB = c.Nodes[0].Data, c.DSN
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	clock := newTestClock(time.Now())
	loc, _ := time.LoadLocation("Asia/Tokyo")
	logs, err := logstore.Open(ctx, logstore.Config{Dir: filepath.Join(c.Nodes[0].Data, "logs"), Catalog: store.LogCatalog, Location: loc, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	for day, n := range days {
		clock.Add(day.Sub(clock.Now()))
		recs := make([]slokeeper.LogRecord, n)
		for i := range recs {
			recs[i] = slokeeper.LogRecord{Account: "acct-1", SourceKind: slokeeper.SourceDevice, SourceID: sourceID,
				Message: fmt.Sprintf("seed %s %d", day.Format(time.DateOnly), i)}
		}
		if _, err := logs.AppendLogs(ctx, slokeeper.LogClassExec, recs, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}
}

// subscribeOnNode subscribes an address on a node's status page form and
// confirms it from the mail, as a customer does.
func subscribeOnNode(t *testing.T, n *ClusterNode, srv *mailtest.Server, address, lang string) {
	t.Helper()
	form := url.Values{"email": {address}, "lang": {lang}}
	if r := postForm(t, n.URL+"/subscribe?lang="+lang, form); r.status != 200 {
		t.Fatalf("subscribe %s on %s = %d %s", address, n.Name, r.status, r.body)
	}
	confirm := waitMails(t, srv, address, 1)[0]
	link := confirmLink.FindString(confirm.Body) // the node that sent it names itself: any node takes it
	if link == "" {
		t.Fatalf("no confirmation link in the mail to %s:\n%s", address, confirm.Body)
	}
	if r := postForm(t, link, nil); r.status != 200 {
		t.Fatalf("confirm %s on %s = %d %s", address, n.Name, r.status, r.body)
	}
}

var confirmLink = regexp.MustCompile(`http://\S+/subscribe/confirm\?\S+`)

// announceMaintenance schedules a window eight days ahead on node n (or,
// if n does not answer, another live node) and returns its English title.
func announceMaintenance(t *testing.T, c *Cluster, n *ClusterNode, staff string, forever int) string {
	t.Helper()
	title := "Cluster test window " + strconv.FormatInt(time.Now().UnixNano(), 36)
	start := time.Now().Add(8 * 24 * time.Hour).Truncate(time.Hour)
	body := `{"title_ja":"クラスタ試験 ` + title + `","title_en":"` + title + `","start":"` + start.Format(time.RFC3339) +
		`","end":"` + start.Add(2*time.Hour).Format(time.RFC3339) + `"}`
	client := &http.Client{Timeout: 15 * time.Second}
	nodes := append([]*ClusterNode{n}, c.Nodes...)
	for attempt := 0; attempt < 20; attempt++ {
		m := nodes[attempt%len(nodes)]
		if slices.Index(c.Nodes, m) == forever || !m.Running() {
			continue
		}
		req, _ := http.NewRequest("POST", m.URL+"/api/v1/maintenances", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+staff)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Logf("maintenance on %s: %v; trying another node", m.Name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == 201 {
			return title
		}
		t.Logf("maintenance on %s = %s; trying another node", m.Name, resp.Status)
		time.Sleep(time.Second) // the cluster may be mid-failover
	}
	t.Error("no node scheduled the maintenance window")
	return ""
}

// clusterTraffic is the test's clients: HTTP ingest workers posting one
// line at a time to random live nodes, and one MQTT device.
type clusterTraffic struct {
	c     *Cluster
	token string
	stop  chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	retired map[int]bool
	// refusedN counts refusals, 5xx included.
	refusedN int
	acked    map[string]bool // the id was acknowledged (HTTP 2xx, or the broker's PUBACK)
	unknown  map[string]bool // the request failed or timed out: present or not, at most once
	mqttIDs  map[string]bool
	refused  map[string]bool // refused with a 4xx: never stored
	errs     []string
}

// trafficResult is what the clients saw.
type trafficResult struct {
	acked                map[string]bool // HTTP and MQTT ids acknowledged
	unknown              map[string]bool // HTTP and MQTT ids whose outcome the client does not know
	httpAcked, mqttAcked int
	mqttUnknown, refused int
	firstErrors          []string // the first refusals that were not 5xx
	refusedIDs           map[string]bool
	mqttIDs              map[string]bool
}

func newClusterTraffic(c *Cluster, token string) *clusterTraffic {
	return &clusterTraffic{c: c, token: token, stop: make(chan struct{}), retired: map[int]bool{}, refused: map[string]bool{}, acked: map[string]bool{}, unknown: map[string]bool{}, mqttIDs: map[string]bool{}}
}

func (tr *clusterTraffic) ackedCount() int { tr.mu.Lock(); defer tr.mu.Unlock(); return len(tr.acked) }

// retire stops sending to node i, gone for good, as a load balancer
// would once its check fails.
func (tr *clusterTraffic) retire(i int) { tr.mu.Lock(); tr.retired[i] = true; tr.mu.Unlock() }

func (tr *clusterTraffic) ingest(name string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	client := &http.Client{Timeout: 10 * time.Second}
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-tr.stop:
				return
			default:
			}
			node := rng.IntN(len(tr.c.Nodes))
			tr.mu.Lock()
			gone := tr.retired[node]
			tr.mu.Unlock()
			if gone {
				continue
			}
			id := fmt.Sprintf("%s-%d", name, i)
			req, _ := http.NewRequest("POST", tr.c.Nodes[node].URL+"/api/v1/logs", strings.NewReader(`{"message":"`+id+`"}`+"\n"))
			req.Header.Set("Authorization", "Bearer "+tr.token)
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := client.Do(req)
			tr.mu.Lock()
			switch {
			case err != nil:
				tr.unknown[id] = true
			case resp.StatusCode/100 == 2:
				tr.acked[id] = true
			case resp.StatusCode >= 500:
				tr.unknown[id] = true // a 5xx may follow a durable write
				tr.refusedN++
			default:
				tr.refused[id] = true
				tr.refusedN++
				if len(tr.errs) < 5 {
					tr.errs = append(tr.errs, fmt.Sprintf("%s on node%d: %s", id, node+1, resp.Status))
				}
			}
			tr.mu.Unlock()
			if resp != nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode/100 != 2 {
				time.Sleep(50 * time.Millisecond) // a client's pause before it tries again
			}
		}
	}()
}

// publish starts a device publishing one QoS 1 message at a time.
func (tr *clusterTraffic) publish(t *testing.T, sourceID string) {
	t.Helper()
	u, _ := url.Parse(tr.c.MQTT)
	ctx, cancel := context.WithCancel(context.Background())
	dev, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{ServerUrls: []*url.URL{u}, KeepAlive: 30, ClientConfig: paho.ClientConfig{ClientID: "cluster-device"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.AwaitConnection(ctx); err != nil {
		t.Fatal(err)
	}
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		defer cancel()
		defer dev.Disconnect(context.Background())
		for i := 0; ; i++ {
			select {
			case <-tr.stop:
				return
			case <-time.After(20 * time.Millisecond): // a device's pace
			}
			id := fmt.Sprintf("m-%d", i)
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := dev.Publish(pctx, &paho.Publish{Topic: "slokeeper/" + sourceID + "/logs", QoS: 1, Payload: []byte(`{"message":"` + id + `"}`)})
			pcancel()
			tr.mu.Lock()
			tr.mqttIDs[id] = true
			if err == nil {
				tr.acked[id] = true
			} else {
				tr.unknown[id] = true
			}
			tr.mu.Unlock()
		}
	}()
}

func (tr *clusterTraffic) finish() trafficResult {
	close(tr.stop)
	tr.wg.Wait()
	r := trafficResult{acked: tr.acked, unknown: tr.unknown, refused: tr.refusedN, refusedIDs: tr.refused, firstErrors: tr.errs, mqttIDs: tr.mqttIDs}
	for id := range tr.acked {
		if tr.mqttIDs[id] {
			r.mqttAcked++
		} else {
			r.httpAcked++
		}
	}
	for id := range tr.unknown {
		if tr.mqttIDs[id] {
			r.mqttUnknown++
		}
	}
	return r
}

// countIDs counts each id (a record's message) a node returns for the
// source.
func countIDs(nodeURL, staff, source string) (map[string]int, error) {
	req, _ := http.NewRequest("GET", nodeURL+"/api/v1/logs?limit=1000000&source="+source, nil)
	req.Header.Set("Authorization", "Bearer "+staff)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET /api/v1/logs = %s %s", resp.Status, b)
	}
	got := map[string]int{}
	dec := json.NewDecoder(resp.Body)
	for {
		var rec struct{ Message string }
		if err := dec.Decode(&rec); err == io.EOF {
			return got, nil
		} else if err != nil {
			return got, fmt.Errorf("the answer broke off after %d records: %w", len(got), err)
		}
		got[rec.Message]++
	}
}

// reportRecords says, for one node, which acknowledged ids are missing or
// stored more than once, and which unanswered ones are stored twice.
func reportRecords(t *testing.T, node string, got map[string]int, res trafficResult) (missing []string) {
	t.Helper()
	var lost, twice, unknownTwice, phantom []string
	for id := range res.acked {
		switch got[id] {
		case 0:
			lost = append(lost, id)
		case 1:
		default:
			twice = append(twice, fmt.Sprintf("%s×%d", id, got[id]))
		}
	}
	for id := range res.unknown {
		if got[id] > 1 {
			unknownTwice = append(unknownTwice, fmt.Sprintf("%s×%d", id, got[id]))
		}
	}
	for id := range res.refusedIDs {
		if got[id] > 0 {
			phantom = append(phantom, id)
		}
	}
	if len(phantom) > 0 {
		t.Errorf("%s: %d lines refused with a 4xx are stored all the same: %v", node, len(phantom), phantom)
	}
	if len(lost)+len(twice)+len(unknownTwice) == 0 {
		t.Logf("%s: all %d acknowledged ids once", node, len(res.acked))
		return nil
	}
	sample := func(ids []string) string {
		slices.Sort(ids)
		if len(ids) > 12 {
			return strings.Join(ids[:12], " ") + fmt.Sprintf(" … (%d more)", len(ids)-12)
		}
		return strings.Join(ids, " ")
	}
	t.Errorf("%s: of %d acknowledged ids (HTTP ingest hN-i on random nodes, MQTT m-i), %d are missing: %s; %d stored more than once: %s; of %d unanswered, %d stored more than once: %s",
		node, len(res.acked), len(lost), sample(lost), len(twice), sample(twice), len(res.unknown), len(unknownTwice), sample(unknownTwice))
	return lost
}

// diagnoseMQTT says where MQTT messages the broker acknowledged and no
// node stored are: for each live node, how often it failed to store a
// message and whether its broker connection began again since (a
// message neither stored nor acknowledged comes back only on a new
// connection; until then the in-order acknowledgements behind it wait,
// and the broker holds the node's share of the subscription). Then it
// restarts each live node and counts how many of the missing arrive.
func diagnoseMQTT(t *testing.T, c *Cluster, live []*ClusterNode, staff, sourceID string, missing map[string]bool) {
	t.Helper()
	for _, n := range live {
		logs := n.Logs()
		failed := strings.Count(logs, `"msg":"mqtt: storing a message failed; it will be delivered again"`)
		last := strings.LastIndex(logs, `"msg":"mqtt: storing a message failed`)
		reconnected := last >= 0 && strings.Contains(logs[last:], `"msg":"mqtt: subscribed"`)
		t.Logf("MQTT on %s: %d failed stores; broker connection begun again since the last: %v", n.Name, failed, reconnected)
	}
	for _, n := range live {
		n.Stop(t)
		n.Start(t)
	}
	c.waitLive(t, live)
	arrived := 0
	waitForOrReport(t, 20*time.Second, func() bool {
		got, err := countIDs(live[0].URL, staff, sourceID)
		if err != nil {
			return false
		}
		arrived = 0
		for id := range missing {
			if got[id] == 1 {
				arrived++
			}
		}
		return arrived == len(missing)
	})
	t.Errorf("of %d MQTT messages the broker acknowledged and no node had stored, %d arrived once every live node was restarted: the broker held them for a node that was up but no longer took its share",
		len(missing), arrived)
}

// checkBackups: every sealed partition of the cluster's catalog and every
// seeded closed day has a verified backup that holds exactly its records
// (the manifest's count and, while the partition exists, its checksum).
func checkBackups(t *testing.T, c *Cluster, seeded map[string]int64) {
	t.Helper()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Data, cfg.DB = t.TempDir(), c.DSN
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	backups, err := store.Backups.FindBackups(ctx, slokeeper.BackupFilter{})
	if err != nil {
		t.Fatal(err)
	}
	verified := map[string][]backup.Manifest{} // class/day → verified backups' manifests
	for _, b := range backups {
		if b.Account != "" || b.VerifiedAt.IsZero() {
			continue
		}
		var m backup.Manifest
		if err := json.Unmarshal(b.Manifest, &m); err != nil {
			t.Errorf("backup %s: manifest: %v", b.ID, err)
			continue
		}
		verified[b.Class+"/"+b.Day] = append(verified[b.Class+"/"+b.Day], m)
	}
	parts, err := store.LogCatalog.FindLogPartitions(ctx, slokeeper.LogPartitionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	sums := map[string]string{}
	for k, n := range seeded {
		want[k] = n
	}
	for _, p := range parts {
		k := p.Class + "/" + p.Day
		if !p.Sealed {
			if _, ok := seeded[k]; ok {
				t.Errorf("%s: a closed day, still not sealed after the passes (%d records in the catalog)", k, p.Records)
			}
			continue
		}
		if n, ok := seeded[k]; ok && p.Records != n {
			t.Errorf("%s: the cluster's catalog holds %d records, the test wrote %d", k, p.Records, n)
		}
		want[k], sums[k] = p.Records, p.Checksum
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		ok := false
		var seen []string
		for _, m := range verified[k] {
			seen = append(seen, fmt.Sprintf("%s: %d records", m.ID, m.Records))
			if m.Records == want[k] && (sums[k] == "" || m.Checksum == sums[k]) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s: %d records, and no verified backup holds them (verified backups: %v)", k, want[k], seen)
		} else {
			t.Logf("%s: %d records in a verified backup", k, want[k])
		}
	}
}

// checkErasures: every original erased (evidence erase_original, ok or
// late) was erased at or after its ceiling (day + 1 month, the exec-log
// rule), after a verify of a backup of that day, and that day has a
// verified, unerased backup with all its records; the old seeded day,
// past its ceiling, was erased.
func checkErasures(t *testing.T, c *Cluster, seeded map[string]int64, loc *time.Location) {
	t.Helper()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Data, cfg.DB = t.TempDir(), c.DSN
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	evs, _, err := store.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	backups, err := store.Backups.FindBackups(ctx, slokeeper.BackupFilter{})
	if err != nil {
		t.Fatal(err)
	}
	dayOf := func(subject string) string { // "exec/2026-10-23 bk_…" → "exec/2026-10-23"
		day, _, _ := strings.Cut(subject, " ")
		return day
	}
	verifiedAt := map[string]time.Time{}
	erased := map[string]bool{}
	for _, e := range evs {
		done := e.Outcome == slokeeper.OutcomeOK || e.Outcome == slokeeper.OutcomeLate
		switch {
		case e.Action == lifecycle.Verify && done:
			if k := dayOf(e.Subject); verifiedAt[k].IsZero() {
				verifiedAt[k] = e.At
			}
		case e.Action == lifecycle.EraseOriginal && done:
			k := dayOf(e.Subject)
			erased[k] = true
			day, err := time.ParseInLocation(time.DateOnly, strings.TrimPrefix(k, "exec/"), loc)
			if strings.HasPrefix(k, "exec/") && err == nil {
				if ceiling := day.AddDate(0, 1, 1); e.At.Before(ceiling) {
					t.Errorf("%s: original erased early, at %s (node %s), before its ceiling %s", k, e.At.Format(time.RFC3339), e.Node, ceiling.Format(time.RFC3339))
				}
			}
			if v := verifiedAt[k]; v.IsZero() || v.After(e.At) {
				t.Errorf("%s: original erased at %s (node %s) with no verified backup before it (first verify: %v)", k, e.At.Format(time.RFC3339), e.Node, v)
			}
			held := false
			for _, b := range backups {
				var m backup.Manifest
				if b.Class+"/"+b.Day == k && !b.VerifiedAt.IsZero() && b.ErasedAt.IsZero() && json.Unmarshal(b.Manifest, &m) == nil {
					if n, ok := seeded[k]; !ok || m.Records == n {
						held = true
					}
				}
			}
			if !held {
				t.Errorf("%s: original erased (node %s) and no verified backup holds its %d records: the interlock did not hold", k, e.Node, seeded[k])
			} else {
				t.Logf("%s: original erased at %s by %s, after a verify at %s, a verified backup holding its records", k, e.At.Format(time.RFC3339), e.Node, verifiedAt[k].Format(time.RFC3339))
			}
		}
	}
	for k := range seeded {
		day, _ := time.ParseInLocation(time.DateOnly, strings.TrimPrefix(k, "exec/"), loc)
		if past := !time.Now().Before(day.AddDate(0, 1, 2)); past && !erased[k] {
			t.Errorf("%s: past its ceiling (erase 1 month after generation, tolerance 1 day) and not erased after the passes", k)
		}
	}
}

// checkNotices: each subscriber got the announcement exactly once, in
// their language.
func checkNotices(t *testing.T, srv *mailtest.Server, subscribers map[string]string, title string) {
	t.Helper()
	count := func() map[string]int {
		n := map[string]int{}
		for _, m := range srv.Messages() {
			if strings.Contains(m.Subject, title) {
				n[m.To]++
			}
		}
		return n
	}
	waitForOrReport(t, 60*time.Second, func() bool { return len(count()) == len(subscribers) })
	got := count()
	for addr, lang := range subscribers {
		if got[addr] != 1 {
			t.Errorf("%s (%s): the maintenance notice %q arrived %d times, want once", addr, lang, title, got[addr])
		}
	}
	t.Logf("the maintenance notice, by recipient: %v", got)
	for _, m := range srv.Messages() {
		if strings.Contains(m.Subject, title) {
			if lang := subscribers[m.To]; lang == "ja" && !strings.Contains(m.Subject, "メンテナンス") {
				t.Errorf("%s: a Japanese subscriber's notice is %q", m.To, m.Subject)
			}
		}
	}
}
