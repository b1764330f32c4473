package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"slokeeper"
	"slokeeper/internal/netguard"
	"slokeeper/internal/smtp"
	"slokeeper/internal/webhook"
	"slokeeper/notice"
)

// round is one Tick's deliveries, with what they share loaded once:
// events, subscribers and rendered messages.
type round struct {
	n           *Notifier
	mu          sync.Mutex
	events      map[int64]*notice.Event
	subscribers map[string]*slokeeper.Subscriber
	messages    map[string]notice.Message // by announcement and language
	names       map[string]*slokeeper.Component
}

// batch is one claim of deliveries: its generation, what of it this node
// still holds, and whether it has lost it. Every worker checks it before
// each message; the lease is renewed as the clock goes, so a slow mail
// server keeps its rows; the first sign of the lease lost (a renewal that
// no longer holds a delivery, a handover refused) stops the whole batch,
// and what is left of it belongs to whoever claimed it since.
type batch struct {
	n       *Notifier
	gen     int64
	mu      sync.Mutex
	held    map[int64]bool
	renewed time.Time
	lost    bool
}

func (n *Notifier) newBatch(ds []*slokeeper.Delivery, now time.Time) *batch {
	b := &batch{n: n, gen: ds[0].Lease, held: map[int64]bool{}, renewed: now}
	for _, d := range ds {
		b.held[d.ID] = true
	}
	return b
}

// hold reports whether this node still holds d, renewing the batch's
// lease when a quarter of it has gone by since the last renewal.
func (b *batch) hold(ctx context.Context, d *slokeeper.Delivery) bool {
	n := b.n
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lost {
		return false
	}
	if now := n.cfg.Clock.Now(); now.Sub(b.renewed) >= n.cfg.Lease/4 {
		ids, err := n.cfg.Store.RenewLease(ctx, n.cfg.Node, b.gen, now, now.Add(n.cfg.Lease))
		switch {
		case err != nil:
			// The handover is the fence: a message goes only once it is
			// recorded under this lease, so a failed renewal stops nothing.
			n.log.Warn("renewing the lease of a batch of notices failed", "lease", b.gen, "err", err)
		default:
			b.renewed = now
			b.held = map[int64]bool{}
			for _, id := range ids {
				b.held[id] = true
			}
		}
	}
	if !b.held[d.ID] {
		b.lose(d.ID)
	}
	return !b.lost
}

// lose stops the batch. b.mu is held.
func (b *batch) lose(id int64) {
	if !b.lost {
		b.n.log.Warn("this node lost the lease of a batch of notices: it stops sending them, and the node that holds them now sends them", "lease", b.gen, "delivery", id)
		b.lost = true
	}
}

func (b *batch) stop(id int64) {
	b.mu.Lock()
	b.lose(id)
	b.mu.Unlock()
}

// errLeaseLost: the delivery's lease is no longer this node's batch's.
var errLeaseLost = errors.New("the lease of this delivery was lost")

// handOver records, under the batch's lease, that d is being handed to
// its receiver now; errLeaseLost when the lease is gone.
func (b *batch) handOver(ctx context.Context, d *slokeeper.Delivery) error {
	n := b.n
	now := n.cfg.Clock.Now()
	err := n.cfg.Store.HandOver(context.WithoutCancel(ctx), d.ID, n.cfg.Node, b.gen, now, now.Add(n.cfg.Lease))
	if slokeeper.ErrorCode(err) == slokeeper.ECONFLICT {
		b.stop(d.ID)
		return fmt.Errorf("%w: %w", errLeaseLost, err)
	}
	if err != nil {
		return fmt.Errorf("recording the handover: %w", err)
	}
	return nil
}

// send sends one leased delivery and records what became of it.
func (r *round) send(ctx context.Context, b *batch, d *slokeeper.Delivery) {
	n := r.n
	if !b.hold(ctx, d) {
		return
	}
	err := r.try(ctx, b, d)
	now := n.cfg.Clock.Now()
	var upd slokeeper.DeliveryUpdate
	var se *smtp.Error
	var we *webhook.Error
	var refused *netguard.RefusedError
	switch {
	case err == nil:
		upd = slokeeper.DeliveryUpdate{State: slokeeper.DeliverySent, At: now}
	case errors.Is(err, errLeaseLost):
		return // nothing went; the delivery is another claim's now
	case errors.Is(err, smtp.ErrInDoubt):
		n.log.Warn("a notice is in doubt: the connection failed after it was handed over; it is not sent again", "delivery", d.ID, "err", err)
		upd = slokeeper.DeliveryUpdate{State: slokeeper.DeliveryInDoubt, At: now, Error: err.Error()}
	case errors.Is(err, errGone):
		return // unsubscribed meanwhile
	case (errors.As(err, &se) && se.Permanent()) || (errors.As(err, &we) && we.Permanent()) || errors.As(err, &refused) || d.Attempts >= n.cfg.MaxAttempts:
		n.log.Warn("a notice was refused for good", "delivery", d.ID, "subscriber", d.Subscriber, "attempts", d.Attempts, "err", err)
		upd = slokeeper.DeliveryUpdate{State: slokeeper.DeliveryFailed, At: now, Error: err.Error()}
	default:
		next := now.Add(backoff(d.Attempts))
		n.log.Info("a notice will be tried again", "delivery", d.ID, "attempts", d.Attempts, "at", next, "err", err)
		upd = slokeeper.DeliveryUpdate{State: slokeeper.DeliveryPending, NextAt: next, Error: err.Error()}
	}
	// The outcome is recorded even when the server is stopping.
	n.record(ctx, d.ID, b.gen, upd)
}

