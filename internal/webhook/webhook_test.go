package webhook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"slokeeper/internal/netguard"
	"slokeeper/internal/webhook"
)

// TestSignStandardVector: the example of the Standard Webhooks
// specification signs to the signature it publishes.
func TestSignStandardVector(t *testing.T) {
	sig, err := webhook.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil || sig != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Errorf("Sign = %q, %v", sig, err)
	}
	if _, err := webhook.Sign("not base64!", "x", time.Now(), nil); err == nil {
		t.Error("a malformed secret signed")
	}
}

// TestSend: a receiver verifies what Send posts; refusals are told
// apart into permanent and temporary.
func TestSend(t *testing.T) {
	secret := webhook.NewSecret()
	at := time.Now()
	status := http.StatusNoContent
	var got error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = webhook.Verify(secret, r.Header, body, at.Add(time.Minute), 5*time.Minute)
		if r.Header.Get("webhook-id") != "d42" || r.Header.Get("Content-Type") != "application/json" {
			got = errors.New("headers: " + r.Header.Get("webhook-id"))
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	// The receiver is on loopback: allowed explicitly.
	loopback, err := netguard.Parse("loopback", "webhook_allow_targets")
	if err != nil {
		t.Fatal(err)
	}
	s := webhook.Sender{Targets: loopback}
	if err := s.Send(context.Background(), srv.URL, secret, "d42", at, []byte(`{"type":"incident.opened"}`)); err != nil || got != nil {
		t.Fatalf("Send = %v; the receiver says %v", err, got)
	}
	if err := webhook.Verify(secret, http.Header{"Webhook-Id": {"d42"}, "Webhook-Timestamp": {"1"}, "Webhook-Signature": {"v1,x"}}, nil, at, time.Minute); err == nil ||
		!strings.Contains(err.Error(), "too far") {
		t.Errorf("an old timestamp = %v", err)
	}
	for code, permanent := range map[int]bool{http.StatusGone: true, http.StatusTooManyRequests: false, http.StatusBadGateway: false} {
		status = code
		var we *webhook.Error
		if err := s.Send(context.Background(), srv.URL, secret, "d42", at, []byte(`{}`)); !errors.As(err, &we) || we.Permanent() != permanent {
			t.Errorf("%d: %v, want permanent=%v", code, err, permanent)
		}
	}
	// Signed with another secret, the receiver refuses.
	status = http.StatusOK
	if err := s.Send(context.Background(), srv.URL, webhook.NewSecret(), "d42", at, []byte(`{}`)); err != nil || got == nil {
		t.Errorf("another secret: Send = %v, receiver = %v", err, got)
	}
}

// TestSendRefusesLoopback: by default a webhook to a loopback receiver
// (named by address or by a name that resolves to it) is refused at the
// dial, permanently, with the reason; allowed, it is delivered.
func TestSendRefusesLoopback(t *testing.T) {
	secret := webhook.NewSecret()
	delivered := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { delivered++ }))
	defer srv.Close()
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	var refusing webhook.Sender
	for _, url := range []string{srv.URL, byName} {
		err := refusing.Send(context.Background(), url, secret, "d1", time.Now(), []byte(`{}`))
		var re *netguard.RefusedError
		if !errors.As(err, &re) || !re.Permanent() || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: Send = %v, want refused as loopback", url, err)
		}
		if err := refusing.CheckURL(url); err == nil {
			t.Errorf("CheckURL(%s) passed", url)
		}
	}
	if delivered != 0 {
		t.Fatalf("%d refused webhooks reached the receiver", delivered)
	}
	for _, url := range []string{"http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]:80/", "https://10.0.0.1/"} {
		if err := refusing.CheckURL(url); err == nil {
			t.Errorf("CheckURL(%s) passed", url)
		}
	}
	if err := refusing.CheckURL("https://hooks.example.jp/status"); err != nil {
		t.Errorf("a public name: %v", err)
	}
	allow, err := netguard.Parse("loopback", "webhook_allow_targets")
	if err != nil {
		t.Fatal(err)
	}
	allowing := webhook.Sender{Targets: allow}
	if err := allowing.Send(context.Background(), byName, secret, "d1", time.Now(), []byte(`{}`)); err != nil || delivered != 1 {
		t.Fatalf("allowed: Send = %v, delivered %d", err, delivered)
	}
}
