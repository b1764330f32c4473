// Package notify delivers the notification outbox: it writes the
// time-driven maintenance announcements (reminder, start, end), fans each
// announcement out to the subscribers it concerns, and sends the
// deliveries by e-mail and webhook, with retries and backoff.
//
// Exactly one notice per (announcement, subscriber), across nodes: the
// store makes one delivery per pair; a node sends only deliveries it has
// leased, under a generation that every claim renews, and checks and
// renews its lease as it goes, stopping a batch the moment it has lost
// it; just before an e-mail's final dot it records the handover in the
// database under that lease, so that whichever node finds the lease
// ended (the sender crashed, hung or lost its database) marks the e-mail
// in doubt instead of sending it again. Outcomes are written under the
// lease, so a node that lost it never overwrites the new holder's. A
// restarted node frees its own leases at once; a node that does not come
// back is settled by the others when its leases end.
package notify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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
	Send(ctx context.Context, m *smtp.Mail, handOver func() error) error
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
	// Journal is the local handover journal that versions before the
	// handover moved into the database kept (DATA/handover.journal).
	// Recover marks the e-mails it lists in doubt, then removes it.
	// Optional: nothing is written to it any more, since a local file
	// only its own node reads cannot settle the deliveries of a node
	// that never comes back.
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
	// RecordFor is how long (real time) a sender retries, with backoff,
	// writing an outcome the store refuses, before it keeps it owed for
	// the next round. Default: 30s.
	RecordFor time.Duration
	Logger    *slog.Logger
}

// Notifier delivers the outbox. Call Recover once at start, then Tick.
type Notifier struct {
	cfg Config
	log *slog.Logger

	// owed holds the outcomes that could not be written within
	// RecordFor, by delivery, with the lease they were made under: they
	// are written at the start of each round. (They need not hold the
	// round back: a delivery handed over is never sent again by anyone.)
	mu   sync.Mutex
	owed map[int64]owedOutcome
	// retried counts outcome writes tried again after the store failed.
	retried atomic.Int64
}

