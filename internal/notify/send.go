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

// send sends one leased delivery and records what became of it.
func (r *round) send(ctx context.Context, d *slokeeper.Delivery) {
	n := r.n
	err := r.try(ctx, d)
	now := n.cfg.Clock.Now()
	var upd slokeeper.DeliveryUpdate
	var se *smtp.Error
	var we *webhook.Error
	var refused *netguard.RefusedError
	switch {
	case err == nil:
		upd = slokeeper.DeliveryUpdate{State: slokeeper.DeliverySent, At: now}
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
	// The outcome is recorded even when the server is stopping: it is
	// what keeps the notice from going twice.
	if err := n.cfg.Store.UpdateDelivery(context.WithoutCancel(ctx), d.ID, n.cfg.Node, upd); err != nil && slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		n.log.Error("recording a delivery failed; it is tried again next round", "delivery", d.ID, "err", err)
		n.owe(d.ID, upd)
	}
}

var errGone = errors.New("the subscriber is gone")

func (r *round) try(ctx context.Context, d *slokeeper.Delivery) error {
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
		return n.mail(ctx, d, sub, msg, "")
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
		return n.cfg.Webhooks.Send(ctx, sub.Address, string(secret), fmt.Sprintf("slk_d%d", d.ID), n.cfg.Clock.Now(), body)
	}
	unsubscribe := n.link("/unsubscribe", sub.ID, Token(secret, "unsubscribe", sub.ID))
	msg.Body += "\n" + notice.Footer(n.service(sub.Lang), n.cfg.Site, unsubscribe, sub.Lang)
	return n.mail(ctx, d, sub, msg, unsubscribe)
}

func (n *Notifier) mail(ctx context.Context, d *slokeeper.Delivery, sub *slokeeper.Subscriber, msg notice.Message, unsubscribe string) error {
	if n.cfg.Mailer == nil {
		return errors.New("no mail server is configured (--smtp)")
	}
	m := &smtp.Mail{To: sub.Address, Lang: sub.Lang, Subject: msg.Subject, Body: msg.Body, Date: n.cfg.Clock.Now(), Unsubscribe: unsubscribe,
		MessageID: fmt.Sprintf("d%d.%s@%s", d.ID, sub.ID, n.siteHost())}
	return n.cfg.Mailer.Send(ctx, m, func() {
		if err := n.journal.add(d.ID); err != nil {
			n.log.Error("recording a handover failed: a crash now could send this notice twice", "delivery", d.ID, "err", err)
		}
	})
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
