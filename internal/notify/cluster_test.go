package notify_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/keys"
	"slokeeper/internal/mailtest"
	"slokeeper/internal/netcut"
	"slokeeper/internal/notify"
	"slokeeper/internal/postgres"
	"slokeeper/internal/smtp"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/storetest"
	"slokeeper/policy"
)

// cluster is several notify nodes on one PostgreSQL schema, each with its
// own database pool and its own mail server (its SMTP path), sharing the
// master key and one injected clock.
type cluster struct {
	dir   string // the master key and key store every node shares
	dsn   string
	clock *clock
	km    *keys.Manager
	db    *postgres.DB // the test's own view of the schema
	store *postgres.NotificationService
	nodes []*node
}

type node struct {
	name string
	mail *mailtest.Server
	n    *notify.Notifier
	db   *postgres.DB
}

func newCluster(tb testing.TB, subscribers int) *cluster {
	tb.Helper()
	ctx := context.Background()
	c := &cluster{dsn: storetest.PostgresDSN(tb), clock: &clock{now: time.Now().UTC().Truncate(time.Second)}, dir: tb.TempDir()}
	c.db = openPostgres(tb, c.dsn)
	c.store = postgres.NewNotificationService(c.db)
	ks, err := sqlite.OpenKeyStore(ctx, filepath.Join(c.dir, "keys.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ks.Close() })
	if c.km, err = keys.Open(filepath.Join(c.dir, "master.key"), ks); err != nil {
		tb.Fatal(err)
	}
	comps := postgres.NewComponentService(c.db)
	if err := comps.PutComponent(ctx, &slokeeper.Component{ID: "runtime", NameJA: "クラウド実行環境", NameEN: "Cloud runtime",
		Probe: slokeeper.Probe{Kind: slokeeper.ProbeTCP, Target: "127.0.0.1:1"}}); err != nil {
		tb.Fatal(err)
	}
	now := c.clock.Now()
	for i := range subscribers {
		id := fmt.Sprintf("sub_%03d", i)
		secret, err := c.km.SealSystem(make([]byte, 32), []byte("subscriber:"+id))
		if err != nil {
			tb.Fatal(err)
		}
		if err := c.store.CreateSubscriber(ctx, &slokeeper.Subscriber{ID: id, Channel: slokeeper.ChannelEmail, Address: fmt.Sprintf("u%03d@example.jp", i),
			Lang: []string{"ja", "en"}[i%2], Secret: secret, CreatedAt: now, ConfirmedAt: now}); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

func openPostgres(tb testing.TB, dsn string) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// add starts a node on dsn (the schema's, or a proxy's to it).
func (c *cluster) add(tb testing.TB, name, dsn string) *node {
	tb.Helper()
	db := openPostgres(tb, dsn)
	nd := &node{name: name, mail: mailtest.Start(tb), db: db}
	mailer, err := smtp.New(smtp.Config{Addr: nd.mail.Addr, Username: nd.mail.Username, Password: nd.mail.Password, From: "status@example.jp", RootCAs: nd.mail.CertPool()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { mailer.Close() })
	nd.n, err = notify.New(notify.Config{Store: postgres.NewNotificationService(db), Incidents: postgres.NewIncidentService(db), Maintenance: postgres.NewMaintenanceService(db),
		Components: postgres.NewComponentService(db), Secrets: c.km, Policy: policy.Default(), Site: "https://status.example.jp/", Mailer: mailer,
		Clock: c.clock, Node: name, Lease: 2 * time.Minute, Batch: 200, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	c.nodes = append(c.nodes, nd)
	return nd
}

// announce schedules a maintenance window: one announcement for everyone.
func (c *cluster) announce(tb testing.TB) {
	tb.Helper()
	now := c.clock.Now()
	m := &slokeeper.Maintenance{ID: "mt_1", TitleJA: "更新", TitleEN: "Upgrade", Start: now.AddDate(0, 0, 8), End: now.AddDate(0, 0, 8).Add(time.Hour), CreatedAt: now}
	if err := postgres.NewMaintenanceService(c.db).CreateMaintenance(context.Background(), m); err != nil {
		tb.Fatal(err)
	}
}

// run ticks every node in its own loop until the announcement is done
// (its evidence recorded) or a minute has passed; first starts alone, and
// the others once it has sent its first message (it holds its batch).
// The clock moves on by step every 20 ms of real time (0: it moves only
// as the test moves it).
func (c *cluster) run(tb testing.TB, step time.Duration, first *node, rest ...*node) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ev := postgres.NewEvidenceService(c.db)
	var wg sync.WaitGroup
	loop := func(nd *node) {
		wg.Go(func() {
			for ctx.Err() == nil {
				nd.n.Tick(ctx) // errors are the store away, or outcomes owed: the loop goes on, as serve's does
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	loop(first)
	for first.mail.Count() == 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	for _, nd := range rest {
		loop(nd)
	}
	for ctx.Err() == nil {
		got, _, err := ev.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "notice.maintenance.scheduled"})
		if err == nil && len(got) == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
		c.clock.Add(step)
	}
	if ctx.Err() != nil {
		tb.Error("the announcement was not done within a minute")
	}
	cancel()
	wg.Wait()
}

var detailCounts = regexp.MustCompile(`(\d+) sent, (\d+) in doubt`)

// check asserts that every subscriber got the notice exactly once across
// all the mail servers, and that the evidence counts what the database
// holds; it returns the counts.
func (c *cluster) check(tb testing.TB, subscribers int) slokeeper.DeliveryCount {
	tb.Helper()
	ctx := context.Background()
	byTo := map[string][]string{}
	sent := map[string]int{}
	for _, nd := range c.nodes {
		for _, m := range nd.mail.Messages() {
			byTo[m.To] = append(byTo[m.To], nd.name)
			sent[nd.name]++
		}
	}
	// In doubt: handed over as its sender died, so perhaps never sent
	// (the process died between the record and the dot), never twice.
	doubt, err := c.store.FindDeliveries(ctx, slokeeper.DeliveryFilter{State: slokeeper.DeliveryInDoubt})
	if err != nil {
		tb.Fatal(err)
	}
	inDoubt := map[string]bool{}
	for _, d := range doubt {
		inDoubt[d.Subscriber] = true
	}
	for i := range subscribers {
		to := fmt.Sprintf("u%03d@example.jp", i)
		if n := len(byTo[to]); n > 1 || (n == 0 && !inDoubt[fmt.Sprintf("sub_%03d", i)]) {
			tb.Errorf("%s got the notice %d times (from %v); want once (or, in doubt, at most once)", to, n, byTo[to])
		}
	}
	as, err := c.store.FindAnnouncements(ctx, slokeeper.AnnouncementFilter{})
	if err != nil || len(as) != 1 {
		tb.Fatalf("announcements: %d, %v", len(as), err)
	}
	count, err := c.store.CountDeliveries(ctx, as[0].ID)
	if err != nil {
		tb.Fatal(err)
	}
	if count[slokeeper.DeliveryPending] != 0 || count[slokeeper.DeliverySent]+count[slokeeper.DeliveryInDoubt] != subscribers {
		tb.Errorf("deliveries: %v; want %d sent or in doubt", count, subscribers)
	}
	ev, _, err := postgres.NewEvidenceService(c.db).FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "notice.maintenance.scheduled"})
	if err != nil || len(ev) != 1 {
		tb.Fatalf("evidence: %d, %v", len(ev), err)
	}
	// The evidence is written when nothing is pending; an e-mail settled
	// in doubt whose sender later learnt it went is sent in the database
	// after that, never the other way round.
	var evSent, evDoubt int
	if m := detailCounts.FindStringSubmatch(ev[0].Detail); m == nil {
		tb.Errorf("evidence %q says no counts", ev[0].Detail)
	} else {
		evSent, _ = strconv.Atoi(m[1])
		evDoubt, _ = strconv.Atoi(m[2])
	}
	if evSent+evDoubt != subscribers || evDoubt < count[slokeeper.DeliveryInDoubt] || evSent > count[slokeeper.DeliverySent] {
		tb.Errorf("evidence %q; the database holds %v", ev[0].Detail, count)
	}
	tb.Logf("messages by node %v; deliveries %v; evidence: %s", sent, count, ev[0].Detail)
	return count
}

// TestClusterSlowPath: three nodes on one PostgreSQL schema send one
// notice to 300 subscribers with a 2-minute lease and 200-delivery
// batches. The first node's mail server takes 3 s a message (on the
// injected clock): its batch takes 10 minutes, and it keeps it by
// renewing the lease, so nobody reclaims its rows under it. Then, on its
// 60th message, that path hangs for 3 minutes: its lease lapses, the
// others take its rows over, and it stops its batch the moment it sees
// the lease lost. No subscriber gets the notice twice, none misses it.
func TestClusterSlowPath(t *testing.T) {
	const subscribers = 300
	c := newCluster(t, subscribers)
	slow := c.add(t, "n1", c.dsn)
	others := []*node{c.add(t, "n2", c.dsn), c.add(t, "n3", c.dsn)}
	var hung atomic.Bool
	var beforeHang atomic.Int64 // what the others had sent when the slow node hung
	reclaimed := make(chan struct{})
	slow.mail.Hook(mailtest.Hooks{Data: func(accepted int, m mailtest.Message) {
		c.clock.Add(3 * time.Second)
		if accepted == 59 && hung.CompareAndSwap(false, true) {
			beforeHang.Store(int64(others[0].mail.Count() + others[1].mail.Count()))
			c.clock.Add(3 * time.Minute)
			// Hung until the others have taken rows over (not waitFor:
			// this is the server's goroutine).
			select {
			case <-reclaimed:
			case <-time.After(30 * time.Second):
				t.Error("nobody took over the hung node's rows")
			}
		}
	}})
	go func() {
		for !hung.Load() || others[0].mail.Count()+others[1].mail.Count() <= subscribers-200 {
			time.Sleep(time.Millisecond)
		}
		close(reclaimed)
	}()
	c.announce(t)
	c.run(t, 0, slow, others...)
	c.check(t, subscribers)
	if !hung.Load() {
		t.Fatal("the slow path never hung")
	}
	// It kept its batch for 59 messages (3 minutes of clock), past its
	// first lease: until the hang the others sent only the 100 it had
	// not claimed. It lost the batch with the hang.
	if n := beforeHang.Load(); n > subscribers-200 {
		t.Errorf("before the hang the others sent %d; want at most the %d the slow node had not claimed", n, subscribers-200)
	}
	if n := slow.mail.Count(); n < 59 || n >= 200 {
		t.Errorf("the slow node sent %d; want its 59 and those in flight, not its whole batch", n)
	}
}

// TestClusterDatabaseCut: three nodes; one node's connection to
// PostgreSQL is cut for 5 s (a TCP proxy that drops and refuses
// connections) as a message of its own has just gone. Its outcome writes
// are retried with backoff and land once the database is back; nothing
// is sent twice and the evidence counts what the database holds.
func TestClusterDatabaseCut(t *testing.T) {
	const subscribers = 300
	c := newCluster(t, subscribers)
	u, err := url.Parse(c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := netcut.Listen(t, u.Host)
	u.Host = proxy.Addr()
	cut := c.add(t, "n1", u.String())
	others := []*node{c.add(t, "n2", c.dsn), c.add(t, "n3", c.dsn)}
	var once sync.Once
	restored := make(chan struct{})
	cut.mail.Hook(mailtest.Hooks{Data: func(accepted int, m mailtest.Message) {
		if accepted == 20 {
			once.Do(func() {
				proxy.Cut()
				time.AfterFunc(5*time.Second, func() { proxy.Restore(); close(restored) })
			})
		}
	}})
	c.announce(t)
	// The clock runs ten times real time: the 5 s cut is 50 s of it,
	// within the 2-minute lease, as a short cut is in a real cluster.
	c.run(t, 200*time.Millisecond, cut, others...)
	select {
	case <-restored:
	default:
		t.Error("the announcement was done before the database came back")
	}
	c.check(t, subscribers)
	if cut.n.OutcomeRetries() == 0 {
		t.Error("no outcome write was retried across the cut")
	}
	t.Logf("outcome writes retried on n1: %d", cut.n.OutcomeRetries())
}

// TestClusterNodeKilled: a node (a process of its own) is killed with
// SIGKILL mid-batch, the instant its 40th message has reached the mail
// server whole and before the answer, and never comes back. The two
// other nodes, once its lease has ended, settle that message in doubt
// (its handover is in the database; it is not sent again) and send the
// rest of its batch: every subscriber has the notice exactly once, and
// the evidence says one in doubt.
func TestClusterNodeKilled(t *testing.T) {
	const subscribers = 300
	c := newCluster(t, subscribers)
	dead := &node{name: "n1", mail: mailtest.Start(t)}
	c.nodes = append(c.nodes, dead)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, dead.mail.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	others := []*node{c.add(t, "n2", c.dsn), c.add(t, "n3", c.dsn)}
	c.announce(t)

	child := exec.Command(os.Args[0], "-test.run=^TestClusterChildNode$")
	child.Env = append(os.Environ(), "NOTIFY_CHILD_DSN="+c.dsn, "NOTIFY_CHILD_KEYS="+c.dir, "NOTIFY_CHILD_SMTP="+dead.mail.Addr,
		"NOTIFY_CHILD_USER="+dead.mail.Username, "NOTIFY_CHILD_PASSWORD="+dead.mail.Password, "NOTIFY_CHILD_CA="+ca)
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	killed := make(chan string, 1)
	var proc atomic.Pointer[os.Process]
	dead.mail.Hook(mailtest.Hooks{Data: func(accepted int, m mailtest.Message) {
		if accepted == 39 {
			proc.Load().Kill() // SIGKILL: no deferred function, no last write
			killed <- m.Header.Get("Message-Id")
		}
	}})
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	proc.Store(child.Process)
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	var messageID string
	select {
	case messageID = <-killed:
	case <-time.After(time.Minute):
		t.Fatalf("the node was never killed; its output:\n%s", out.String())
	}
	child.Wait()
	// The dead node's leases (on the real clock) end; the others' clock
	// is past them.
	c.clock.Set(time.Now().Add(3 * time.Minute))
	c.run(t, time.Second, others[0], others[1])
	c.check(t, subscribers)
	// In doubt: the message killed unanswered, and any other the dead
	// node had recorded as handed over (one per connection at most).
	doubt, err := c.store.FindDeliveries(context.Background(), slokeeper.DeliveryFilter{State: slokeeper.DeliveryInDoubt})
	if err != nil || len(doubt) < 1 || len(doubt) > 4 {
		t.Fatalf("in doubt: %d, %v; want the message killed in flight, and at most one per connection", len(doubt), err)
	}
	found := false
	for _, d := range doubt {
		if d.Node != "n1" || d.HandoverAt.IsZero() {
			t.Errorf("in doubt: %+v; want the dead node's handovers", d)
		}
		found = found || strings.HasPrefix(messageID, fmt.Sprintf("<d%d.%s@", d.ID, d.Subscriber))
	}
	if !found {
		t.Errorf("the message killed in flight (%s) is not in doubt", messageID)
	}
	ev, _, _ := postgres.NewEvidenceService(c.db).FindEvidence(context.Background(), slokeeper.EvidenceFilter{Action: "notice.maintenance.scheduled"})
	if len(ev) != 1 || !strings.Contains(ev[0].Detail, "in doubt, to check in the mail server's log: ") || !strings.Contains(ev[0].Detail, messageID) {
		t.Errorf("the evidence does not name the message in doubt, %s, for staff: %v", messageID, ev)
	}
	if n := dead.mail.Count(); n < 40 || n >= 200 {
		t.Errorf("the killed node sent %d", n)
	}
}

// TestClusterChildNode is the node TestClusterNodeKilled runs as a
// process of its own and kills; it does nothing in a normal run.
func TestClusterChildNode(t *testing.T) {
	dsn := os.Getenv("NOTIFY_CHILD_DSN")
	if dsn == "" {
		t.Skip("a helper process of TestClusterNodeKilled")
	}
	ctx := context.Background()
	db := openPostgres(t, dsn)
	ks, err := sqlite.OpenKeyStore(ctx, filepath.Join(os.Getenv("NOTIFY_CHILD_KEYS"), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.Open(filepath.Join(os.Getenv("NOTIFY_CHILD_KEYS"), "master.key"), ks)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(os.Getenv("NOTIFY_CHILD_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	mailer, err := smtp.New(smtp.Config{Addr: os.Getenv("NOTIFY_CHILD_SMTP"), Username: os.Getenv("NOTIFY_CHILD_USER"), Password: os.Getenv("NOTIFY_CHILD_PASSWORD"),
		From: "status@example.jp", RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	n, err := notify.New(notify.Config{Store: postgres.NewNotificationService(db), Incidents: postgres.NewIncidentService(db), Maintenance: postgres.NewMaintenanceService(db),
		Components: postgres.NewComponentService(db), Secrets: km, Policy: policy.Default(), Site: "https://status.example.jp/", Mailer: mailer,
		Node: "n1", Lease: 2 * time.Minute, Batch: 200, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		n.Tick(ctx) // until it is killed
	}
}
