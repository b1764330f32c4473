package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/keys"
	"slokeeper/internal/mailtest"
	"slokeeper/internal/netguard"
	"slokeeper/internal/notify"
	"slokeeper/internal/smtp"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/webhook"
	"slokeeper/policy"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.now = t; c.mu.Unlock() }

type env struct {
	db       *sqlite.DB
	store    *sqlite.NotificationService
	maint    *sqlite.MaintenanceService
	inc      *sqlite.IncidentService
	evidence *sqlite.EvidenceService
	mail     *mailtest.Server
	clock    *clock
	n        *notify.Notifier
	cfg      notify.Config
}

func setup(tb testing.TB, tweak func(*notify.Config)) *env {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	ks, err := sqlite.OpenKeyStore(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ks.Close() })
	km, err := keys.Open(filepath.Join(dir, "master.key"), ks)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{db: db, store: sqlite.NewNotificationService(db), maint: sqlite.NewMaintenanceService(db), inc: sqlite.NewIncidentService(db),
		evidence: sqlite.NewEvidenceService(db), mail: mailtest.Start(tb), clock: &clock{now: time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)}}
	comps := sqlite.NewComponentService(db)
	for _, c := range []*slokeeper.Component{
		{ID: "runtime", NameJA: "クラウド実行環境", NameEN: "Cloud runtime", Probe: slokeeper.Probe{Kind: slokeeper.ProbeTCP, Target: "127.0.0.1:1"}},
		{ID: "editor", NameJA: "エディタ", NameEN: "Editor", Probe: slokeeper.Probe{Kind: slokeeper.ProbeTCP, Target: "127.0.0.1:1"}},
	} {
		if err := comps.PutComponent(ctx, c); err != nil {
			tb.Fatal(err)
		}
	}
	mailer, err := smtp.New(smtp.Config{Addr: e.mail.Addr, Username: e.mail.Username, Password: e.mail.Password, From: "status@example.jp", RootCAs: e.mail.CertPool()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { mailer.Close() })
	e.cfg = notify.Config{Store: e.store, Incidents: e.inc, Maintenance: e.maint, Components: comps, Evidence: e.evidence, Secrets: km,
		Policy: policy.Default(), Site: "https://status.example.jp/", Mailer: mailer, Clock: e.clock, Node: "n1", Logger: slog.New(slog.DiscardHandler),
		Journal: filepath.Join(dir, "handover.journal"), RecordFor: 200 * time.Millisecond}
	if tweak != nil {
		tweak(&e.cfg)
	}
	if e.n, err = notify.New(e.cfg); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.n.Close() })
	return e
}

