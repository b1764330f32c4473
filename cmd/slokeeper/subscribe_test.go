package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/httpserver"
)

// TestSubscribeLimits: the subscribe form cannot be used to flood a
// mailbox (one confirmation per address an hour, whatever is posted, with
// the same answer either way) nor to mail many addresses from one client
// (a per-client limit, 429 past it); staff see confirmed subscribers
// unless they ask for the pending ones; pending ones are forgotten after
// a day.
func TestSubscribeLimits(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	srv := withMail(t, &cfg)
	clock := newTestClock(time.Now().UTC().Truncate(time.Hour))
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx := context.Background()
	subscribe := func(address string) response {
		t.Helper()
		return postForm(t, m.HTTP.URL()+"/subscribe?lang=en", url.Values{"email": {address}, "lang": {"en"}})
	}
	const victim = "victim@example.com"
	// drain waits for two rounds of the notifier, one after the other
	// (the second's claim comes after the first's batch is recorded):
	// whatever was queued before has been sent and recorded.
	drain := func(markers ...string) {
		t.Helper()
		for _, marker := range markers {
			subscribe(marker)
			waitMails(t, srv, marker, 1)
		}
	}

	first := subscribe(victim)
	if first.status != 200 {
		t.Fatalf("subscribe = %d %s", first.status, first.body)
	}
	for i := range 3 {
		if r := subscribe(victim); r.status != 200 || r.body != first.body {
			t.Fatalf("subscribe again (%d) = %d; the page must be the same as the first:\n%s", i+2, r.status, r.body)
		}
	}
	waitMails(t, srv, victim, 1)
	drain("marker1@example.com") // from now on no confirmation to the victim is waiting
	for range 3 {
		if r := subscribe(victim); r.status != 200 || r.body != first.body {
			t.Fatalf("subscribe after the mail = %d %s", r.status, r.body)
		}
	}
	drain("marker2@example.com", "marker3@example.com") // 10 requests from this client in this hour

	// Staff see the confirmed ones by default, the pending on demand.
	staff := signIn(t, m, "olivia", "operator")
	listed := func(query string) []string {
		t.Helper()
		r := get(t, staff, m.HTTP.URL()+"/api/v1/subscribers"+query)
		var body struct{ Subscribers []*slokeeper.Subscriber }
		if err := json.Unmarshal([]byte(r.body), &body); r.status != 200 || err != nil {
			t.Fatalf("GET /api/v1/subscribers%s = %d %s", query, r.status, r.body)
		}
		var out []string
		for _, s := range body.Subscribers {
			out = append(out, s.Address)
		}
		return out
	}
	if got := listed(""); len(got) != 0 {
		t.Errorf("subscribers by default = %v; want none (the victim never confirmed)", got)
	}
	if got := listed("?state=pending"); len(got) != 4 || !slices.Contains(got, victim) {
		t.Errorf("pending subscribers = %v; want %s and 3 markers", got, victim)
	}
	if r := get(t, staff, m.HTTP.URL()+"/api/v1/subscribers?state=bogus"); r.status != 400 {
		t.Errorf("state=bogus = %d, want 400", r.status)
	}
	if page := get(t, staff, m.HTTP.URL()+"/admin/status?lang=en").body; strings.Contains(page, victim) {
		t.Error("the console lists a subscription nobody confirmed")
	}
	if page := get(t, staff, m.HTTP.URL()+"/admin/status?lang=en&subscribers=pending").body; !strings.Contains(page, victim) {
		t.Error("the console's pending list does not show the pending subscription")
	}

	// An hour later the address may be sent one more; the client's
	// window has moved on too, and it may ask for ten in an hour.
	clock.Add(61 * time.Minute)
	if r := subscribe(victim); r.status != 200 || r.body != first.body {
		t.Fatalf("subscribe an hour later = %d %s", r.status, r.body)
	}
	for i := range httpserver.DefaultSubscribeLimit - 1 {
		if r := subscribe(fmt.Sprintf("reader%d@example.com", i)); r.status != 200 {
			t.Fatalf("subscribe reader%d = %d %s", i, r.status, r.body)
		}
	}
	r := subscribe("one-too-many@example.com")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "Too many") {
		t.Errorf("the client's request past its limit = %d (Retry-After %q) %s; want 429", r.status, r.header.Get("Retry-After"), r.body)
	}
	if subs, _ := m.Store.Notices.FindSubscribers(ctx, slokeeper.SubscriberFilter{Address: "one-too-many@example.com"}); len(subs) != 0 {
		t.Error("a refused request stored a subscriber")
	}
	waitMails(t, srv, victim, 2)
	clock.Add(61 * time.Minute)
	drain("marker4@example.com", "marker5@example.com")
	if got := mailsTo(srv, victim); len(got) != 2 {
		t.Errorf("the victim got %d confirmations for 7 requests over 61 minutes; want 2", len(got))
	}

	// A day after their last confirmation, the notifier's periodic
	// pruning (on the injected clock) forgets pending subscriptions.
	clock.Add(slokeeper.PendingFor + time.Minute)
	waitFor(t, "pending subscriptions pruned", func() bool {
		subs, err := m.Store.Notices.FindSubscribers(ctx, slokeeper.SubscriberFilter{})
		return err == nil && len(subs) == 0
	})
}
