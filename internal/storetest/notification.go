package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
)

func mustSubscribe(tb testing.TB, s Store, id, channel, address, lang string, confirmed time.Time, components ...string) {
	tb.Helper()
	sub := &slokeeper.Subscriber{ID: id, Channel: channel, Address: address, Lang: lang, Components: components, Secret: []byte("sealed " + id),
		CreatedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), ConfirmedAt: confirmed}
	if err := s.Notices.CreateSubscriber(context.Background(), sub); err != nil {
		tb.Fatalf("CreateSubscriber(%s): %v", id, err)
	}
}

func kinds(as []*slokeeper.Announcement) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}

func testNotifications(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)

	// Events write their announcements themselves, in their transaction.
	inc := &slokeeper.Incident{ID: "in_1", Components: []string{"runtime"}, TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMajor,
		DetectedAt: at, OpenedAt: at, AutoComponent: "runtime"}
	first := &slokeeper.IncidentUpdate{At: at, Status: slokeeper.IncidentInvestigating, BodyJA: "調査中です。", BodyEN: "Investigating."}
	if err := s.Incidents.OpenIncident(ctx, inc, first, nil); err != nil {
		t.Fatal(err)
	}
	dup := *inc
	dup.ID = "in_2"
	if err := s.Incidents.OpenIncident(ctx, &dup, &slokeeper.IncidentUpdate{At: at, Status: slokeeper.IncidentInvestigating, BodyJA: "x", BodyEN: "x"}, nil); err == nil {
		t.Fatal("a second auto incident for runtime was opened")
	}
	resolved := &slokeeper.IncidentUpdate{Incident: "in_1", At: at.Add(time.Hour), Status: slokeeper.IncidentResolved, BodyJA: "復旧しました。", BodyEN: "Resolved."}
	if err := s.Incidents.AddIncidentUpdate(ctx, resolved); err != nil {
		t.Fatal(err)
	}
	m := &slokeeper.Maintenance{ID: "mt_1", Components: []string{"editor"}, TitleJA: "更新", TitleEN: "Upgrade", Start: at.AddDate(0, 0, 8), End: at.AddDate(0, 0, 8).Add(time.Hour), CreatedAt: at}
	if err := s.Maintenance.CreateMaintenance(ctx, m); err != nil {
		t.Fatal(err)
	}
	start, end := m.Start.Add(time.Hour), m.End.Add(time.Hour)
	if err := s.Maintenance.UpdateMaintenance(ctx, "mt_1", slokeeper.MaintenanceUpdate{Start: &start, End: &end, At: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	cancelled := at.Add(2 * time.Minute)
	if err := s.Maintenance.UpdateMaintenance(ctx, "mt_1", slokeeper.MaintenanceUpdate{CancelledAt: &cancelled, At: cancelled}); err != nil {
		t.Fatal(err)
	}
	as, err := s.Notices.FindAnnouncements(ctx, slokeeper.AnnouncementFilter{NotFannedOut: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{slokeeper.AnnounceIncidentOpened, slokeeper.AnnounceIncidentResolved, slokeeper.AnnounceMaintenanceScheduled,
		slokeeper.AnnounceMaintenanceRescheduled, slokeeper.AnnounceMaintenanceCancelled}
	if got := kinds(as); !slices.Equal(got, want) {
		t.Fatalf("announcements = %v, want %v", got, want)
	}
	if a := as[0]; a.Incident != "in_1" || a.Update != first.ID || !a.At.Equal(at) || !slices.Equal(a.Components, []string{"runtime"}) {
		t.Errorf("incident announcement = %+v", a)
	}
	if a := as[1]; a.Update != resolved.ID || !slices.Equal(a.Components, []string{"runtime"}) {
		t.Errorf("resolution announcement = %+v (update %d)", a, resolved.ID)
	}
	if a := as[3]; a.Maintenance != "mt_1" || !a.Start.Equal(start) || !a.End.Equal(end) || !a.At.Equal(at.Add(time.Minute)) || !slices.Equal(a.Components, []string{"editor"}) {
		t.Errorf("reschedule announcement = %+v", a)
	}
	if got, _ := s.Notices.FindAnnouncements(ctx, slokeeper.AnnouncementFilter{Maintenance: "mt_1"}); len(got) != 3 {
		t.Errorf("mt_1's announcements = %v", kinds(got))
	}

	// Time-driven announcements are made once per key.
	reminder := &slokeeper.Announcement{Kind: slokeeper.AnnounceMaintenanceReminder, At: at, Maintenance: "mt_1", Start: start, End: end, Key: "mt_1:reminder"}
	if ok, err := s.Notices.CreateAnnouncement(ctx, reminder); err != nil || !ok || reminder.ID == 0 {
		t.Fatalf("CreateAnnouncement = %v, %v", ok, err)
	}
	again := *reminder
	if ok, err := s.Notices.CreateAnnouncement(ctx, &again); err != nil || ok {
		t.Errorf("the same key again = %v, %v; want false", ok, err)
	}

	// Subscribers.
	mustSubscribe(t, s, "s_ja", slokeeper.ChannelEmail, "hanako@example.jp", "ja", at)
	mustSubscribe(t, s, "s_en", slokeeper.ChannelEmail, "Bob@Example.com", "en", at, "editor")
	mustSubscribe(t, s, "s_new", slokeeper.ChannelEmail, "new@example.com", "en", time.Time{}) // not confirmed
	mustSubscribe(t, s, "s_hook", slokeeper.ChannelWebhook, "https://hooks.example.com/slo", "en", at, "runtime")
	err = s.Notices.CreateSubscriber(ctx, &slokeeper.Subscriber{ID: "s_dup", Channel: slokeeper.ChannelEmail, Address: "hanako@example.jp", Lang: "ja", Secret: []byte("x"), CreatedAt: at})
	if slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("the same address again = %v, want ECONFLICT", err)
	}
	for _, bad := range []slokeeper.Subscriber{
		{ID: "b1", Channel: slokeeper.ChannelEmail, Address: "not an address", Lang: "ja"},
		{ID: "b2", Channel: slokeeper.ChannelEmail, Address: "a@example.com", Lang: "fr"},
		{ID: "b3", Channel: slokeeper.ChannelWebhook, Address: "ftp://example.com", Lang: "en"},
		{ID: "b4", Channel: "sms", Address: "+81", Lang: "ja"},
	} {
		if err := s.Notices.CreateSubscriber(ctx, &bad); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
			t.Errorf("CreateSubscriber(%+v) = %v, want EINVALID", bad, err)
		}
	}
	subs, err := s.Notices.FindSubscribers(ctx, slokeeper.SubscriberFilter{Confirmed: true})
	if err != nil || len(subs) != 3 {
		t.Fatalf("confirmed subscribers = %d, %v", len(subs), err)
	}
	if got, _ := s.Notices.FindSubscribers(ctx, slokeeper.SubscriberFilter{Address: "bob@example.com"}); len(got) != 1 || got[0].Lang != "en" ||
		!slices.Equal(got[0].Components, []string{"editor"}) || string(got[0].Secret) != "sealed s_en" || !got[0].ConfirmedAt.Equal(at) {
		t.Errorf("FindSubscribers(address) = %+v", got)
	}

	// Fan-out: confirmed subscribers the announcement concerns, once.
	n, err := s.Notices.FanOut(ctx, as[0].ID, at) // runtime
	if err != nil || n != 2 {
		t.Errorf("FanOut(runtime incident) = %d, %v; want s_ja and s_hook", n, err)
	}
	if n, err := s.Notices.FanOut(ctx, as[0].ID, at); err != nil || n != 0 {
		t.Errorf("FanOut again = %d, %v; want 0", n, err)
	}
	if n, err := s.Notices.FanOut(ctx, as[2].ID, at); err != nil || n != 2 { // editor: s_ja (all) and s_en
		t.Errorf("FanOut(editor window) = %d, %v", n, err)
	}
	if got, _ := s.Notices.FindAnnouncements(ctx, slokeeper.AnnouncementFilter{NotDone: true}); len(got) != 2 || !got[0].FannedOut {
		t.Errorf("fanned out, not done = %v", kinds(got))
	}
	if c, err := s.Notices.CountDeliveries(ctx, as[0].ID); err != nil || c[slokeeper.DeliveryPending] != 2 {
		t.Errorf("CountDeliveries = %v, %v", c, err)
	}

	// The unconfirmed subscriber's confirmation is due; one at a time.
	ds, err := s.Notices.ClaimDeliveries(ctx, "n1", at, at.Add(time.Minute), 100)
	if err != nil || len(ds) != 5 {
		t.Fatalf("claimed %d, %v; want 4 notices and a confirmation", len(ds), err)
	}
	var confirmation *slokeeper.Delivery
	for _, d := range ds {
		if d.Announcement == 0 {
			confirmation = d
		}
		if d.Attempts != 1 || d.State != slokeeper.DeliveryPending {
			t.Errorf("claimed %+v", d)
		}
	}
	if confirmation == nil || confirmation.Subscriber != "s_new" {
		t.Fatalf("no confirmation for s_new among %+v", ds)
	}
	if queued, err := s.Notices.ResendConfirmation(ctx, "s_new", at, at.Add(-slokeeper.ConfirmEvery)); err != nil || queued {
		t.Fatalf("ResendConfirmation with one waiting = %v, %v; want false", queued, err)
	}
	if err := s.Notices.UpdateDelivery(ctx, confirmation.ID, "n1", confirmation.Lease, slokeeper.DeliveryUpdate{State: slokeeper.DeliverySent, At: at}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Notices.ResendConfirmation(ctx, "s_new", at.Add(time.Hour), at); err != nil {
			t.Fatal(err)
		}
	}
	resent, _ := s.Notices.ClaimDeliveries(ctx, "n1", at.Add(time.Hour), at.Add(2*time.Hour), 100)
	confirmations := 0
	for _, d := range resent {
		if d.Announcement == 0 {
			confirmations++
		}
	}
	if confirmations != 1 {
		t.Errorf("after two resends, %d confirmations; want one", confirmations)
	}
	if err := s.Notices.ConfirmSubscriber(ctx, "s_new", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Notices.ConfirmSubscriber(ctx, "s_new", at.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Notices.FindSubscribers(ctx, slokeeper.SubscriberFilter{ID: "s_new"}); !got[0].ConfirmedAt.Equal(at.Add(time.Hour)) {
		t.Errorf("confirmed at %v; the first confirmation counts", got[0].ConfirmedAt)
	}
	if err := s.Notices.UpdateSubscriber(ctx, "s_new", "ja", []string{"runtime"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Notices.FindSubscribers(ctx, slokeeper.SubscriberFilter{ID: "s_new"}); got[0].Lang != "ja" || !slices.Equal(got[0].Components, []string{"runtime"}) {
		t.Errorf("after the update: %+v", got[0])
	}
	if err := s.Notices.ConfirmSubscriber(ctx, "ghost", at); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("confirming nobody = %v", err)
	}

	// Done: sent and failed, finished once, then pruned (by the claim
	// that holds them now: the first one's lease ended).
	for _, d := range resent {
		if d.Announcement != as[0].ID {
			continue
		}
		state := slokeeper.DeliverySent
		if d.Subscriber == "s_hook" {
			state = slokeeper.DeliveryFailed
		}
		if err := s.Notices.UpdateDelivery(ctx, d.ID, "n1", d.Lease, slokeeper.DeliveryUpdate{State: state, At: at, Error: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if c, _ := s.Notices.CountDeliveries(ctx, as[0].ID); c[slokeeper.DeliverySent] != 1 || c[slokeeper.DeliveryFailed] != 1 || c[slokeeper.DeliveryPending] != 0 {
		t.Errorf("counts = %v", c)
	}
	if ok, err := s.Notices.FinishAnnouncement(ctx, as[0].ID, at, doneEvidence(at)); err != nil || !ok {
		t.Errorf("FinishAnnouncement = %v, %v", ok, err)
	}
	if ok, _ := s.Notices.FinishAnnouncement(ctx, as[0].ID, at, doneEvidence(at)); ok {
		t.Error("finished twice")
	}
	if n, err := s.Notices.PruneDeliveries(ctx, at.Add(time.Second)); err != nil || n != 3 { // two notices, one confirmation
		t.Errorf("PruneDeliveries = %d, %v; want 3", n, err)
	}

	// Unsubscribing removes what was still to send.
	if err := s.Notices.DeleteSubscriber(ctx, "s_en"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Notices.CountDeliveries(ctx, as[2].ID); c[slokeeper.DeliveryPending] != 1 {
		t.Errorf("after s_en left, the window's deliveries = %v", c)
	}
	if err := s.Notices.DeleteSubscriber(ctx, "s_en"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("deleting twice = %v", err)
	}
}

// testSubscriberConfirmations: an address gets at most one confirmation
// per interval, even from concurrent requests; pending subscribers are
// listed apart and pruned once their last confirmation is old enough.
func testSubscriberConfirmations(t *testing.T, s Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) // mustSubscribe's creation time
	mustSubscribe(t, s, "s_wait", slokeeper.ChannelEmail, "victim@example.com", "ja", time.Time{})
	mustSubscribe(t, s, "s_ok", slokeeper.ChannelEmail, "reader@example.com", "ja", t0)
	mustSubscribe(t, s, "s_hook", slokeeper.ChannelWebhook, "https://hooks.example.com/slo", "en", t0)
	confirmations := func(now time.Time) int {
		t.Helper()
		ds, err := s.Notices.ClaimDeliveries(ctx, "n1", now, now.Add(time.Minute), 1000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range ds {
			if d.Announcement == 0 && d.Subscriber == "s_wait" {
				n++
			}
			if err := s.Notices.UpdateDelivery(ctx, d.ID, "n1", d.Lease, slokeeper.DeliveryUpdate{State: slokeeper.DeliverySent, At: now}); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	if n := confirmations(t0); n != 1 {
		t.Fatalf("confirmations on subscribing = %d, want 1", n)
	}

	t.Run("ErrTooSoon", func(t *testing.T) {
		now := t0.Add(59 * time.Minute)
		if queued, err := s.Notices.ResendConfirmation(ctx, "s_wait", now, now.Add(-slokeeper.ConfirmEvery)); err != nil || queued {
			t.Errorf("ResendConfirmation 59 min after the first = %v, %v; want false", queued, err)
		}
		if n := confirmations(now); n != 0 {
			t.Errorf("confirmations 59 min after the first = %d, want 0", n)
		}
	})
	t.Run("OneOfConcurrent", func(t *testing.T) {
		now := t0.Add(61 * time.Minute)
		var wg sync.WaitGroup
		var mu sync.Mutex
		queued := 0
		for range 12 {
			wg.Go(func() {
				ok, err := s.Notices.ResendConfirmation(ctx, "s_wait", now, now.Add(-slokeeper.ConfirmEvery))
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					queued++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if n := confirmations(now); queued != 1 || n != 1 {
			t.Errorf("12 concurrent resends an hour later: %d queued, %d confirmations; want 1 and 1", queued, n)
		}
	})
	t.Run("Filters", func(t *testing.T) {
		got, err := s.Notices.FindSubscribers(ctx, slokeeper.SubscriberFilter{Pending: true})
		if err != nil || len(got) != 1 || got[0].ID != "s_wait" {
			t.Errorf("FindSubscribers(pending) = %v, %v; want s_wait", got, err)
		}
		got, err = s.Notices.FindSubscribers(ctx, slokeeper.SubscriberFilter{Confirmed: true})
		if err != nil || len(got) != 2 {
			t.Errorf("FindSubscribers(confirmed) = %d, %v; want s_ok and s_hook", len(got), err)
		}
	})
	t.Run("Prune", func(t *testing.T) {
		last := t0.Add(61 * time.Minute) // the resend above
		if n, err := s.Notices.PruneUnconfirmed(ctx, last); err != nil || n != 0 {
			t.Errorf("PruneUnconfirmed(at the last confirmation) = %d, %v; want 0", n, err)
		}
		if n, err := s.Notices.PruneUnconfirmed(ctx, last.Add(time.Second)); err != nil || n != 1 {
			t.Errorf("PruneUnconfirmed(after it) = %d, %v; want 1", n, err)
		}
		got, _ := s.Notices.FindSubscribers(ctx, slokeeper.SubscriberFilter{})
		if len(got) != 2 || got[0].ID == "s_wait" || got[1].ID == "s_wait" {
			t.Errorf("after pruning: %v; want s_ok and s_hook", got)
		}
	})
}

// testDeliveryClaims: leases are exclusive under concurrency, end by
// themselves, and a restarted node gives back its own; only the holder
// records an outcome; an in-doubt delivery is never claimed again.
func testDeliveryClaims(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	const subscribers = 60
	for i := range subscribers {
		mustSubscribe(t, s, fmt.Sprintf("s%02d", i), slokeeper.ChannelEmail, fmt.Sprintf("u%02d@example.com", i), "ja", at)
	}
	a := &slokeeper.Announcement{Kind: slokeeper.AnnounceMaintenanceStarted, At: at, Maintenance: "mt_x", Key: "mt_x:start"}
	if _, err := s.Notices.CreateAnnouncement(ctx, a); err != nil {
		t.Fatal(err)
	}
	// Two nodes fan out at once: one does it.
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i := range counts {
		wg.Go(func() {
			n, err := s.Notices.FanOut(ctx, a.ID, at)
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		})
	}
	wg.Wait()
	if counts[0]+counts[1] != subscribers || (counts[0] != 0 && counts[1] != 0) {
		t.Fatalf("fan-outs made %v deliveries; want %d once", counts, subscribers)
	}

	// Three nodes claim concurrently: each delivery goes to one.
	var mu sync.Mutex
	holder := map[int64]string{}
	gen := map[int64]int64{}
	for _, node := range []string{"n1", "n2", "n3"} {
		wg.Go(func() {
			for {
				ds, err := s.Notices.ClaimDeliveries(ctx, node, at, at.Add(time.Minute), 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					if h, ok := holder[d.ID]; ok {
						t.Errorf("delivery %d claimed by %s and %s", d.ID, h, node)
					}
					holder[d.ID], gen[d.ID] = node, d.Lease
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(holder) != subscribers {
		t.Fatalf("claimed %d deliveries, want %d", len(holder), subscribers)
	}
	var n1 []int64
	for id, h := range holder {
		if h == "n1" {
			n1 = append(n1, id)
		}
	}
	if len(n1) < 2 {
		t.Skipf("n1 claimed %d; the rest needs two", len(n1))
	}
	// Only the holder records an outcome.
	if err := s.Notices.UpdateDelivery(ctx, n1[0], "n2", gen[n1[0]], slokeeper.DeliveryUpdate{State: slokeeper.DeliverySent, At: at}); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("another node's delivery = %v, want ECONFLICT", err)
	}
	// n1 had handed n1[0] over up to its last byte when it stopped.
	if err := s.Notices.UpdateDelivery(ctx, n1[0], "n1", gen[n1[0]], slokeeper.DeliveryUpdate{State: slokeeper.DeliveryInDoubt, At: at}); err != nil {
		t.Fatal(err)
	}
	// Nothing is claimable while leases last.
	if ds, _ := s.Notices.ClaimDeliveries(ctx, "n2", at.Add(30*time.Second), at.Add(2*time.Minute), 100); len(ds) != 0 {
		t.Errorf("claimed %d under live leases", len(ds))
	}
	// n1 restarts: its pending claims are free again, the in-doubt one is not.
	if n, doubt, err := s.Notices.ReleaseDeliveries(ctx, "n1", nil, at); err != nil || n != len(n1)-1 || doubt != 0 {
		t.Errorf("ReleaseDeliveries(n1) = %d, %d, %v; want %d, 0", n, doubt, err, len(n1)-1)
	}
	ds, err := s.Notices.ClaimDeliveries(ctx, "n1", at.Add(30*time.Second), at.Add(2*time.Minute), 100)
	if err != nil || len(ds) != len(n1)-1 {
		t.Errorf("after the restart n1 claims %d, %v; want %d", len(ds), err, len(n1)-1)
	}
	for _, d := range ds {
		if d.ID == n1[0] {
			t.Error("the in-doubt delivery was claimed again")
		}
		if d.Attempts != 1 {
			t.Errorf("delivery %d: attempts %d; the released claim is given back", d.ID, d.Attempts)
		}
		if err := s.Notices.UpdateDelivery(ctx, d.ID, "n1", d.Lease, slokeeper.DeliveryUpdate{State: slokeeper.DeliverySent, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	// Leases of a node that never comes back end by themselves.
	ds, err = s.Notices.ClaimDeliveries(ctx, "n2", at.Add(61*time.Second), at.Add(3*time.Minute), 100)
	if err != nil || len(ds) != subscribers-len(n1) {
		t.Fatalf("after the leases ended, n2 claims %d, %v; want %d", len(ds), err, subscribers-len(n1))
	}
	// A delivery put back for later is not due before then.
	later := ds[0]
	for _, d := range ds[1:] {
		if err := s.Notices.UpdateDelivery(ctx, d.ID, "n2", d.Lease, slokeeper.DeliveryUpdate{State: slokeeper.DeliverySent, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Notices.UpdateDelivery(ctx, later.ID, "n2", later.Lease, slokeeper.DeliveryUpdate{State: slokeeper.DeliveryPending, NextAt: at.Add(10 * time.Minute), Error: "451 try later"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Notices.UpdateDelivery(ctx, later.ID, "n2", later.Lease, slokeeper.DeliveryUpdate{State: slokeeper.DeliveryInDoubt, At: at}); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("a delivery put back is still held: %v", err)
	}
	if ds, _ := s.Notices.ClaimDeliveries(ctx, "n3", at.Add(9*time.Minute), at.Add(10*time.Minute), 100); len(ds) != 0 {
		t.Errorf("claimed %d before their time", len(ds))
	}
	if ds, _ := s.Notices.ClaimDeliveries(ctx, "n3", at.Add(10*time.Minute), at.Add(11*time.Minute), 100); len(ds) != 1 || ds[0].ID != later.ID || ds[0].Attempts != later.Attempts+1 || ds[0].Error != "451 try later" {
		t.Errorf("at its time: %d %+v; want %+v", len(ds), ds[0], later)
	}
	if c, _ := s.Notices.CountDeliveries(ctx, a.ID); c[slokeeper.DeliverySent] != subscribers-2 || c[slokeeper.DeliveryInDoubt] != 1 {
		t.Errorf("counts = %v", c)
	}
}

// doneEvidence is evidence an announcement's end records.
func doneEvidence(at time.Time) *slokeeper.Evidence {
	return &slokeeper.Evidence{At: at, Clause: "incidents", Action: "notice.incident.opened", Subject: "incident:in_1", Outcome: slokeeper.OutcomeOK, Node: "n1"}
}

// testEvidenceInTransaction: the evidence an action owes goes in the
// action's transaction. While the evidence store refuses inserts, an
// incident is not opened and an announcement not finished; once it is
// back, both are, with their evidence, once.
func testEvidenceInTransaction(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	evidence := func() int {
		t.Helper()
		_, n, err := s.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	refuse := func(on bool) {
		t.Helper()
		if err := s.RefuseEvidence(ctx, on); err != nil {
			t.Fatal(err)
		}
	}
	inc := &slokeeper.Incident{ID: "in_1", Components: []string{"runtime"}, TitleJA: "障害", TitleEN: "Outage", Impact: slokeeper.ImpactMajor,
		DetectedAt: at, OpenedAt: at, AutoComponent: "runtime"}
	first := &slokeeper.IncidentUpdate{At: at, Status: slokeeper.IncidentInvestigating, BodyJA: "調査中です。", BodyEN: "Investigating.", By: "system:n1"}
	notice := slokeeper.NoticeEvidence(inc, at, at.Add(30*time.Minute), "n1")

	refuse(true)
	if err := s.Incidents.OpenIncident(ctx, inc, first, notice); err == nil {
		t.Error("OpenIncident succeeded though the evidence of its notice was refused")
	}
	if open, err := s.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Open: true}); err != nil || len(open) != 0 {
		t.Errorf("open incidents after a refused notice = %d, %v; want none", len(open), err)
	}
	if as, err := s.Notices.FindAnnouncements(ctx, slokeeper.AnnouncementFilter{}); err != nil || len(as) != 0 {
		t.Errorf("announcements after a refused notice = %d, %v; want none", len(as), err)
	}
	refuse(false)
	if err := s.Incidents.OpenIncident(ctx, inc, first, notice); err != nil {
		t.Fatal(err)
	}
	if n := evidence(); n != 1 || notice.ID == 0 {
		t.Errorf("evidence after opening = %d (ID %d), want 1", n, notice.ID)
	}

	as, err := s.Notices.FindAnnouncements(ctx, slokeeper.AnnouncementFilter{NotFannedOut: true})
	if err != nil || len(as) != 1 {
		t.Fatalf("announcements = %v, %v", as, err)
	}
	if _, err := s.Notices.FanOut(ctx, as[0].ID, at); err != nil {
		t.Fatal(err)
	}
	refuse(true)
	if ok, err := s.Notices.FinishAnnouncement(ctx, as[0].ID, at, doneEvidence(at)); err == nil || ok {
		t.Errorf("FinishAnnouncement with its evidence refused = %v, %v; want an error", ok, err)
	}
	if left, err := s.Notices.FindAnnouncements(ctx, slokeeper.AnnouncementFilter{NotDone: true}); err != nil || len(left) != 1 {
		t.Errorf("not done after a refused evidence = %d, %v; want 1", len(left), err)
	}
	refuse(false)
	if ok, err := s.Notices.FinishAnnouncement(ctx, as[0].ID, at, doneEvidence(at)); err != nil || !ok {
		t.Errorf("FinishAnnouncement = %v, %v", ok, err)
	}
	if ok, err := s.Notices.FinishAnnouncement(ctx, as[0].ID, at, doneEvidence(at)); err != nil || ok {
		t.Errorf("FinishAnnouncement again = %v, %v; want false", ok, err)
	}
	if n := evidence(); n != 2 {
		t.Errorf("evidence in all = %d, want 2 (the notice, the announcement's end once)", n)
	}
	for subject, want := range map[string]int{"incident:in_1": 2, "incident:in_9": 0} {
		if _, n, err := s.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Subject: subject}); err != nil || n != want {
			t.Errorf("evidence of %s = %d, %v; want %d", subject, n, err, want)
		}
	}
}

// testDeliveryFencing: a claim has a generation; only its holder, under
// it and while it lasts, renews, hands over and records outcomes. An
// e-mail handed over under a lease that ended is in doubt for whoever
// claims next (never claimed again), and its first holder's late true
// outcome still lands; a webhook handed over is claimed again.
func testDeliveryFencing(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	mustSubscribe(t, s, "s_a", slokeeper.ChannelEmail, "a@example.com", "ja", at)
	mustSubscribe(t, s, "s_b", slokeeper.ChannelEmail, "b@example.com", "en", at)
	mustSubscribe(t, s, "s_c", slokeeper.ChannelEmail, "c@example.com", "en", at)
	mustSubscribe(t, s, "s_hook", slokeeper.ChannelWebhook, "https://hooks.example.com/x", "en", at)
	a := &slokeeper.Announcement{Kind: slokeeper.AnnounceMaintenanceStarted, At: at, Maintenance: "mt_f", Key: "mt_f:start"}
	if _, err := s.Notices.CreateAnnouncement(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Notices.FanOut(ctx, a.ID, at); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Notices.ClaimDeliveries(ctx, "n1", at, at.Add(2*time.Minute), 10)
	if err != nil || len(ds) != 4 {
		t.Fatalf("claim = %d, %v; want 4", len(ds), err)
	}
	by := map[string]*slokeeper.Delivery{}
	g1 := ds[0].Lease
	for _, d := range ds {
		by[d.Subscriber] = d
		if d.Lease != g1 || g1 <= 0 || d.Node != "n1" || !d.LeaseUntil.Equal(at.Add(2*time.Minute)) || !d.HandoverAt.IsZero() {
			t.Errorf("claimed %+v; want n1's lease %d until %s", d, g1, at.Add(2*time.Minute))
		}
	}
	da, db, dc, dh := by["s_a"], by["s_b"], by["s_c"], by["s_hook"]

	// A live lease is renewed; a slow sender keeps its rows.
	ids, err := s.Notices.RenewLease(ctx, "n1", g1, at.Add(time.Minute), at.Add(3*time.Minute))
	if err != nil || len(ids) != 4 {
		t.Fatalf("renew = %v, %v; want 4 IDs", ids, err)
	}
	if got, _ := s.Notices.ClaimDeliveries(ctx, "n2", at.Add(2*time.Minute+time.Second), at.Add(4*time.Minute), 10); len(got) != 0 {
		t.Fatalf("n2 claimed %d under a renewed lease", len(got))
	}
	// Only the holder hands over, under its generation.
	if err := s.Notices.HandOver(ctx, da.ID, "n2", g1, at.Add(time.Minute), at.Add(3*time.Minute)); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("hand over by another node = %v, want ECONFLICT", err)
	}
	if err := s.Notices.HandOver(ctx, da.ID, "n1", g1+1000, at.Add(time.Minute), at.Add(3*time.Minute)); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("hand over under another generation = %v, want ECONFLICT", err)
	}
	for _, d := range []*slokeeper.Delivery{da, dh} {
		if err := s.Notices.HandOver(ctx, d.ID, "n1", g1, at.Add(time.Minute), at.Add(3*time.Minute)); err != nil {
			t.Fatalf("hand over %d: %v", d.ID, err)
		}
	}
	// n1 is silent past its lease: it can neither renew nor hand over.
	late := at.Add(3*time.Minute + time.Second)
	if ids, err := s.Notices.RenewLease(ctx, "n1", g1, late, late.Add(2*time.Minute)); err != nil || len(ids) != 0 {
		t.Errorf("renewing a lapsed lease = %v, %v; want none", ids, err)
	}
	if err := s.Notices.HandOver(ctx, db.ID, "n1", g1, late, late.Add(2*time.Minute)); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("hand over under a lapsed lease = %v, want ECONFLICT", err)
	}
	// n2 claims: b, c and the webhook, under a newer generation; a is in doubt.
	ds, err = s.Notices.ClaimDeliveries(ctx, "n2", late, late.Add(2*time.Minute), 10)
	if err != nil || len(ds) != 3 {
		t.Fatalf("n2 claims %d, %v; want 3", len(ds), err)
	}
	g2 := ds[0].Lease
	for _, d := range ds {
		if d.Subscriber == "s_a" {
			t.Error("the e-mail handed over was claimed again")
		}
		if d.Lease != g2 || g2 <= g1 || d.Attempts != 2 || !d.HandoverAt.IsZero() {
			t.Errorf("reclaimed %+v; want lease %d > %d, attempt 2, no handover", d, g2, g1)
		}
	}
	doubt, err := s.Notices.FindDeliveries(ctx, slokeeper.DeliveryFilter{Announcement: a.ID, State: slokeeper.DeliveryInDoubt})
	if err != nil || len(doubt) != 1 {
		t.Fatalf("in doubt: %d, %v; want 1", len(doubt), err)
	}
	if d := doubt[0]; d.ID != da.ID || d.Node != "n1" || d.Lease != g1 || !d.SentAt.Equal(at.Add(time.Minute)) || !d.HandoverAt.Equal(at.Add(time.Minute)) ||
		!strings.Contains(d.Error, "n1") {
		t.Errorf("in doubt: %+v; want a's handover by n1 (lease %d) at %s", d, g1, at.Add(time.Minute))
	}
	// n1's outcomes: fenced for b (n2 holds it now), landing for a (its
	// own handover: the true outcome replaces the doubt).
	if err := s.Notices.UpdateDelivery(ctx, db.ID, "n1", g1, slokeeper.DeliveryUpdate{State: slokeeper.DeliverySent, At: late}); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("stale holder's outcome = %v, want ECONFLICT", err)
	}
	if err := s.Notices.UpdateDelivery(ctx, da.ID, "n1", g1, slokeeper.DeliveryUpdate{State: slokeeper.DeliverySent, At: late}); err != nil {
		t.Errorf("the handing-over holder's late outcome: %v", err)
	}
	if err := s.Notices.UpdateDelivery(ctx, db.ID, "n2", g2, slokeeper.DeliveryUpdate{State: slokeeper.DeliverySent, At: late}); err != nil {
		t.Fatal(err)
	}
	if err := s.Notices.UpdateDelivery(ctx, dh.ID, "n2", g2, slokeeper.DeliveryUpdate{State: slokeeper.DeliveryPending, NextAt: late.Add(time.Hour), Error: "503"}); err != nil {
		t.Fatal(err)
	}
	// n2 restarts after handing c over: c is in doubt, not freed.
	if err := s.Notices.HandOver(ctx, dc.ID, "n2", g2, late, late.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if freed, inDoubt, err := s.Notices.ReleaseDeliveries(ctx, "n2", nil, late); err != nil || freed != 0 || inDoubt != 1 {
		t.Errorf("release = %d freed, %d in doubt, %v; want 0, 1", freed, inDoubt, err)
	}
	// Its previous process is dead: no outcome can come, nobody holds it.
	if err := s.Notices.UpdateDelivery(ctx, dc.ID, "n2", g2, slokeeper.DeliveryUpdate{State: slokeeper.DeliverySent, At: late}); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("an outcome for a delivery released in doubt = %v, want ECONFLICT", err)
	}
	if got, _ := s.Notices.FindDeliveries(ctx, slokeeper.DeliveryFilter{Announcement: a.ID, State: slokeeper.DeliveryInDoubt}); len(got) != 1 || got[0].ID != dc.ID || got[0].Node != "" || !got[0].HandoverAt.Equal(late) {
		t.Errorf("in doubt after the release: %+v; want c, held by nobody, handed over at %s", got, late)
	}
	c, err := s.Notices.CountDeliveries(ctx, a.ID)
	if err != nil || c[slokeeper.DeliverySent] != 2 || c[slokeeper.DeliveryInDoubt] != 1 || c[slokeeper.DeliveryPending] != 1 || c[slokeeper.DeliveryRetried] != 3 {
		t.Errorf("counts = %v, %v; want 2 sent, 1 in doubt, 1 pending, 3 retried", c, err)
	}
}

// testHandOverRace: a holder whose lease is about to end hands over while
// another node, whose clock says it has ended, claims. For every delivery
// exactly one of them wins: the handover (and the delivery is in doubt,
// not claimed) or the claim (and the handover is refused).
func testHandOverRace(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	const subscribers = 40
	for i := range subscribers {
		mustSubscribe(t, s, fmt.Sprintf("r%02d", i), slokeeper.ChannelEmail, fmt.Sprintf("r%02d@example.com", i), "ja", at)
	}
	a := &slokeeper.Announcement{Kind: slokeeper.AnnounceMaintenanceStarted, At: at, Maintenance: "mt_r", Key: "mt_r:start"}
	if _, err := s.Notices.CreateAnnouncement(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Notices.FanOut(ctx, a.ID, at); err != nil {
		t.Fatal(err)
	}
	until := at.Add(2 * time.Minute)
	ds, err := s.Notices.ClaimDeliveries(ctx, "n1", at, until, subscribers)
	if err != nil || len(ds) != subscribers {
		t.Fatalf("claim = %d, %v", len(ds), err)
	}
	var mu sync.Mutex
	handed := map[int64]bool{}
	claimed := map[int64]bool{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, d := range ds {
			err := s.Notices.HandOver(ctx, d.ID, "n1", d.Lease, until.Add(-time.Millisecond), until)
			if err != nil && slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
				t.Error(err)
			}
			mu.Lock()
			handed[d.ID] = err == nil
			mu.Unlock()
		}
	})
	wg.Go(func() {
		for range subscribers {
			got, err := s.Notices.ClaimDeliveries(ctx, "n2", until.Add(time.Millisecond), until.Add(2*time.Minute), 1)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, d := range got {
				claimed[d.ID] = true
			}
			mu.Unlock()
		}
	})
	wg.Wait()
	// What n2 left unclaimed meanwhile, it claims now.
	rest, err := s.Notices.ClaimDeliveries(ctx, "n2", until.Add(time.Millisecond), until.Add(2*time.Minute), subscribers)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rest {
		claimed[d.ID] = true
	}
	for _, d := range ds {
		if handed[d.ID] == claimed[d.ID] {
			t.Errorf("delivery %d: handed over %v, claimed again %v; want exactly one", d.ID, handed[d.ID], claimed[d.ID])
		}
	}
	c, _ := s.Notices.CountDeliveries(ctx, a.ID)
	nHanded := 0
	for _, ok := range handed {
		if ok {
			nHanded++
		}
	}
	if c[slokeeper.DeliveryInDoubt] != nHanded {
		t.Errorf("%d in doubt, %d handed over", c[slokeeper.DeliveryInDoubt], nHanded)
	}
	t.Logf("%d handed over (in doubt), %d claimed by the other node", nHanded, len(claimed))
}