func (e *env) tick(tb testing.TB) {
	tb.Helper()
	if err := e.n.Tick(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// link finds the link to path in a message body and splits it.
func link(tb testing.TB, body, path string) (id, token string) {
	tb.Helper()
	i := strings.Index(body, "https://status.example.jp"+path+"?")
	if i < 0 {
		tb.Fatalf("no %s link in:\n%s", path, body)
	}
	raw := strings.Fields(body[i:])[0]
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Query().Get("s"), u.Query().Get("t")
}

// subscribe subscribes an address through the double opt-in, as its
// owner would.
func (e *env) subscribe(tb testing.TB, address, lang string, components ...string) string {
	tb.Helper()
	ctx := context.Background()
	before := e.mail.Count()
	if err := e.n.Subscribe(ctx, address, lang, components); err != nil {
		tb.Fatal(err)
	}
	e.tick(tb)
	msgs := e.mail.Messages()
	if len(msgs) != before+1 {
		tb.Fatalf("%d confirmation mails for %s", len(msgs)-before, address)
	}
	id, token := link(tb, msgs[len(msgs)-1].Body, "/subscribe/confirm")
	if _, err := e.n.Confirm(ctx, id, token); err != nil {
		tb.Fatal(err)
	}
	return id
}

// TestMaintenanceNotices: a window scheduled eight days ahead is
// announced to each subscriber once, in their language; the reminder,
// start and end follow on the clock; then the evidence.
func TestMaintenanceNotices(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.subscribe(t, "hanako@example.jp", "ja")
	e.subscribe(t, "bob@example.com", "en", "editor")
	e.subscribe(t, "runtime-only@example.com", "en", "runtime")
	if msgs := e.mail.Messages(); !strings.Contains(msgs[0].Subject, "登録確認") || !strings.Contains(msgs[1].Subject, "Confirm your subscription") {
		t.Errorf("confirmation subjects: %q, %q", msgs[0].Subject, msgs[1].Subject)
	}
	confirmations := e.mail.Count()

	start := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC) // 10:00 JST
	m := &slokeeper.Maintenance{ID: "mt_1", Components: []string{"editor"}, TitleJA: "エディタの更新", TitleEN: "Editor upgrade",
		Start: start, End: start.Add(2 * time.Hour), CreatedAt: e.clock.Now()}
	if err := e.maint.CreateMaintenance(ctx, m); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	e.tick(t) // nothing more
	got := e.mail.Messages()[confirmations:]
	if len(got) != 2 {
		t.Fatalf("%d notices, want 2 (hanako: all, bob: editor)", len(got))
	}
	byTo := map[string]mailtest.Message{}
	for _, g := range got {
		byTo[g.To] = g
	}
	ja, en := byTo["hanako@example.jp"], byTo["bob@example.com"]
	if ja.Subject != "【メンテナンスのお知らせ】エディタの更新" || !strings.Contains(ja.Body, "2026年12月3日(木) 10:00 JST 〜 2026年12月3日(木) 12:00 JST") ||
		!strings.Contains(ja.Body, "■ 対象：エディタ") || !strings.Contains(ja.Body, "配信の停止: https://status.example.jp/unsubscribe?s=") {
		t.Errorf("the Japanese notice:\n%s\n%s", ja.Subject, ja.Body)
	}
	if en.Subject != "[Maintenance] Editor upgrade" || !strings.Contains(en.Body, "Thu 3 Dec 2026 10:00 JST") || en.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" ||
		en.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("the English notice:\n%s\n%s\n%v", en.Subject, en.Body, en.Header)
	}
	if ev, _, _ := e.evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "notice.maintenance.scheduled"}); len(ev) != 1 || ev[0].Outcome != slokeeper.OutcomeOK ||
		!ev[0].Deadline.Equal(start.AddDate(0, 0, -7)) || !strings.Contains(ev[0].Detail, "2 sent") {
		t.Errorf("evidence = %+v", ev)
	}

	// The reminder a day before, the start and the end, each once.
	steps := []struct {
		at      time.Time
		subject string
	}{
		{start.Add(-24 * time.Hour), "【リマインド】メンテナンスのお知らせ：エディタの更新"},
		{start, "【メンテナンス開始のお知らせ】エディタの更新"},
		{start.Add(2 * time.Hour), "【メンテナンス終了のお知らせ】エディタの更新"},
	}
	for _, s := range steps {
		e.clock.Add(s.at.Sub(e.clock.Now()) - time.Minute)
		before := e.mail.Count()
		e.tick(t)
		if e.mail.Count() != before {
			t.Fatalf("a minute before %s, %d notices went", s.subject, e.mail.Count()-before)
		}
		e.clock.Add(time.Minute)
		e.tick(t)
		e.clock.Add(time.Minute)
		e.tick(t)
		msgs := e.mail.Messages()[before:]
		if len(msgs) != 2 {
			t.Fatalf("%s: %d notices, want 2", s.subject, len(msgs))
		}
		for _, g := range msgs {
			if g.To == "hanako@example.jp" && g.Subject != s.subject {
				t.Errorf("subject %q, want %q", g.Subject, s.subject)
			}
		}
	}
	for _, g := range e.mail.Messages() {
		if g.To == "runtime-only@example.com" && !strings.Contains(g.Subject, "Confirm") {
			t.Errorf("the runtime subscriber got %q", g.Subject)
		}
	}
}

