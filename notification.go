package slokeeper

import (
	"context"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Announcement kinds: what subscribers are told of.
const (
	AnnounceIncidentOpened         = "incident.opened"
	AnnounceIncidentUpdated        = "incident.updated"
	AnnounceIncidentResolved       = "incident.resolved"
	AnnounceMaintenanceScheduled   = "maintenance.scheduled"
	AnnounceMaintenanceRescheduled = "maintenance.rescheduled"
	AnnounceMaintenanceCancelled   = "maintenance.cancelled"
	AnnounceMaintenanceReminder    = "maintenance.reminder"
	AnnounceMaintenanceStarted     = "maintenance.started"
	AnnounceMaintenanceCompleted   = "maintenance.completed"
)

// Announcement is the notification outbox: one row per event subscribers
// are told of. Incidents and maintenance windows write theirs in the same
// transaction as the change itself, so an event is never announced
// without happening, nor happens unannounced; the notifier writes the
// time-driven ones (reminder, start, end), once each by Key.
type Announcement struct {
	ID   int64     `json:"id"`
	Kind string    `json:"kind"`
	At   time.Time `json:"at"` // when the event happened
	// Incident and Update name an incident's timeline entry; Maintenance
	// names a window, with Start and End as they were at the event.
	Incident    string    `json:"incident,omitempty"`
	Update      int64     `json:"update,omitempty"`
	Maintenance string    `json:"maintenance,omitempty"`
	Start       time.Time `json:"start,omitzero"`
	End         time.Time `json:"end,omitzero"`
	Components  []string  `json:"components"` // affected; empty: all
	// Key makes a time-driven announcement unique ("" for the others).
	Key string `json:"key,omitempty"`
	// FannedOut is set once a delivery exists for every subscriber it
	// concerns; DoneAt once none of them is left to send.
	FannedOut bool      `json:"fanned_out"`
	DoneAt    time.Time `json:"done_at,omitzero"`
}

// Concerns reports whether a subscriber to components (empty: all)
// wants this announcement.
func (a *Announcement) Concerns(components []string) bool {
	if len(a.Components) == 0 || len(components) == 0 {
		return true
	}
	for _, c := range a.Components {
		if slices.Contains(components, c) {
			return true
		}
	}
	return false
}

// Subscriber channels.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// Subscriber is who gets notices: an e-mail address (confirmed by double
// opt-in) or a webhook URL (added by staff).
type Subscriber struct {
	ID         string   `json:"id"`
	Channel    string   `json:"channel"`
	Address    string   `json:"address"`    // the e-mail address or the webhook's URL
	Lang       string   `json:"lang"`       // ja or en
	Components []string `json:"components"` // empty: all
	// Secret, sealed by the master key: the key of an e-mail subscriber's
	// confirm and unsubscribe links, or a webhook's signing secret.
	Secret      []byte    `json:"-"`
	CreatedAt   time.Time `json:"created_at"`
	ConfirmedAt time.Time `json:"confirmed_at,omitzero"` // zero: waiting for the opt-in
}

// Validate reports whether s can be stored, and normalizes its address.
func (s *Subscriber) Validate() error {
	if s.Lang != "ja" && s.Lang != "en" {
		return Errorf(EINVALID, "A subscriber's language is ja or en; not %q.", s.Lang)
	}
	switch s.Channel {
	case ChannelEmail:
		a, err := mail.ParseAddress(strings.TrimSpace(s.Address))
		if err != nil || a.Name != "" || !strings.Contains(a.Address, ".") || len(a.Address) > 254 {
			return Errorf(EINVALID, "%q is not an e-mail address.", s.Address)
		}
		// Addresses are compared without case: one person, one subscription.
		s.Address = strings.ToLower(a.Address)
	case ChannelWebhook:
		u, err := url.Parse(s.Address)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return Errorf(EINVALID, "A webhook is an http(s) URL without credentials; not %q.", s.Address)
		}
	default:
		return Errorf(EINVALID, "A subscriber's channel is email or webhook; not %q.", s.Channel)
	}
	return nil
}

// SubscriberFilter selects subscribers. Zero fields do not filter.
type SubscriberFilter struct {
	ID        string
	Channel   string
	Address   string
	Confirmed bool // only those who confirmed (webhooks are confirmed when added)
	Pending   bool // only those still waiting for the opt-in
}

