package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/mailtest"
)

// withMail starts a real SMTP server (STARTTLS, AUTH) and points cfg at
// it, as an operator would: URL, CA file and the password in the
// environment's place.
func withMail(t *testing.T, cfg *Config) *mailtest.Server {
	t.Helper()
	srv := mailtest.Start(t)
	ca := filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(ca, srv.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.SMTP = "smtp://" + srv.Username + "@" + srv.Addr + "?from=status@example.jp&name=enebular"
	cfg.SMTPCA, cfg.SMTPPassword = ca, srv.Password
	return srv
}

// mailsTo returns the messages to an address.
func mailsTo(srv *mailtest.Server, to string) []mailtest.Message {
	var out []mailtest.Message
	for _, m := range srv.Messages() {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// waitMails waits until to has n messages and returns them.
func waitMails(t *testing.T, srv *mailtest.Server, to string, n int) []mailtest.Message {
	t.Helper()
	waitFor(t, "mail to "+to, func() bool { return len(mailsTo(srv, to)) >= n })
	return mailsTo(srv, to)
}

// linkIn returns the URL in a message body that starts with prefix.
func linkIn(t *testing.T, body, prefix string) string {
	t.Helper()
	i := strings.Index(body, prefix)
	if i < 0 {
		t.Fatalf("no link %s… in:\n%s", prefix, body)
	}
	return strings.Fields(body[i:])[0]
}

func postForm(t *testing.T, u string, form url.Values) response {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// subscribeByForm subscribes an address on the status page's form and
// confirms it from the mail, as a customer does.
func subscribeByForm(t *testing.T, m *Main, srv *mailtest.Server, address, lang string, components ...string) {
	t.Helper()
	form := url.Values{"email": {address}, "lang": {lang}, "component": components}
	if r := postForm(t, m.HTTP.URL()+"/subscribe?lang="+lang, form); r.status != 200 || !strings.Contains(r.body, map[string]string{"ja": "確認メールをお送りしました", "en": "Please check your inbox"}[lang]) {
		t.Fatalf("subscribe %s = %d %s", address, r.status, r.body)
	}
	confirm := waitMails(t, srv, address, 1)[0]
	link := linkIn(t, confirm.Body, m.HTTP.URL()+"/subscribe/confirm?")
	// Opening the link (as a mail scanner would) confirms nothing.
	if r := get(t, http.DefaultClient, link); r.status != 200 || !strings.Contains(r.body, `<form method="post"`) {
		t.Fatalf("the confirm page = %d %s", r.status, r.body)
	}
	if subs, _ := m.Store.Notices.FindSubscribers(context.Background(), slokeeper.SubscriberFilter{Address: address, Confirmed: true}); len(subs) != 0 {
		t.Fatal("opening the link confirmed the subscription")
	}
	if r := postForm(t, link, nil); r.status != 200 || !strings.Contains(r.body, map[string]string{"ja": "登録が完了しました", "en": "You are subscribed"}[lang]) {
		t.Fatalf("confirm = %d %s", r.status, r.body)
	}
}

// TestNotifications is the end-to-end test with a real SMTP
// server: subscribers in two languages opt in through the page; a window
// six days ahead is refused, one eight days ahead is announced to each
// of them once, in their language; the reminder, start and end follow on
// the injected clock, and the day's uptime leaves the window out; a
// probe's failure opens an incident whose notice goes within the bound;
// one click unsubscribes.
func TestNotifications(t *testing.T) {
	var failing atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
		}
	}))
	defer target.Close()
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.ProbeAllowTargets = "loopback" // the probed servers listen on loopback
	srv := withMail(t, &cfg)
	// Near the real now: the operator's session cookie expires by it.
	clock := newTestClock(time.Now().UTC().Truncate(time.Hour))
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx := context.Background()
	if err := m.Store.Components.PutComponent(ctx, &slokeeper.Component{ID: "runtime", NameJA: "クラウド実行環境", NameEN: "Cloud runtime",
		Interval: slokeeper.Duration(10 * time.Second), Failures: 2, Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: target.URL}}); err != nil {
		t.Fatal(err)
	}
	if page := get(t, http.DefaultClient, m.HTTP.URL()+"/?lang=ja").body; !strings.Contains(page, `action="/subscribe?lang=ja"`) || !strings.Contains(page, `value="runtime"`) {
		t.Fatal("the status page has no subscribe form")
	}
	subscribeByForm(t, m, srv, "hanako@example.jp", "ja")
	subscribeByForm(t, m, srv, "bob@example.com", "en", "runtime")
	if c := waitMails(t, srv, "bob@example.com", 1)[0]; !strings.Contains(c.Subject, "Confirm your subscription to enebular") {
		t.Errorf("the English confirmation: %q", c.Subject)
	}

	// Scheduling: six days ahead is refused, eight days ahead announced.
	ops := signIn(t, m, "ops", "operator")
	window := func(days int) string {
		start := clock.Now().Add(time.Duration(days) * 24 * time.Hour).Truncate(time.Hour)
		return `{"components":["runtime"],"title_ja":"クラウド実行環境の更新","title_en":"Cloud runtime upgrade","start":"` +
			start.Format(time.RFC3339) + `","end":"` + start.Add(2*time.Hour).Format(time.RFC3339) + `"}`
	}
	if r := postJSON(t, ops, m.HTTP.URL()+"/api/v1/maintenances", window(6)); r.status != 400 || !strings.Contains(r.body, "earliest start") {
		t.Fatalf("six days ahead = %d %s", r.status, r.body)
	}
	r := postJSON(t, ops, m.HTTP.URL()+"/api/v1/maintenances", window(8))
	if r.status != 201 {
		t.Fatalf("eight days ahead = %d %s", r.status, r.body)
	}
	var created struct{ Maintenance slokeeper.Maintenance }
	json.Unmarshal([]byte(r.body), &created)
	start, end := created.Maintenance.Start, created.Maintenance.End
	ja := waitMails(t, srv, "hanako@example.jp", 2)[1]
	en := waitMails(t, srv, "bob@example.com", 2)[1]
	if ja.Subject != "【メンテナンスのお知らせ】クラウド実行環境の更新" || !strings.Contains(ja.Body, "■ 対象：クラウド実行環境") || !strings.Contains(ja.Body, " JST 〜 ") {
		t.Errorf("the Japanese notice: %s\n%s", ja.Subject, ja.Body)
	}
	if en.Subject != "[Maintenance] Cloud runtime upgrade" || !strings.Contains(en.Body, "Affected: Cloud runtime") || en.Header.Get("Content-Language") != "en" {
		t.Errorf("the English notice: %s\n%s", en.Subject, en.Body)
	}
	waitFor(t, "the notice's evidence", func() bool {
		ev, _, _ := m.Store.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "notice.maintenance.scheduled"})
		return len(ev) == 1 && ev[0].Outcome == slokeeper.OutcomeOK && strings.Contains(ev[0].Detail, "2 sent")
	})

	// The reminder a day ahead, the start and the end, on the clock.
	steps := []struct {
		at     time.Time
		ja, en string
	}{
		{start.Add(-24 * time.Hour), "【リマインド】メンテナンスのお知らせ：クラウド実行環境の更新", "[Reminder] Maintenance: Cloud runtime upgrade"},
		{start, "【メンテナンス開始のお知らせ】クラウド実行環境の更新", "[Maintenance started] Cloud runtime upgrade"},
		{end, "【メンテナンス終了のお知らせ】クラウド実行環境の更新", "[Maintenance completed] Cloud runtime upgrade"},
	}
	for i, s := range steps {
		failing.Store(s.at.Equal(start)) // down during the window: not downtime, no incident
		clock.Add(s.at.Sub(clock.Now()))
		if g := waitMails(t, srv, "hanako@example.jp", 3+i)[2+i]; g.Subject != s.ja {
			t.Errorf("step %d, ja: %q, want %q", i, g.Subject, s.ja)
		}
		if g := waitMails(t, srv, "bob@example.com", 3+i)[2+i]; g.Subject != s.en {
			t.Errorf("step %d, en: %q, want %q", i, g.Subject, s.en)
		}
		if s.at.Equal(start) {
			clock.Add(10 * time.Second)
			waitFor(t, "failed checks in the window", func() bool {
				rs, _ := m.Store.Components.FindCheckResults(ctx, "runtime", start, end)
				n := 0
				for _, r := range rs {
					if !r.OK {
						n++
					}
				}
				return n >= 2
			})
		}
	}
	failing.Store(false)
	// The check at the window's end says the runtime is back; tallied
	// before it, the instant after the window would still count as down.
	waitFor(t, "the check at the window's end", func() bool {
		rs, _ := m.Store.Components.FindCheckResults(ctx, "runtime", end, end.Add(time.Second))
		return len(rs) > 0
	})
	if incs, _ := m.Store.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{}); len(incs) != 0 {
		t.Errorf("an incident was opened for a failure in the maintenance window: %+v", incs[0])
	}
	if err := m.Monitor.Tally(ctx, start); err != nil {
		t.Fatal(err)
	}
	v, err := m.Monitor.View(ctx, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range v.Components[0].Days {
		if d.Day == start.In(m.Policy.Location()).Format("2006-01-02") && (d.Down != 0 || d.Maintenance == 0) {
			t.Errorf("the window's day: %+v; the failure in the window is maintenance, not downtime", d)
		}
	}

	// An outage: the incident's notice goes within the policy's bound.
	checks := func(n int) {
		t.Helper()
		for range n {
			clock.Add(10 * time.Second)
			waitFor(t, "a check", func() bool {
				rs, _ := m.Store.Components.FindCheckResults(ctx, "runtime", clock.Now().Add(-time.Second), clock.Now().Add(time.Second))
				return len(rs) > 0
			})
		}
	}
	checks(2)
	failing.Store(true)
	checks(2)
	inc := waitMails(t, srv, "bob@example.com", 6)[5]
	if !strings.HasPrefix(inc.Subject, "[Incident] ") {
		t.Errorf("the incident notice: %q", inc.Subject)
	}
	if g := waitMails(t, srv, "hanako@example.jp", 6)[5]; !strings.HasPrefix(g.Subject, "【障害のお知らせ】") {
		t.Errorf("the Japanese incident notice: %q", g.Subject)
	}
	waitFor(t, "the incident notice's evidence", func() bool {
		ev, _, _ := m.Store.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "notice.incident.opened"})
		return len(ev) == 1 && ev[0].Outcome == slokeeper.OutcomeOK && !ev[0].Deadline.IsZero()
	})

	// One click unsubscribes (RFC 8058): no cookie, no origin, the token.
	unsubscribe := strings.Trim(inc.Header.Get("List-Unsubscribe"), "<>")
	req, _ := http.NewRequest("POST", unsubscribe, strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("one-click unsubscribe = %d", resp.StatusCode)
	}
	if r := postForm(t, unsubscribe, nil); r.status != 404 {
		t.Errorf("the link after unsubscribing = %d", r.status)
	}
	if subs, _ := m.Store.Notices.FindSubscribers(ctx, slokeeper.SubscriberFilter{}); len(subs) != 1 || subs[0].Address != "hanako@example.jp" {
		t.Errorf("subscribers after bob left: %+v", subs)
	}
	// Nobody got anything twice.
	seen := map[string]bool{}
	for _, g := range srv.Messages() {
		key := g.To + " " + g.Subject
		if seen[key] {
			t.Errorf("sent twice: %s", key)
		}
		seen[key] = true
	}
}