// TestRetriesAndRefusals: a temporary refusal is retried after the
// backoff, a permanent one is not; nothing is sent twice.
func TestRetriesAndRefusals(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.subscribe(t, "busy@example.jp", "ja")
	e.subscribe(t, "gone@example.jp", "ja")
	base := e.mail.Count()
	var refuse sync.Map
	refuse.Store("busy@example.jp", mailtest.ErrTryLater)
	refuse.Store("gone@example.jp", mailtest.ErrNoSuchUser)
	e.mail.Refuse(func(to string) error {
		if err, ok := refuse.Load(to); ok {
			return err.(error)
		}
		return nil
	})
	inc := &slokeeper.Incident{ID: "in_1", Components: []string{"runtime"}, TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMajor,
		DetectedAt: e.clock.Now(), OpenedAt: e.clock.Now()}
	if err := e.inc.OpenIncident(ctx, inc, &slokeeper.IncidentUpdate{At: e.clock.Now(), Status: slokeeper.IncidentInvestigating, BodyJA: "調査中です。", BodyEN: "Investigating."}, nil); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	if e.mail.Count() != base {
		t.Fatalf("sent %d despite the refusals", e.mail.Count()-base)
	}
	refuse.Delete("busy@example.jp")
	refuse.Delete("gone@example.jp")
	e.clock.Add(59 * time.Second)
	e.tick(t)
	if e.mail.Count() != base {
		t.Fatal("retried before the backoff")
	}
	e.clock.Add(time.Second)
	e.tick(t)
	e.clock.Add(time.Hour)
	e.tick(t)
	msgs := e.mail.Messages()[base:]
	if len(msgs) != 1 || msgs[0].To != "busy@example.jp" || msgs[0].Subject != "【障害のお知らせ】障害" {
		t.Fatalf("after the backoff: %+v; want one notice to busy@", msgs)
	}
	ev, _, _ := e.evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "notice.incident.opened"})
	if len(ev) != 1 || !strings.Contains(ev[0].Detail, "1 sent, 0 in doubt (handed over, no answer recorded; not sent again), 1 refused, 1 retried") ||
		!ev[0].Deadline.Equal(inc.DetectedAt.Add(30*time.Minute)) || ev[0].Outcome != slokeeper.OutcomeOK {
		t.Errorf("evidence = %+v", ev[0])
	}
}

// TestWebhook: a webhook subscriber gets a signed JSON notice with both
// languages, that a Standard Webhooks receiver verifies.
func TestWebhook(t *testing.T) {
	// The receiver is on loopback: allowed explicitly.
	allow, err := netguard.Parse("loopback", "webhook_allow_targets")
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, func(c *notify.Config) { c.Webhooks = &webhook.Sender{Targets: allow} })
	ctx := context.Background()
	var mu sync.Mutex
	var bodies []map[string]any
	var secret string
	var verr error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := webhook.Verify(secret, r.Header, body, e.clock.Now(), 5*time.Minute); err != nil {
			verr = err
		}
		var p map[string]any
		json.Unmarshal(body, &p)
		bodies = append(bodies, p)
	}))
	defer srv.Close()
	sub, s, err := e.n.AddWebhook(ctx, srv.URL+"/hook", "en", []string{"runtime"})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = s
	mu.Unlock()
	if !strings.HasPrefix(secret, "whsec_") || strings.Contains(string(sub.Secret), secret) {
		t.Errorf("secret %q, stored %q", secret, sub.Secret)
	}
	if _, _, err := e.n.AddWebhook(ctx, srv.URL, "en", []string{"ghost"}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("an unknown component = %v", err)
	}
	inc := &slokeeper.Incident{ID: "in_1", Components: []string{"runtime"}, TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMajor,
		DetectedAt: e.clock.Now(), OpenedAt: e.clock.Now()}
	if err := e.inc.OpenIncident(ctx, inc, &slokeeper.IncidentUpdate{At: e.clock.Now(), Status: slokeeper.IncidentInvestigating, BodyJA: "調査中です。", BodyEN: "Investigating."}, nil); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	mu.Lock()
	defer mu.Unlock()
	if verr != nil || len(bodies) != 1 {
		t.Fatalf("%d webhooks, verification: %v", len(bodies), verr)
	}
	text, _ := bodies[0]["text"].(map[string]any)
	ja, _ := text["ja"].(map[string]any)
	if bodies[0]["type"] != "incident.opened" || ja["subject"] != "【障害のお知らせ】障害" || bodies[0]["incident"] == nil {
		t.Errorf("payload = %v", bodies[0])
	}
}