// Limits of the subscribe form, against its use to mail people who never
// asked: an address gets at most one confirmation per ConfirmEvery, and
// a subscription not confirmed within PendingFor is forgotten.
const (
	ConfirmEvery = time.Hour
	PendingFor   = 24 * time.Hour
)

// Delivery states.
const (
	DeliveryPending = "pending"
	// DeliveryInDoubt: the sender recorded that it was handing the
	// message over (just before the final dot) and its answer never came,
	// or never got written: the sender's connection failed, or the sender
	// stopped or lost its lease and another node found the handover. The
	// server may have the message, so it is never sent again; it is
	// counted apart in the evidence for staff to check.
	DeliveryInDoubt = "in_doubt"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed" // refused for good, or out of attempts
)

// DeliveryRetried is the key of DeliveryCount that counts the deliveries
// that took more than one attempt, whatever their state (it is no state).
const DeliveryRetried = "retried"

// Delivery is one notice to one subscriber: at most one per
// (announcement, subscriber), and the subscriber names the channel.
type Delivery struct {
	ID           int64     `json:"id"`
	Announcement int64     `json:"announcement"` // 0: the subscription's confirmation
	Subscriber   string    `json:"subscriber"`
	State        string    `json:"state"`
	Attempts     int       `json:"attempts"`
	NextAt       time.Time `json:"next_at"`
	SentAt       time.Time `json:"sent_at,omitzero"`
	Error        string    `json:"error,omitempty"`
	// The lease: the node holding the delivery, the generation of its
	// claim (a new one for every claim, on every node, so a node whose
	// lease lapsed and was claimed again can never write over the new
	// holder), and until when.
	Node       string    `json:"node,omitempty"`
	Lease      int64     `json:"lease,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	// HandoverAt: the holder recorded that it was handing the message to
	// the mail server (before the final dot). Whoever finds the lease
	// ended with a handover recorded marks an e-mail in doubt instead of
	// sending it again.
	HandoverAt time.Time `json:"handover_at,omitzero"`
}

// DeliveryUpdate is what a sender reports of a claimed delivery.
type DeliveryUpdate struct {
	State  string
	At     time.Time // sent at, or failed at
	NextAt time.Time // pending: try again then
	Error  string
}

// AnnouncementFilter selects announcements. Zero fields do not filter.
type AnnouncementFilter struct {
	ID           int64
	NotFannedOut bool
	NotDone      bool // fanned out, not yet done
	Maintenance  string
	Since        time.Time
}

// DeliveryFilter selects deliveries. Zero fields do not filter.
type DeliveryFilter struct {
	Announcement int64
	State        string
}

// DeliveryCount sums an announcement's deliveries by state.
type DeliveryCount map[string]int

// NotificationService stores subscribers and the notification outbox.
type NotificationService interface {
	// CreateSubscriber stores a subscriber; an unconfirmed e-mail one
	// gets its confirmation delivery in the same transaction. ECONFLICT
	// when the (channel, address) exists.
	CreateSubscriber(ctx context.Context, s *Subscriber) error
	FindSubscribers(ctx context.Context, f SubscriberFilter) ([]*Subscriber, error)
	// ConfirmSubscriber confirms the opt-in; a second time is no change.
	ConfirmSubscriber(ctx context.Context, id string, at time.Time) error
	// UpdateSubscriber sets the language and components.
	UpdateSubscriber(ctx context.Context, id, lang string, components []string) error
	// ResendConfirmation queues another confirmation at at for an
	// unconfirmed subscriber, unless one is still waiting to be sent or
	// the last was queued after since; it reports whether it queued one.
	// The check and the queuing are one atomic step, so concurrent
	// requests on any number of nodes queue at most one.
	ResendConfirmation(ctx context.Context, id string, at, since time.Time) (bool, error)
	// PruneUnconfirmed removes the e-mail subscribers that never
	// confirmed and had their last confirmation queued before before,
	// returning how many.
	PruneUnconfirmed(ctx context.Context, before time.Time) (int, error)
	// DeleteSubscriber removes a subscriber and its unsent deliveries.
	DeleteSubscriber(ctx context.Context, id string) error

	// CreateAnnouncement stores a time-driven announcement; false when
	// one with its Key exists.
	CreateAnnouncement(ctx context.Context, a *Announcement) (bool, error)
	FindAnnouncements(ctx context.Context, f AnnouncementFilter) ([]*Announcement, error)
	// FanOut creates a delivery for every confirmed subscriber the
	// announcement concerns and marks it fanned out, in one transaction;
	// it returns how many (0 when another node did it).
	FanOut(ctx context.Context, id int64, at time.Time) (int, error)
	// ClaimDeliveries leases up to n due pending deliveries to node until
	// the lease ends, under one new generation (Delivery.Lease); nobody
	// else claims them meanwhile. In the same step it settles the
	// e-mails whose lease ended with a handover recorded: they are in
	// doubt, never claimed again (a webhook handed over is claimed again
	// and resent with the same webhook-id).
	ClaimDeliveries(ctx context.Context, node string, now, until time.Time, n int) ([]*Delivery, error)
	// RenewLease extends to until the lease of claim gen on every
	// delivery node still holds pending under it, unless that lease
	// ended before now; it returns the IDs still held (none: the claim is
	// lost).
	RenewLease(ctx context.Context, node string, gen int64, now, until time.Time) ([]int64, error)
	// HandOver records, before a message's final dot (or a webhook's
	// request), that node is handing delivery id over under claim gen at
	// at, and extends that delivery's lease to until. ECONFLICT when the
	// lease is not node's claim gen any more or ended before at: the
	// message must not go.
	HandOver(ctx context.Context, id int64, node string, gen int64, at, until time.Time) error
	// ReleaseDeliveries frees node's leases: a restarted node's own
	// claims died with its previous process. The e-mails it had handed
	// over (recorded in the database, or listed in handedOver, the IDs a
	// handover journal of an earlier version holds) become in doubt
	// instead, held by nobody (no truth can come from a process that
	// died). It returns how many were freed and how many are in doubt.
	ReleaseDeliveries(ctx context.Context, node string, handedOver []int64, at time.Time) (freed, inDoubt int, err error)
	// UpdateDelivery records what became of a delivery node holds under
	// claim gen. A delivery another node settled in doubt still counts as
	// held by the claim that handed it over, so that claim's true
	// outcome, once known, lands; one the holder itself reports in doubt
	// is held by nobody after that.
	// ECONFLICT when node's claim gen no longer holds it.
	UpdateDelivery(ctx context.Context, id int64, node string, gen int64, upd DeliveryUpdate) error
	// CountDeliveries sums an announcement's deliveries by state, and
	// under DeliveryRetried those that took more than one attempt.
	CountDeliveries(ctx context.Context, announcement int64) (DeliveryCount, error)
	// FindDeliveries returns deliveries by ID, oldest first.
	FindDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error)
	// FinishAnnouncement marks a fanned-out announcement done and
	// records e, its evidence, in the same transaction: if e cannot be
	// recorded it is not done, and the next round tries again. False
	// (and nothing recorded) when it was not fanned out or is done already.
	FinishAnnouncement(ctx context.Context, id int64, at time.Time, e *Evidence) (bool, error)
	// PruneDeliveries removes finished deliveries of announcements done
	// before, returning how many.
	PruneDeliveries(ctx context.Context, before time.Time) (int, error)
}

// Announcement returns the announcement of timeline entry u of an
// incident affecting components: opened for its first entry, resolved or
// updated for the others.
func (u *IncidentUpdate) Announcement(components []string, first bool) *Announcement {
	kind := AnnounceIncidentUpdated
	switch {
	case first:
		kind = AnnounceIncidentOpened
	case u.Status == IncidentResolved:
		kind = AnnounceIncidentResolved
	}
	return &Announcement{Kind: kind, At: u.At, Incident: u.Incident, Update: u.ID, Components: components}
}

// Announcement returns the announcement of kind for window m as it is
// now, made at at.
func (m *Maintenance) Announcement(kind string, at time.Time) *Announcement {
	return &Announcement{Kind: kind, At: at, Maintenance: m.ID, Start: m.Start, End: m.End, Components: m.Components}
}