type owedOutcome struct {
	gen int64
	upd slokeeper.DeliveryUpdate
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
	if cfg.RecordFor <= 0 {
		cfg.RecordFor = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Notifier{cfg: cfg, log: cfg.Logger.With("component", "notify"), owed: map[int64]owedOutcome{}}, nil
}

// Close releases nothing any more; it is kept for callers.
func (n *Notifier) Close() error { return nil }

// OutcomeRetries reports how many outcome writes were tried again after
// the store failed, since the Notifier was made.
func (n *Notifier) OutcomeRetries() int64 { return n.retried.Load() }

// SetSite sets the status page's URL, when it is known only once the
// server listens. Call it before the first Tick.
func (n *Notifier) SetSite(site string) { n.cfg.Site = site }

// Recover frees the leases this node held before it restarted: the
// e-mails it was handing over then are in doubt (not sent again), the
// rest is sent now. The handovers are in the database; a journal left by
// an earlier version is read once and removed. Any node settles the
// leases of a node that does not come back, when they end (see
// ClaimDeliveries); Recover only does it sooner for its own.
func (n *Notifier) Recover(ctx context.Context) error {
	handed, err := readJournal(n.cfg.Journal)
	if err != nil {
		return err
	}
	freed, doubt, err := n.cfg.Store.ReleaseDeliveries(ctx, n.cfg.Node, handed, n.cfg.Clock.Now())
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if doubt > 0 {
		n.log.Warn("notices in doubt: they were handed to the mail server as this node stopped; they are not sent again", "deliveries", doubt)
	}
	if freed > 0 {
		n.log.Info("freed the deliveries this node was sending when it stopped", "deliveries", freed)
	}
	if n.cfg.Journal != "" {
		if err := os.Remove(n.cfg.Journal); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("notify: removing the old handover journal: %w", err)
		}
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
// due delivery, a leased batch at a time.
func (n *Notifier) deliver(ctx context.Context) error {
	owedErr := n.payOwed(ctx)
	r := &round{n: n, events: map[int64]*notice.Event{}, subscribers: map[string]*slokeeper.Subscriber{}, messages: map[string]notice.Message{}}
	for ctx.Err() == nil {
		now := n.cfg.Clock.Now()
		ds, err := n.cfg.Store.ClaimDeliveries(ctx, n.cfg.Node, now, now.Add(n.cfg.Lease), n.cfg.Batch)
		if err != nil {
			return errors.Join(owedErr, fmt.Errorf("notify: %w", err))
		}
		if len(ds) == 0 {
			if owedErr == nil && n.owing() {
				owedErr = errors.New("notify: the outcomes of some deliveries could not be written; they are tried again next round")
			}
			return owedErr
		}
		b := n.newBatch(ds, now)
		work := make(chan *slokeeper.Delivery)
		var wg sync.WaitGroup
		for range min(n.cfg.Workers, len(ds)) {
			wg.Go(func() {
				for d := range work {
					r.send(ctx, b, d)
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
		if c[slokeeper.DeliveryInDoubt] > 0 {
			recent, err := n.recentDoubt(ctx, a.ID, now)
			if err != nil {
				return err
			}
			if recent {
				continue
			}
		}
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

// recentDoubt reports whether an announcement has a delivery in doubt,
// settled by another node than its holder, handed over less than two
// leases ago. Its sender may be alive behind a
// database cut, retrying its outcome: the truth (sent, refused, or
// never handed over after all, and so pending again) replaces the doubt
// when it lands. The evidence waits for it so that it counts what
// happened; a sender that never comes back delays it by two leases.
func (n *Notifier) recentDoubt(ctx context.Context, announcement int64, now time.Time) (bool, error) {
	ds, err := n.cfg.Store.FindDeliveries(ctx, slokeeper.DeliveryFilter{Announcement: announcement, State: slokeeper.DeliveryInDoubt})
	if err != nil {
		return false, fmt.Errorf("notify: %w", err)
	}
	for _, d := range ds {
		// d.Node: settled by another node, its holder may still report.
		if d.Node != "" && now.Sub(d.HandoverAt) < 2*n.cfg.Lease {
			return true, nil
		}
	}
	return false, nil
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
	for state, k := range c {
		if state != slokeeper.DeliveryRetried {
			total += k
		}
	}
	subscribers := "subscribers"
	if total == 1 {
		subscribers = "subscriber"
	}
	e.Detail = fmt.Sprintf("notified %d %s %s after the event: %d sent, %d in doubt (handed over, no answer recorded; not sent again), %d refused, %d retried",
		total, subscribers, now.Sub(a.At).Round(time.Second), c[slokeeper.DeliverySent], c[slokeeper.DeliveryInDoubt], c[slokeeper.DeliveryFailed], c[slokeeper.DeliveryRetried])
	if total == 0 {
		e.Detail = "no subscriber to notify; on the status page and feed only"
	}
	if c[slokeeper.DeliveryInDoubt] > 0 {
		// Staff resolve these by Message-ID in the mail server's log.
		ds, err := n.cfg.Store.FindDeliveries(ctx, slokeeper.DeliveryFilter{Announcement: a.ID, State: slokeeper.DeliveryInDoubt})
		if err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
		const listed = 20
		ids := make([]string, 0, listed)
		for _, d := range ds[:min(len(ds), listed)] {
			ids = append(ids, "<"+n.messageID(d.ID, d.Subscriber)+">")
		}
		e.Detail += "; in doubt, to check in the mail server's log: " + strings.Join(ids, " ")
		if len(ds) > listed {
			e.Detail += fmt.Sprintf(" and %d more", len(ds)-listed)
		}
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

// owe keeps the outcome of delivery id, made under lease gen, which
// could not be written.
func (n *Notifier) owe(id, gen int64, upd slokeeper.DeliveryUpdate) {
	n.mu.Lock()
	n.owed[id] = owedOutcome{gen: gen, upd: upd}
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
	for id, o := range n.owed {
		err := n.cfg.Store.UpdateDelivery(context.WithoutCancel(ctx), id, n.cfg.Node, o.gen, o.upd)
		switch {
		case err == nil:
			n.log.Info("recorded a delivery's outcome that could not be written before", "delivery", id, "state", o.upd.State)
			delete(n.owed, id)
		case slokeeper.ErrorCode(err) == slokeeper.ECONFLICT: // another claim holds it now, or it was recorded
			n.log.Warn("a delivery's outcome could not be written before another node took it", "delivery", id, "state", o.upd.State)
			delete(n.owed, id)
		default:
			n.retried.Add(1)
			errs = append(errs, fmt.Errorf("delivery %d: %w", id, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("notify: the outcomes of %d deliveries still cannot be written: %w", len(errs), err)
	}
	return nil
}

// backoff is the wait before attempt n+1: 1, 2, 4 … minutes, at most 6 h.
func backoff(attempts int) time.Duration {
	d := time.Minute << min(attempts-1, 9)
	return min(d, 6*time.Hour)
}

// messageID is the Message-ID of delivery id's e-mail, without <>.
func (n *Notifier) messageID(id int64, subscriber string) string {
	return fmt.Sprintf("d%d.%s@%s", id, subscriber, n.siteHost())
}

// siteHost is the host of the site, for Message-IDs.
func (n *Notifier) siteHost() string {
	if u, err := url.Parse(n.cfg.Site); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "slokeeper.invalid"
}