// forge changes a token's first character.
func forge(token string) string {
	if token[0] == 'A' {
		return "B" + token[1:]
	}
	return "A" + token[1:]
}

// TestLinks: confirm and unsubscribe links work for their subscriber
// only; the form never tells whether an address is subscribed.
func TestLinks(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	id := e.subscribe(t, "hanako@example.jp", "ja")
	before := e.mail.Count()
	if err := e.n.Subscribe(ctx, "Hanako@example.jp", "en", nil); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	if e.mail.Count() != before {
		t.Error("subscribing a confirmed address again sent mail")
	}
	for _, bad := range []struct{ address, lang string }{{"not-an-address", "ja"}, {"a@example.jp", "fr"}} {
		if err := e.n.Subscribe(ctx, bad.address, bad.lang, nil); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
			t.Errorf("Subscribe(%v) = %v", bad, err)
		}
	}
	// An unsubscribe link from a notice.
	m := &slokeeper.Maintenance{ID: "mt_1", TitleJA: "更新", TitleEN: "Upgrade", Start: e.clock.Now().AddDate(0, 0, 8), End: e.clock.Now().AddDate(0, 0, 8).Add(time.Hour), CreatedAt: e.clock.Now()}
	if err := e.maint.CreateMaintenance(ctx, m); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	msgs := e.mail.Messages()
	sid, token := link(t, msgs[len(msgs)-1].Body, "/unsubscribe")
	if sid != id {
		t.Fatalf("the unsubscribe link is for %s, not %s", sid, id)
	}
	if _, err := e.n.Confirm(ctx, sid, token); slokeeper.ErrorCode(err) != slokeeper.EUNAUTHORIZED {
		t.Errorf("the unsubscribe token confirms: %v", err)
	}
	if _, err := e.n.Unsubscribe(ctx, sid, forge(token)); slokeeper.ErrorCode(err) != slokeeper.EUNAUTHORIZED {
		t.Errorf("a forged token = %v", err)
	}
	if _, err := e.n.Unsubscribe(ctx, sid, token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.n.Unsubscribe(ctx, sid, token); slokeeper.ErrorCode(err) != slokeeper.EUNAUTHORIZED {
		t.Errorf("unsubscribing twice = %v", err)
	}
	if subs, _ := e.store.FindSubscribers(ctx, slokeeper.SubscriberFilter{}); len(subs) != 0 {
		t.Errorf("after unsubscribing: %d subscribers", len(subs))
	}
}