// record writes a delivery's outcome under lease gen, retrying with
// backoff for up to Config.RecordFor while the store fails; after that
// it is owed, and written before the next round sends. It gives up only
// when the lease is provably lost (ECONFLICT): then another claim holds
// the delivery, or it is settled. An e-mail handed over keeps its lease
// for its outcome even when it is settled in doubt meanwhile, so the
// true outcome lands once the store is back.
func (n *Notifier) record(ctx context.Context, id, gen int64, upd slokeeper.DeliveryUpdate) {
	wait := 50 * time.Millisecond
	deadline := time.Now().Add(n.cfg.RecordFor)
	for tries := 1; ; tries++ {
		err := n.cfg.Store.UpdateDelivery(context.WithoutCancel(ctx), id, n.cfg.Node, gen, upd)
		switch {
		case err == nil:
			if tries > 1 {
				n.log.Info("recorded a delivery's outcome after the store failed", "delivery", id, "state", upd.State, "tries", tries)
			}
			return
		case slokeeper.ErrorCode(err) == slokeeper.ECONFLICT:
			n.log.Warn("a delivery's outcome was not recorded: its lease is another claim's", "delivery", id, "state", upd.State, "err", err)
			return
		case time.Now().Add(wait).After(deadline):
			n.log.Error("recording a delivery failed; it is tried again before the next round sends", "delivery", id, "tries", tries, "err", err)
			n.owe(id, gen, upd)
			return
		}
		n.retried.Add(1)
		time.Sleep(wait) // the store is away (real time, whatever the clock)
		wait = min(2*wait, 2*time.Second)
	}
}

var errGone = errors.New("the subscriber is gone")

func (r *round) try(ctx context.Context, b *batch, d *slokeeper.Delivery) error {
	n := r.n
	sub, err := r.subscriber(ctx, d.Subscriber)
	if err != nil {
		return err
	}
	secret, err := n.cfg.Secrets.OpenSystem(sub.Secret, secretAD(sub.ID))
	if err != nil {
		return err
	}
	if d.Announcement == 0 { // the confirmation of a subscription
		if sub.Channel != slokeeper.ChannelEmail || !sub.ConfirmedAt.IsZero() {
			return nil // nothing to confirm any more
		}
		msg := notice.Confirm(n.service(sub.Lang), n.cfg.Site, n.link("/subscribe/confirm", sub.ID, Token(secret, "confirm", sub.ID)), sub.Lang)
		return n.mail(ctx, b, d, sub, msg, "")
	}
	msg, ev, err := r.message(ctx, d.Announcement, sub.Lang)
	if err != nil {
		return err
	}
	if sub.Channel == slokeeper.ChannelWebhook {
		body, err := r.payload(ctx, ev)
		if err != nil {
			return err
		}
		// A webhook is handed over like an e-mail (the lease is checked
		// and the moment recorded); if its holder stops, the next claim
		// sends it again with the same webhook-id, which receivers
		// deduplicate on.
		if err := b.handOver(ctx, d); err != nil {
			return err
		}
		return n.cfg.Webhooks.Send(ctx, sub.Address, string(secret), fmt.Sprintf("slk_d%d", d.ID), n.cfg.Clock.Now(), body)
	}
	unsubscribe := n.link("/unsubscribe", sub.ID, Token(secret, "unsubscribe", sub.ID))
	msg.Body += "\n" + notice.Footer(n.service(sub.Lang), n.cfg.Site, unsubscribe, sub.Lang)
	return n.mail(ctx, b, d, sub, msg, unsubscribe)
}

func (n *Notifier) mail(ctx context.Context, b *batch, d *slokeeper.Delivery, sub *slokeeper.Subscriber, msg notice.Message, unsubscribe string) error {
	if n.cfg.Mailer == nil {
		return errors.New("no mail server is configured (--smtp)")
	}
	m := &smtp.Mail{To: sub.Address, Lang: sub.Lang, Subject: msg.Subject, Body: msg.Body, Date: n.cfg.Clock.Now(), Unsubscribe: unsubscribe,
		MessageID: n.messageID(d.ID, sub.ID)}
	return n.cfg.Mailer.Send(ctx, m, func() error { return b.handOver(ctx, d) })
}

