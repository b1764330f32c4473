// Package notify delivers the notification outbox: it writes the
// time-driven maintenance announcements (reminder, start, end), fans each
// announcement out to the subscribers it concerns, and sends the
// deliveries by e-mail and webhook, with retries and backoff.
//
// Exactly one notice per (announcement, subscriber): the store makes one
// delivery per pair; a node sends only deliveries it has leased; and an
// e-mail is recorded as in doubt just before its last line goes to the
// server, so that a crash after it is never followed by a second copy. A
// restarted node frees its own leases at once; a node that does not come
// back loses its leases when they end.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"slokeeper"
	"slokeeper/internal/smtp"
	"slokeeper/internal/webhook"
	"slokeeper/maintenance"
	"slokeeper/notice"
	"slokeeper/policy"
)

// Mailer sends one e-mail; *smtp.Mailer is one.
type Mailer interface {
	Send(ctx context.Context, m *smtp.Mail, handedOver func()) error
}

// Secrets seals and opens subscribers' secrets under the master key.
type Secrets interface {
	SealSystem(plaintext, associatedData []byte) ([]byte, error)
	OpenSystem(ciphertext, associatedData []byte) ([]byte, error)
}

// Config configures a Notifier.
type Config struct {
	Store       slokeeper.NotificationService // required
	Incidents   slokeeper.IncidentService     // required
	Maintenance slokeeper.MaintenanceService  // required
	Components  slokeeper.ComponentService    // required
	// Evidence is not used any more: Store records an announcement's
	// evidence in the transaction that finishes it. Left so that callers
	// need no change; may be removed.
	Evidence slokeeper.EvidenceService
	Secrets  Secrets        // required
	Policy   *policy.Policy // required
	// Site is the status page's public URL, for links. Required.
	Site string
	// Mailer sends e-mail; nil: e-mail deliveries wait for one.
	Mailer Mailer
	// Journal is the file where this node records each e-mail handed
	// over to the mail server (one per node, in its data directory).
	// Required.
	Journal string
	// Webhooks posts webhooks, to the addresses its Targets allow, and
	// checks a webhook's URL when one is added. Default: a
	// webhook.Sender that reaches the public internet only.
	Webhooks *webhook.Sender
	// Clock. Default: the system clock.
	Clock slokeeper.Clock
	// Node names this node in leases and evidence. Default: the host name.
	Node string
	// Workers is how many deliveries are sent at once. Default: 8.
	Workers int
	// Batch is how many deliveries are leased at a time. Default: 200.
	Batch int
	// Lease is how long a node holds the deliveries it leased. Default: 2m.
	Lease time.Duration
	// MaxAttempts before a delivery fails for good. Default: 12 (about
	// two days with the backoff).
	MaxAttempts int
	Logger      *slog.Logger
}

// Notifier delivers the outbox. Call Recover once at start, then Tick.
type Notifier struct {
	cfg     Config
	log     *slog.Logger
	journal *journal

	// owed holds the outcomes of deliveries that were sent but could not
	// be written, by delivery: they are written before anything else is
	// sent (a lapsed lease must not send them again), and the handover
	// journal is kept until they are.
	mu   sync.Mutex
	owed map[int64]slokeeper.DeliveryUpdate
}