// BenchmarkNotify10k: one notice to 10,000 e-mail subscribers, from the
// announcement to the last message handed to a local SMTP server (over
// STARTTLS), on SQLite.
func BenchmarkNotify10k(b *testing.B) {
	for range b.N {
		b.StopTimer()
		e := setup(b, func(c *notify.Config) { c.Workers = 8 })
		ctx := context.Background()
		for i := range 10000 {
			id := fmt.Sprintf("sub_%05d", i)
			secret, _ := e.cfg.Secrets.SealSystem(make([]byte, 32), []byte("subscriber:"+id))
			sub := &slokeeper.Subscriber{ID: id, Channel: slokeeper.ChannelEmail, Address: fmt.Sprintf("u%05d@example.jp", i),
				Lang: []string{"ja", "en"}[i%2], Secret: secret, CreatedAt: e.clock.Now(), ConfirmedAt: e.clock.Now()}
			if err := e.store.CreateSubscriber(ctx, sub); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		m := &slokeeper.Maintenance{ID: "mt_1", TitleJA: "更新", TitleEN: "Upgrade", Start: e.clock.Now().AddDate(0, 0, 8), End: e.clock.Now().AddDate(0, 0, 8).Add(time.Hour), CreatedAt: e.clock.Now()}
		if err := e.maint.CreateMaintenance(ctx, m); err != nil {
			b.Fatal(err)
		}
		if err := e.n.Tick(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if e.mail.Count() != 10000 {
			b.Fatalf("%d messages", e.mail.Count())
		}
	}
}

// refuse makes the SQLite store refuse a kind of write, as a database
// failing for the duration would, until it is called again with on false.
func (e *env) refuse(tb testing.TB, name, on string, active bool) {
	tb.Helper()
	q := `DROP TRIGGER ` + name
	if active {
		q = `CREATE TRIGGER ` + name + ` BEFORE ` + on + ` BEGIN SELECT RAISE(ABORT, 'store unavailable'); END`
	}
	if _, err := e.db.Writer().ExecContext(context.Background(), q); err != nil {
		tb.Fatal(err)
	}
}

// TestOutcomesAndEvidenceNeverLost: a delivery's outcome that cannot be
// written is kept and written by a later round, never sent again; an
// announcement whose evidence cannot be recorded is not done, and its
// evidence is recorded once the store is back. Never done without
// evidence, never a notice twice.
func TestOutcomesAndEvidenceNeverLost(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.subscribe(t, "ops@example.jp", "ja")
	base := e.mail.Count()
	inc := &slokeeper.Incident{ID: "in_1", Components: []string{"runtime"}, TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMajor,
		DetectedAt: e.clock.Now(), OpenedAt: e.clock.Now()}
	if err := e.inc.OpenIncident(ctx, inc, &slokeeper.IncidentUpdate{At: e.clock.Now(), Status: slokeeper.IncidentInvestigating, BodyJA: "調査中です。", BodyEN: "Investigating."}, nil); err != nil {
		t.Fatal(err)
	}
	notices := func() int {
		t.Helper()
		ev, _, err := e.evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "notice.incident.opened"})
		if err != nil {
			t.Fatal(err)
		}
		return len(ev)
	}

	e.refuse(t, "refuse_outcomes", "UPDATE OF state ON deliveries", true)
	e.refuse(t, "refuse_evidence", "INSERT ON evidence", true)
	e.n.Tick(ctx) // the notice goes; its outcome cannot be written
	if got := e.mail.Count() - base; got != 1 {
		t.Fatalf("%d notices sent, want 1", got)
	}
	e.refuse(t, "refuse_outcomes", "", false)
	e.clock.Add(10 * time.Minute) // the lease is long over
	if err := e.n.Tick(ctx); err == nil {
		t.Error("a round whose evidence could not be recorded reported no error")
	}
	if got := e.mail.Count() - base; got != 1 {
		t.Errorf("%d notices sent after the outcome could not be written, want 1 (never twice)", got)
	}
	if n := notices(); n != 0 {
		t.Fatalf("%d evidence recorded while the store refused it", n)
	}
	e.refuse(t, "refuse_evidence", "", false)
	e.clock.Add(time.Minute)
	e.tick(t)
	e.tick(t)
	if n := notices(); n != 1 {
		t.Errorf("%d evidence of the notice once the store is back, want 1", n)
	}
	if got := e.mail.Count() - base; got != 1 {
		t.Errorf("%d notices sent in all, want 1", got)
	}
}