// TestNotifyKilled: serve runs as a real process and is killed with
// SIGKILL twice while it sends a notice to 300 subscribers: once between
// two messages (one begun, nothing of it handed over) and once with a
// message handed over whole while the server has not answered yet. After
// each restart every subscriber has the notice exactly once: the message
// begun is sent again, the one handed over is not.
func TestNotifyKilled(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := testConfig()
	cfg.Data = dir
	srv := withMail(t, &cfg)
	// One connection: the kills land at the moments they are meant to.
	cfg.SMTP += "&conns=1"

	// 300 confirmed subscribers, their secrets sealed by this directory's
	// master key; then a window announced from the command line.
	const subscribers = 300
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	km, closeKeys, err := openKeys(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range subscribers {
		id := fmt.Sprintf("sub_kill%03d", i)
		secret, err := km.SealSystem([]byte(strings.Repeat("k", 32)), []byte("subscriber:"+id))
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Notices.CreateSubscriber(ctx, &slokeeper.Subscriber{ID: id, Channel: slokeeper.ChannelEmail, Address: fmt.Sprintf("u%03d@example.jp", i),
			Lang: []string{"ja", "en"}[i%2], Secret: secret, CreatedAt: now, ConfirmedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	closeKeys()
	store.Close()
	start := now.Add(8 * 24 * time.Hour).Truncate(time.Minute)
	if out, stderr, code := cliRun(t, "maintenance", "schedule", "--data", dir, "--start", start.Format(time.RFC3339), "--end", start.Add(time.Hour).Format(time.RFC3339),
		"--title-ja", "データベースの更新", "--title-en", "Database upgrade"); code != 0 {
		t.Fatalf("schedule: %s%s", out, stderr)
	}

	var mu sync.Mutex
	var cmd *exec.Cmd
	serve := func() {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), "SLOKEEPER_TEST_RUN_MAIN=1", "SLOKEEPER_SMTP_PASSWORD="+cfg.SMTPPassword,
			"SLOKEEPER_TEST_ARGS=serve --data "+dir+" --listen 127.0.0.1:0 --node kill-test --smtp "+cfg.SMTP+" --smtp-ca "+cfg.SMTPCA)
		logf, err := os.OpenFile(filepath.Join(t.TempDir(), "serve.log"), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		c.Stderr = logf
		t.Cleanup(func() {
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("serve's log:\n%s", b)
			}
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill() }) // a failed test leaves no server behind
		mu.Lock()
		cmd = c
		mu.Unlock()
	}
	kill := func() {
		mu.Lock()
		defer mu.Unlock()
		cmd.Process.Kill() // SIGKILL
		cmd.Wait()
	}
	killed := make(chan string, 2)
	var kills atomic.Int32
	srv.Hook(mailtest.Hooks{
		// The 61st message begun, none of it sent yet.
		Mail: func(accepted int) {
			if accepted == 60 && kills.CompareAndSwap(0, 1) {
				kill()
				killed <- "between two messages"
			}
		},
		// The 181st message arrived whole, not answered yet: the node
		// recorded its handover in the database before the final dot.
		Data: func(accepted int, m mailtest.Message) {
			if accepted == 180 && kills.CompareAndSwap(1, 2) {
				kill()
				killed <- "with a message handed over, unanswered"
			}
		},
	})
	for range 2 {
		serve()
		select {
		case how := <-killed:
			t.Logf("killed %s, at %d messages", how, srv.Count())
		case <-time.After(time.Minute):
			t.Fatal("the kill never came")
		}
	}
	serve()
	waitFor(t, "every subscriber's notice", func() bool { return srv.Count() >= subscribers })
	store, err = OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	waitFor(t, "the delivery's evidence", func() bool {
		ev, _, _ := store.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "notice.maintenance.scheduled"})
		return len(ev) == 1
	})
	mu.Lock()
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	mu.Unlock()

	got := map[string]int{}
	for _, m := range srv.Messages() {
		got[m.To]++
	}
	for i := range subscribers {
		if n := got[fmt.Sprintf("u%03d@example.jp", i)]; n != 1 {
			t.Errorf("u%03d@example.jp got the notice %d times", i, n)
		}
	}
	ev, _, _ := store.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "notice.maintenance.scheduled"})
	// In doubt: handed over as a process died (answered or not), so
	// never sent again; at least the one of the second kill.
	c, err := store.Notices.CountDeliveries(ctx, 1)
	if err != nil || c[slokeeper.DeliveryInDoubt] < 1 || c[slokeeper.DeliverySent]+c[slokeeper.DeliveryInDoubt] != subscribers {
		t.Errorf("deliveries = %v, %v", c, err)
	}
	if d := ev[0].Detail; !strings.Contains(d, "notified 300 subscribers") || !strings.Contains(d, "0 refused") {
		t.Errorf("evidence = %s", d)
	}
	t.Logf("evidence: %s", ev[0].Detail)
}
