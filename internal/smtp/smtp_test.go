package smtp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper/internal/mailtest"
	"slokeeper/internal/smtp"
)

func mailer(tb testing.TB, srv *mailtest.Server, tweak func(*smtp.Config)) *smtp.Mailer {
	tb.Helper()
	cfg := smtp.Config{Addr: srv.Addr, Username: srv.Username, Password: srv.Password, From: "status@example.jp", FromName: "稼働状況",
		RootCAs: srv.CertPool(), Conns: 4}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := smtp.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

func noop() error { return nil }

// TestSend: a Japanese notice goes over STARTTLS with authentication and
// arrives whole, with the headers of an automatic message and RFC 8058's
// one-click unsubscribe.
func TestSend(t *testing.T) {
	srv := mailtest.Start(t)
	m := mailer(t, srv, nil)
	handed := 0
	err := m.Send(context.Background(), &smtp.Mail{To: "hanako@example.jp", Lang: "ja", Subject: "【メンテナンスのお知らせ】データベースの更新",
		Body: "いつもご利用いただき、誠にありがとうございます。\n■ 日時：2026年12月3日(木) 10:00 JST\n", MessageID: "a1.s1@status.example.jp",
		Date: time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC), Unsubscribe: "https://status.example.jp/unsubscribe?s=s1&t=tok"},
		func() error { handed++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || handed != 1 {
		t.Fatalf("%d messages, handed over %d times", len(msgs), handed)
	}
	g := msgs[0]
	for name, want := range map[string]string{
		"Auto-Submitted": "auto-generated", "List-Unsubscribe": "<https://status.example.jp/unsubscribe?s=s1&t=tok>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "Message-Id": "<a1.s1@status.example.jp>", "Content-Language": "ja",
	} {
		if got := g.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if !g.TLS || g.To != "hanako@example.jp" || g.From != "status@example.jp" || g.Subject != "【メンテナンスのお知らせ】データベースの更新" ||
		!strings.Contains(g.Body, "2026年12月3日(木) 10:00 JST") || !strings.Contains(g.Header.Get("Content-Type"), "UTF-8") {
		t.Errorf("message = %+v\n%s", g, g.Raw)
	}
}

// TestRefusals: a permanent refusal is permanent, a temporary one is not;
// the connection stays usable after either.
func TestRefusals(t *testing.T) {
	srv := mailtest.Start(t)
	srv.Refuse(func(to string) error {
		switch to {
		case "gone@example.jp":
			return mailtest.ErrNoSuchUser
		case "busy@example.jp":
			return mailtest.ErrTryLater
		}
		return nil
	})
	m := mailer(t, srv, func(c *smtp.Config) { c.Conns = 1 })
	send := func(to string) error {
		return m.Send(context.Background(), &smtp.Mail{To: to, Lang: "en", Subject: "x", Body: "x", MessageID: to, Date: time.Now()}, noop)
	}
	var se *smtp.Error
	if err := send("gone@example.jp"); !errors.As(err, &se) || !se.Permanent() {
		t.Errorf("an unknown user = %v, want a permanent refusal", err)
	}
	if err := send("busy@example.jp"); !errors.As(err, &se) || se.Permanent() {
		t.Errorf("try later = %v, want a temporary refusal", err)
	}
	if err := send("ok@example.jp"); err != nil {
		t.Fatal(err)
	}
	if srv.Count() != 1 {
		t.Errorf("%d messages, want 1", srv.Count())
	}
}

// TestHandedOver: handedOver comes once the whole message is with the
// server, never for a message the server refused before it.
func TestHandedOver(t *testing.T) {
	srv := mailtest.Start(t)
	srv.Refuse(func(to string) error {
		if to == "gone@example.jp" {
			return mailtest.ErrNoSuchUser
		}
		return nil
	})
	m := mailer(t, srv, nil)
	handed := map[string]int{}
	for _, to := range []string{"gone@example.jp", "ok@example.jp"} {
		m.Send(context.Background(), &smtp.Mail{To: to, Lang: "en", Subject: "x", Body: strings.Repeat("long line\n", 2000), MessageID: to, Date: time.Now()},
			func() error { handed[to]++; return nil })
	}
	if handed["gone@example.jp"] != 0 || handed["ok@example.jp"] != 1 {
		t.Errorf("handed over: %v", handed)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].To != "ok@example.jp" || !strings.Contains(msgs[0].Body, strings.Repeat("long line\n", 2000)) {
		t.Errorf("messages = %d, want ok@'s whole", len(msgs))
	}
}

// TestHandOverRefused: a sender that cannot record the handover (its
// lease is lost) stops before the final dot: the server keeps nothing,
// the error is handOver's and not ErrInDoubt, and the next message on the
// pool goes through.
func TestHandOverRefused(t *testing.T) {
	srv := mailtest.Start(t)
	m := mailer(t, srv, nil)
	lost := errors.New("the lease is lost")
	err := m.Send(context.Background(), &smtp.Mail{To: "a@example.jp", Lang: "en", Subject: "x", Body: "x", MessageID: "a", Date: time.Now()},
		func() error { return lost })
	if !errors.Is(err, lost) || errors.Is(err, smtp.ErrInDoubt) {
		t.Errorf("Send = %v; want the handover's error, not in doubt", err)
	}
	if err := m.Send(context.Background(), &smtp.Mail{To: "b@example.jp", Lang: "en", Subject: "x", Body: "x", MessageID: "b", Date: time.Now()}, noop); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].To != "b@example.jp" {
		t.Errorf("the server kept %d messages; want b's only", len(msgs))
	}
}

func TestBadConfig(t *testing.T) {
	srv := mailtest.Start(t)
	m := mailer(t, srv, func(c *smtp.Config) { c.Password = "wrong" })
	err := m.Send(context.Background(), &smtp.Mail{To: "a@example.jp", Subject: "x", Body: "x", MessageID: "x", Date: time.Now()}, noop)
	if err == nil || !strings.Contains(err.Error(), "sign-in as status") {
		t.Errorf("a wrong password = %v", err)
	}
	m = mailer(t, srv, func(c *smtp.Config) { c.RootCAs = nil })
	if err := m.Send(context.Background(), &smtp.Mail{To: "a@example.jp", Subject: "x", Body: "x", MessageID: "x", Date: time.Now()}, noop); err == nil ||
		!strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("an untrusted certificate = %v", err)
	}
	for raw, want := range map[string]string{
		"smtp://status@mail.example.jp?from=status@example.jp": "starttls://status@mail.example.jp:587",
		"smtps://mail.example.jp?from=a@example.jp":            "tls://mail.example.jp:465",
		"smtp+plain://127.0.0.1:2525?from=a@example.jp":        "none://127.0.0.1:2525",
	} {
		c, err := smtp.ParseURL(raw)
		if err != nil || c.Describe() != want {
			t.Errorf("ParseURL(%s) = %s, %v; want %s", raw, c.Describe(), err, want)
		}
	}
	for raw, want := range map[string]string{
		"smtp://u:secret@mail.example.jp": "SLOKEEPER_SMTP_PASSWORD",
		"smtp+plain://mail.example.jp":    "not a loopback address",
		"http://mail.example.jp":          "the scheme is smtp",
		"smtp://?from=a@example.jp":       "no host",
	} {
		if _, err := smtp.ParseURL(raw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%s) = %v, want %q", raw, err, want)
		}
	}
}

// BenchmarkSend measures handing messages to a local server over
// STARTTLS on kept-open connections, four at a time.
func BenchmarkSend(b *testing.B) {
	srv := mailtest.Start(b)
	m := mailer(b, srv, nil)
	body := strings.Repeat("いつもご利用いただき、誠にありがとうございます。\n", 20)
	b.ResetTimer()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range work {
				if err := m.Send(context.Background(), &smtp.Mail{To: fmt.Sprintf("u%d@example.jp", i), Lang: "ja", Subject: "【障害のお知らせ】", Body: body,
					MessageID: fmt.Sprint(i), Date: time.Now()}, noop); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range b.N {
		work <- i
	}
	close(work)
	wg.Wait()
}