func (n *Notifier) link(path, id, token string) string {
	return strings.TrimSuffix(n.cfg.Site, "/") + path + "?s=" + id + "&t=" + token
}

func (n *Notifier) service(lang string) string { return n.cfg.Policy.Service.Name.In(lang) }

func (r *round) subscriber(ctx context.Context, id string) (*slokeeper.Subscriber, error) {
	r.mu.Lock()
	sub, ok := r.subscribers[id]
	r.mu.Unlock()
	if ok {
		return sub, nil
	}
	subs, err := r.n.cfg.Store.FindSubscribers(ctx, slokeeper.SubscriberFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(subs) == 0 {
		return nil, errGone
	}
	r.mu.Lock()
	r.subscribers[id] = subs[0]
	r.mu.Unlock()
	return subs[0], nil
}

// message renders an announcement in a language, once a round.
func (r *round) message(ctx context.Context, id int64, lang string) (notice.Message, *notice.Event, error) {
	ev, err := r.event(ctx, id)
	if err != nil {
		return notice.Message{}, nil, err
	}
	key := fmt.Sprint(id, lang)
	r.mu.Lock()
	msg, ok := r.messages[key]
	r.mu.Unlock()
	if !ok {
		e := *ev
		e.Service = r.n.service(lang)
		msg = notice.Render(e, lang) // unlocked: it calls r.name
		r.mu.Lock()
		r.messages[key] = msg
		r.mu.Unlock()
	}
	return msg, ev, nil
}

func (r *round) event(ctx context.Context, id int64) (*notice.Event, error) {
	r.mu.Lock()
	ev, ok := r.events[id]
	r.mu.Unlock()
	if ok {
		return ev, nil
	}
	n := r.n
	as, err := n.cfg.Store.FindAnnouncements(ctx, slokeeper.AnnouncementFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("no announcement %d", id)
	}
	if err := r.loadNames(ctx); err != nil {
		return nil, err
	}
	ev = &notice.Event{Announcement: as[0], Site: n.cfg.Site, Loc: n.cfg.Policy.Location(), ComponentName: r.name}
	if a := as[0]; a.Incident != "" {
		incs, err := n.cfg.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{ID: a.Incident})
		if err != nil || len(incs) == 0 {
			return nil, fmt.Errorf("incident %s of announcement %d: %v", a.Incident, id, err)
		}
		ev.Incident = incs[0]
	} else {
		ms, err := n.cfg.Maintenance.FindMaintenances(ctx, slokeeper.MaintenanceFilter{ID: a.Maintenance})
		if err != nil || len(ms) == 0 {
			return nil, fmt.Errorf("maintenance %s of announcement %d: %v", a.Maintenance, id, err)
		}
		ev.Maintenance = ms[0]
	}
	r.mu.Lock()
	r.events[id] = ev
	r.mu.Unlock()
	return ev, nil
}

func (r *round) loadNames(ctx context.Context) error {
	r.mu.Lock()
	loaded := r.names != nil
	r.mu.Unlock()
	if loaded {
		return nil
	}
	cs, err := r.n.cfg.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
	if err != nil {
		return err
	}
	names := map[string]*slokeeper.Component{}
	for _, c := range cs {
		names[c.ID] = c
	}
	r.mu.Lock()
	r.names = names
	r.mu.Unlock()
	return nil
}

func (r *round) name(id, lang string) string {
	r.mu.Lock()
	c := r.names[id]
	r.mu.Unlock()
	if c == nil {
		return ""
	}
	if lang == "en" {
		return c.NameEN
	}
	return c.NameJA
}

// Payload is the JSON body of a webhook: the announcement, what it is
// about, and its text in both languages.
type Payload struct {
	Type         string                    `json:"type"`
	Timestamp    time.Time                 `json:"timestamp"`
	Announcement *slokeeper.Announcement   `json:"announcement"`
	Incident     *slokeeper.Incident       `json:"incident,omitempty"`
	Maintenance  *slokeeper.Maintenance    `json:"maintenance,omitempty"`
	Text         map[string]notice.Message `json:"text"`
	URL          string                    `json:"url"`
}

func (r *round) payload(ctx context.Context, ev *notice.Event) ([]byte, error) {
	p := Payload{Type: ev.Announcement.Kind, Timestamp: ev.Announcement.At, Announcement: ev.Announcement,
		Maintenance: ev.Maintenance, URL: r.n.cfg.Site, Text: map[string]notice.Message{}}
	if ev.Incident != nil {
		p.Incident = ev.Incident.Public() // subscribers see the public texts, never who wrote them
	}
	for _, lang := range []string{"ja", "en"} {
		msg, _, err := r.message(ctx, ev.Announcement.ID, lang)
		if err != nil {
			return nil, err
		}
		p.Text[lang] = msg
	}
	return json.Marshal(p)
}