// TestWebhookRefusedTarget: a webhook on loopback is refused when it is
// added (EINVALID, naming the reason) and, one that was stored all the
// same (added while loopback was allowed, or a name now resolving to
// it), when it is dialed: its delivery is recorded as failed with the
// reason, at once, and the receiver hears nothing.
func TestWebhookRefusedTarget(t *testing.T) {
	refuse, err := netguard.Parse("", "webhook_allow_targets") // the default: the public internet only
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, func(c *notify.Config) { c.Webhooks = &webhook.Sender{Targets: refuse} })
	ctx := context.Background()
	reached := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached <- struct{}{} }))
	defer srv.Close()
	if _, _, err := e.n.AddWebhook(ctx, srv.URL+"/hook", "en", nil); slokeeper.ErrorCode(err) != slokeeper.EINVALID ||
		!strings.Contains(slokeeper.ErrorMessage(err), "loopback") || !strings.Contains(slokeeper.ErrorMessage(err), "webhook_allow_targets") {
		t.Fatalf("adding a loopback webhook = %v", err)
	}
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]/", "http://localhost:8080/"} {
		if _, _, err := e.n.AddWebhook(ctx, u, "en", nil); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
			t.Errorf("adding %s = %v", u, err)
		}
	}
	// Stored by a notifier that allowed loopback.
	allow, err := netguard.Parse("loopback", "webhook_allow_targets")
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Webhooks, cfg.Journal = &webhook.Sender{Targets: allow}, filepath.Join(t.TempDir(), "other.journal")
	other, err := notify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, _, err := other.AddWebhook(ctx, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/hook", "en", nil); err != nil {
		t.Fatal(err)
	}
	inc := &slokeeper.Incident{ID: "in_1", Components: []string{"runtime"}, TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMajor,
		DetectedAt: e.clock.Now(), OpenedAt: e.clock.Now()}
	if err := e.inc.OpenIncident(ctx, inc, &slokeeper.IncidentUpdate{At: e.clock.Now(), Status: slokeeper.IncidentInvestigating, BodyJA: "調査中です。", BodyEN: "Investigating."}, nil); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	var state, reason string
	var attempts int
	if err := e.db.Writer().QueryRowContext(ctx, "SELECT state, attempts, error FROM deliveries WHERE announcement IS NOT NULL").Scan(&state, &attempts, &reason); err != nil {
		t.Fatal(err)
	}
	if state != slokeeper.DeliveryFailed || attempts != 1 || !strings.Contains(reason, "127.0.0.1") || !strings.Contains(reason, "loopback") {
		t.Errorf("delivery: %s after %d attempts, %q; want failed at once, saying why", state, attempts, reason)
	}
	if len(reached) != 0 {
		t.Errorf("the refused receiver was reached %d times", len(reached))
	}
}

// TestRecoverOldJournal: a node upgraded from a version that kept a local
// handover journal marks the e-mails it lists in doubt (never sent
// again), sends the rest of what it held, and removes the journal.
func TestRecoverOldJournal(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.subscribe(t, "a@example.jp", "ja")
	e.subscribe(t, "b@example.jp", "en")
	base := e.mail.Count()
	inc := &slokeeper.Incident{ID: "in_1", Components: []string{"runtime"}, TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMajor,
		DetectedAt: e.clock.Now(), OpenedAt: e.clock.Now()}
	if err := e.inc.OpenIncident(ctx, inc, &slokeeper.IncidentUpdate{At: e.clock.Now(), Status: slokeeper.IncidentInvestigating, BodyJA: "調査中です。", BodyEN: "Investigating."}, nil); err != nil {
		t.Fatal(err)
	}
	as, err := e.store.FindAnnouncements(ctx, slokeeper.AnnouncementFilter{NotFannedOut: true})
	if err != nil || len(as) != 1 {
		t.Fatal(as, err)
	}
	if _, err := e.store.FanOut(ctx, as[0].ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// The old process claimed both, handed the first over, and died.
	ds, err := e.store.ClaimDeliveries(ctx, "n1", e.clock.Now(), e.clock.Now().Add(2*time.Minute), 10)
	if err != nil || len(ds) != 2 {
		t.Fatal(ds, err)
	}
	if err := os.WriteFile(e.cfg.Journal, fmt.Appendf(nil, "%d\n", ds[0].ID), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.n.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.cfg.Journal); !os.IsNotExist(err) {
		t.Errorf("the old journal is still there: %v", err)
	}
	e.tick(t)
	if got := e.mail.Count() - base; got != 1 {
		t.Errorf("%d notices sent after the restart; want 1 (the one not handed over)", got)
	}
	c, _ := e.store.CountDeliveries(ctx, as[0].ID)
	if c[slokeeper.DeliveryInDoubt] != 1 || c[slokeeper.DeliverySent] != 1 {
		t.Errorf("deliveries = %v; want 1 in doubt, 1 sent", c)
	}
}