// New returns a Notifier; Close closes its journal.
func New(cfg Config) (*Notifier, error) {
	if cfg.Clock == nil {
		cfg.Clock = slokeeper.SystemClock{}
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.Webhooks == nil {
		cfg.Webhooks = &webhook.Sender{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	j, err := openJournal(cfg.Journal)
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, log: cfg.Logger.With("component", "notify"), journal: j, owed: map[int64]slokeeper.DeliveryUpdate{}}, nil
}

// Close closes the journal.
func (n *Notifier) Close() error { return n.journal.close() }

// SetSite sets the status page's URL, when it is known only once the
// server listens. Call it before the first Tick.
func (n *Notifier) SetSite(site string) { n.cfg.Site = site }

// Recover frees the leases this node held before it restarted: whatever
// it was sending then was either handed over (and is in doubt, not sent
// again) or was not, and is sent now.
func (n *Notifier) Recover(ctx context.Context) error {
	handed, err := n.journal.entries()
	if err != nil {
		return err
	}
	for _, id := range handed {
		err := n.cfg.Store.UpdateDelivery(ctx, id, n.cfg.Node, slokeeper.DeliveryUpdate{State: slokeeper.DeliveryInDoubt, At: n.cfg.Clock.Now()})
		switch {
		case err == nil:
			n.log.Warn("a notice is in doubt: it was handed to the mail server as this node stopped; it is not sent again", "delivery", id)
		case slokeeper.ErrorCode(err) != slokeeper.ECONFLICT: // ECONFLICT: its outcome was recorded
			return err
		}
	}
	if err := n.journal.reset(); err != nil {
		return err
	}
	freed, err := n.cfg.Store.ReleaseDeliveries(ctx, n.cfg.Node)
	if err != nil {
		return err
	}
	if freed > 0 {
		n.log.Info("freed the deliveries this node was sending when it stopped", "deliveries", freed)
	}
	return nil
}

// Tick does what is due: time-driven announcements, fan-outs, every due
// delivery, and the evidence of announcements that are done.
func (n *Notifier) Tick(ctx context.Context) error {
	var errs []error
	if err := n.announceMaintenance(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := n.fanOut(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := n.deliver(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := n.finish(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// announceMaintenance writes the reminder, start and end announcements
// that are due, once each (their key names the window, the kind and the
// time, so a rescheduled window gets its own).
func (n *Notifier) announceMaintenance(ctx context.Context) error {
	now := n.cfg.Clock.Now()
	ahead := time.Hour
	if r := n.cfg.Policy.Maintenance.Reminder; !r.IsZero() {
		ahead += now.Sub(r.SubFrom(now))
	}
	windows, err := n.cfg.Maintenance.FindMaintenances(ctx, slokeeper.MaintenanceFilter{From: now.Add(-24 * time.Hour), To: now.Add(ahead)})
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	for _, m := range windows {
		for _, nt := range maintenance.Notices(n.cfg.Policy, m) {
			kind := ""
			switch {
			case nt.Kind == maintenance.NoticeReminder && !now.Before(nt.At) && now.Before(m.Start):
				kind = slokeeper.AnnounceMaintenanceReminder
			case nt.Kind == maintenance.NoticeStart && !now.Before(m.Start) && now.Before(m.End):
				kind = slokeeper.AnnounceMaintenanceStarted
			case nt.Kind == maintenance.NoticeEnd && !now.Before(m.End) && now.Before(m.End.Add(24*time.Hour)):
				kind = slokeeper.AnnounceMaintenanceCompleted
			default:
				continue
			}
			a := m.Announcement(kind, nt.At)
			a.Key = fmt.Sprintf("%s:%s:%d", m.ID, nt.Kind, nt.At.Unix())
			if _, err := n.cfg.Store.CreateAnnouncement(ctx, a); err != nil {
				return fmt.Errorf("notify: %w", err)
			}
		}
	}
	return nil
}

func (n *Notifier) fanOut(ctx context.Context) error {
	as, err := n.cfg.Store.FindAnnouncements(ctx, slokeeper.AnnouncementFilter{NotFannedOut: true})
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	for _, a := range as {
		count, err := n.cfg.Store.FanOut(ctx, a.ID, n.cfg.Clock.Now())
		if err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		if count > 0 {
			n.log.Info("announcement fanned out", "announcement", a.ID, "kind", a.Kind, "deliveries", count)
		}
	}
	return nil
}

// deliver writes the outcomes owed from earlier rounds, then sends every
// due delivery, a leased batch at a time. While an outcome is owed it
// sends nothing: the lease of that delivery may have lapsed, and it must
// not go twice.
func (n *Notifier) deliver(ctx context.Context) error {
	if err := n.payOwed(ctx); err != nil {
		return err
	}
	r := &round{n: n, events: map[int64]*notice.Event{}, subscribers: map[string]*slokeeper.Subscriber{}, messages: map[string]notice.Message{}}
	for sent := false; ctx.Err() == nil; sent = true {
		now := n.cfg.Clock.Now()
		ds, err := n.cfg.Store.ClaimDeliveries(ctx, n.cfg.Node, now, now.Add(n.cfg.Lease), n.cfg.Batch)
		if err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		if len(ds) == 0 {
			if !sent {
				return nil
			}
			// Every handover of the round has its outcome in the
			// database: the journal can start afresh.
			if n.owing() {
				return errors.New("notify: the outcomes of some deliveries could not be written; they are tried again next round")
			}
			return n.journal.reset()
		}
		work := make(chan *slokeeper.Delivery)
		var wg sync.WaitGroup
		for range min(n.cfg.Workers, len(ds)) {
			wg.Go(func() {
				for d := range work {
					r.send(ctx, d)
				}
			})
		}
		for _, d := range ds {
			work <- d
		}
		close(work)
		wg.Wait()
	}
	return ctx.Err()
}

// finish marks each announcement with nothing left to send done, with
// its evidence, once.
func (n *Notifier) finish(ctx context.Context) error {
	as, err := n.cfg.Store.FindAnnouncements(ctx, slokeeper.AnnouncementFilter{NotDone: true})
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	for _, a := range as {
		c, err := n.cfg.Store.CountDeliveries(ctx, a.ID)
		if err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		if c[slokeeper.DeliveryPending] > 0 {
			continue
		}
		now := n.cfg.Clock.Now()
		e, err := n.evidence(ctx, a, c, now)
		if err != nil {
			return err
		}
		// Done and evidenced in one transaction: if the evidence cannot
		// be recorded the announcement stays not done, and the next
		// round tries again.
		if _, err := n.cfg.Store.FinishAnnouncement(ctx, a.ID, now, e); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
	}
	return nil
}

// evidence is what an announcement's delivery proves: when its last
// notice went, against the policy's bound where the policy sets one.
func (n *Notifier) evidence(ctx context.Context, a *slokeeper.Announcement, c slokeeper.DeliveryCount, now time.Time) (*slokeeper.Evidence, error) {
	p := n.cfg.Policy
	e := &slokeeper.Evidence{At: now, Action: "notice." + a.Kind, Outcome: slokeeper.OutcomeOK, Node: n.cfg.Node}
	switch {
	case a.Incident != "":
		e.Clause, e.Subject = policy.ClauseIncidents, "incident:"+a.Incident
		if a.Kind == slokeeper.AnnounceIncidentOpened {
			incs, err := n.cfg.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{ID: a.Incident})
			if err != nil {
				return nil, fmt.Errorf("notify: %w", err)
			}
			if len(incs) == 1 {
				e.Deadline = p.Incidents.NotifyWithin.AddTo(incs[0].DetectedAt)
			}
		}
	default:
		e.Clause, e.Subject = policy.ClauseMaintenance, "maintenance:"+a.Maintenance
		if a.Kind == slokeeper.AnnounceMaintenanceScheduled {
			ms, err := n.cfg.Maintenance.FindMaintenances(ctx, slokeeper.MaintenanceFilter{ID: a.Maintenance})
			if err != nil {
				return nil, fmt.Errorf("notify: %w", err)
			}
			if len(ms) == 1 {
				if ms[0].Emergency {
					e.Deadline = p.Maintenance.Emergency.NotifyWithin.AddTo(a.At)
				} else {
					e.Deadline = maintenance.NoticeDeadline(p, a.Start)
				}
			}
		}
	}
	if !e.Deadline.IsZero() && now.After(e.Deadline) {
		e.Outcome = slokeeper.OutcomeLate
	}
	total := 0
	for _, k := range c {
		total += k
	}
	subscribers := "subscribers"
	if total == 1 {
		subscribers = "subscriber"
	}
	e.Detail = fmt.Sprintf("notified %d %s %s after the event: %d sent, %d in doubt (handed over as the sender stopped), %d refused",
		total, subscribers, now.Sub(a.At).Round(time.Second), c[slokeeper.DeliverySent], c[slokeeper.DeliveryInDoubt], c[slokeeper.DeliveryFailed])
	if total == 0 {
		e.Detail = "no subscriber to notify; on the status page and feed only"
	}
	return e, nil
}

// Prune removes deliveries of announcements done more than History ago,
// and forgets e-mail subscriptions not confirmed within
// slokeeper.PendingFor of their last confirmation.
func (n *Notifier) Prune(ctx context.Context) error {
	now := n.cfg.Clock.Now()
	_, err := n.cfg.Store.PruneDeliveries(ctx, now.Add(-slokeeper.History))
	pruned, perr := n.cfg.Store.PruneUnconfirmed(ctx, now.Add(-slokeeper.PendingFor))
	if pruned > 0 {
		n.log.Info("forgot subscriptions never confirmed", "subscribers", pruned)
	}
	return errors.Join(err, perr)
}

// owe keeps the outcome of delivery id, which could not be written.
func (n *Notifier) owe(id int64, upd slokeeper.DeliveryUpdate) {
	n.mu.Lock()
	n.owed[id] = upd
	n.mu.Unlock()
}

func (n *Notifier) owing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.owed) > 0
}

// payOwed writes the outcomes owed; it fails if any still cannot be.
func (n *Notifier) payOwed(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for id, upd := range n.owed {
		err := n.cfg.Store.UpdateDelivery(context.WithoutCancel(ctx), id, n.cfg.Node, upd)
		switch {
		case err == nil:
			n.log.Info("recorded a delivery's outcome that could not be written before", "delivery", id, "state", upd.State)
			delete(n.owed, id)
		case slokeeper.ErrorCode(err) == slokeeper.ECONFLICT: // another node holds it now, or it was recorded
			n.log.Warn("a delivery's outcome could not be written before another node took it", "delivery", id, "state", upd.State)
			delete(n.owed, id)
		default:
			errs = append(errs, fmt.Errorf("delivery %d: %w", id, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("notify: the outcomes of %d deliveries still cannot be written, nothing is sent meanwhile: %w", len(errs), err)
	}
	return nil
}

// backoff is the wait before attempt n+1: 1, 2, 4 … minutes, at most 6 h.
func backoff(attempts int) time.Duration {
	d := time.Minute << min(attempts-1, 9)
	return min(d, 6*time.Hour)
}

// siteHost is the host of the site, for Message-IDs.
func (n *Notifier) siteHost() string {
	if u, err := url.Parse(n.cfg.Site); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "slokeeper.invalid"
}
