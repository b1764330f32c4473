package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"

	"github.com/jackc/pgx/v5"
)

// NotificationService stores subscribers and the notification outbox in
// PostgreSQL.
type NotificationService struct {
	db *DB
}

var _ slokeeper.NotificationService = (*NotificationService)(nil)

// NewNotificationService returns a NotificationService on db.
func NewNotificationService(db *DB) *NotificationService { return &NotificationService{db: db} }

// insertAnnouncement writes a to the outbox inside the event's transaction.
func insertAnnouncement(ctx context.Context, tx pgx.Tx, a *slokeeper.Announcement) error {
	components, _ := json.Marshal(append([]string{}, a.Components...))
	var key *string
	if a.Key != "" {
		key = &a.Key
	}
	return tx.QueryRow(ctx, `INSERT INTO announcements (kind, at, incident, update_id, maintenance, start_at, end_at, components, key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, a.Kind, a.At, a.Incident, a.Update, a.Maintenance,
		nullTime(a.Start), nullTime(a.End), components, key).Scan(&a.ID)
}

// CreateSubscriber stores s, with its confirmation when it is an
// unconfirmed e-mail subscriber.
func (s *NotificationService) CreateSubscriber(ctx context.Context, sub *slokeeper.Subscriber) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	components, _ := json.Marshal(append([]string{}, sub.Components...))
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var confirmation *time.Time
		if sub.ConfirmedAt.IsZero() {
			confirmation = &sub.CreatedAt
		}
		if _, err := tx.Exec(ctx, `INSERT INTO subscribers (id, channel, address, lang, components, secret, created_at, confirmed_at, confirmation_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, sub.ID, sub.Channel, sub.Address, sub.Lang, components, sub.Secret,
			sub.CreatedAt, nullTime(sub.ConfirmedAt), confirmation); err != nil {
			return err
		}
		if sub.Channel == slokeeper.ChannelEmail && sub.ConfirmedAt.IsZero() {
			return insertConfirmation(ctx, tx, sub.ID, sub.CreatedAt)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create subscriber: %w", interpretError(err))
	}
	return nil
}

func insertConfirmation(ctx context.Context, tx pgx.Tx, subscriber string, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO deliveries (subscriber, state, next_at) VALUES ($1, 'pending', $2)`, subscriber, at)
	return err
}

// FindSubscribers returns subscribers by creation.
func (s *NotificationService) FindSubscribers(ctx context.Context, f slokeeper.SubscriberFilter) ([]*slokeeper.Subscriber, error) {
	where := sqlbuild.Dollar().Eq("id", f.ID).Eq("channel", f.Channel).Eq("address", f.Address)
	if f.Confirmed {
		where.Raw("confirmed_at IS NOT NULL")
	}
	if f.Pending {
		where.Raw("confirmed_at IS NULL")
	}
	rows, err := s.db.pool.Query(ctx, `SELECT id, channel, address, lang, components, secret, created_at, confirmed_at
		FROM subscribers WHERE `+where.String()+` ORDER BY created_at, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find subscribers: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Subscriber
	for rows.Next() {
		var sub slokeeper.Subscriber
		var confirmed *time.Time
		if err := rows.Scan(&sub.ID, &sub.Channel, &sub.Address, &sub.Lang, &sub.Components, &sub.Secret, &sub.CreatedAt, &confirmed); err != nil {
			return nil, fmt.Errorf("find subscribers: %w", err)
		}
		sub.CreatedAt, sub.ConfirmedAt = sub.CreatedAt.UTC(), fromNull(confirmed)
		out = append(out, &sub)
	}
	return out, rows.Err()
}

// ConfirmSubscriber confirms the opt-in once.
func (s *NotificationService) ConfirmSubscriber(ctx context.Context, id string, at time.Time) error {
	tag, err := s.db.pool.Exec(ctx, `UPDATE subscribers SET confirmed_at = COALESCE(confirmed_at, $1) WHERE id = $2`, at, id)
	if err != nil {
		return fmt.Errorf("confirm subscriber: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No subscriber %q.", id)
	}
	return nil
}

// UpdateSubscriber sets a subscriber's language and components.
func (s *NotificationService) UpdateSubscriber(ctx context.Context, id, lang string, components []string) error {
	js, _ := json.Marshal(append([]string{}, components...))
	tag, err := s.db.pool.Exec(ctx, `UPDATE subscribers SET lang = $1, components = $2 WHERE id = $3`, lang, js, id)
	if err != nil {
		return fmt.Errorf("update subscriber: %w", interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No subscriber %q.", id)
	}
	return nil
}

// ResendConfirmation queues a confirmation unless one is waiting or the
// last was queued after since. The subscriber's row is locked first, so
// two requests on any nodes queue one.
func (s *NotificationService) ResendConfirmation(ctx context.Context, id string, at, since time.Time) (bool, error) {
	queued := false
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM subscribers WHERE id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		var waiting int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE subscriber = $1 AND announcement IS NULL AND state = 'pending'`, id).Scan(&waiting); err != nil {
			return err
		}
		if waiting > 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE subscribers SET confirmation_at = $1
			WHERE id = $2 AND confirmed_at IS NULL AND (confirmation_at IS NULL OR confirmation_at <= $3)`, at, id, since)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		queued = true
		return insertConfirmation(ctx, tx, id, at)
	})
	if err != nil {
		return false, fmt.Errorf("resend confirmation: %w", interpretError(err))
	}
	return queued, nil
}

// PruneUnconfirmed removes e-mail subscribers never confirmed whose last
// confirmation went before before; their deliveries go with them.
func (s *NotificationService) PruneUnconfirmed(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM subscribers WHERE channel = 'email' AND confirmed_at IS NULL
		AND COALESCE(confirmation_at, created_at) < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("prune unconfirmed subscribers: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteSubscriber removes a subscriber and its deliveries.
func (s *NotificationService) DeleteSubscriber(ctx context.Context, id string) error {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM subscribers WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete subscriber: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No subscriber %q.", id)
	}
	return nil
}

// CreateAnnouncement stores a time-driven announcement once per key.
func (s *NotificationService) CreateAnnouncement(ctx context.Context, a *slokeeper.Announcement) (bool, error) {
	components, _ := json.Marshal(append([]string{}, a.Components...))
	var key *string
	if a.Key != "" {
		key = &a.Key
	}
	err := s.db.pool.QueryRow(ctx, `INSERT INTO announcements (kind, at, incident, update_id, maintenance, start_at, end_at, components, key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (key) DO NOTHING RETURNING id`, a.Kind, a.At, a.Incident, a.Update, a.Maintenance,
		nullTime(a.Start), nullTime(a.End), components, key).Scan(&a.ID)
	if err == pgx.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create announcement: %w", interpretError(err))
	}
	return true, nil
}

// FindAnnouncements returns announcements, oldest first.
func (s *NotificationService) FindAnnouncements(ctx context.Context, f slokeeper.AnnouncementFilter) ([]*slokeeper.Announcement, error) {
	where := sqlbuild.Dollar().Eq("maintenance", f.Maintenance)
	if f.ID != 0 {
		where.Add("id = ?", f.ID)
	}
	if f.NotFannedOut {
		where.Raw("NOT fanned_out")
	}
	if f.NotDone {
		where.Raw("fanned_out AND done_at IS NULL")
	}
	if !f.Since.IsZero() {
		where.Add("at >= ?", f.Since)
	}
	rows, err := s.db.pool.Query(ctx, `SELECT id, kind, at, incident, update_id, maintenance, start_at, end_at, components, COALESCE(key, ''), fanned_out, done_at
		FROM announcements WHERE `+where.String()+` ORDER BY id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find announcements: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Announcement
	for rows.Next() {
		var a slokeeper.Announcement
		var start, end, done *time.Time
		if err := rows.Scan(&a.ID, &a.Kind, &a.At, &a.Incident, &a.Update, &a.Maintenance, &start, &end, &a.Components, &a.Key, &a.FannedOut, &done); err != nil {
			return nil, fmt.Errorf("find announcements: %w", err)
		}
		a.At, a.Start, a.End, a.DoneAt = a.At.UTC(), fromNull(start), fromNull(end), fromNull(done)
		out = append(out, &a)
	}
	return out, rows.Err()
}

// FanOut creates the announcement's deliveries, once: the update that
// marks it fanned out locks its row, so a second node waits, then finds
// it done.
func (s *NotificationService) FanOut(ctx context.Context, id int64, at time.Time) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var a slokeeper.Announcement
		err := tx.QueryRow(ctx, `UPDATE announcements SET fanned_out = true WHERE id = $1 AND NOT fanned_out RETURNING components`, id).Scan(&a.Components)
		if err == pgx.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, components FROM subscribers WHERE confirmed_at IS NOT NULL`)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var sid string
			var subscribed []string
			if err := rows.Scan(&sid, &subscribed); err != nil {
				rows.Close()
				return err
			}
			if a.Concerns(subscribed) {
				ids = append(ids, sid)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO deliveries (announcement, subscriber, state, next_at)
			SELECT $1, unnest($2::text[]), 'pending', $3`, id, ids, at)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("fan out: %w", interpretError(err))
	}
	return n, nil
}

// deliveryColumns are the columns scanDelivery reads.
const deliveryColumns = `id, COALESCE(announcement, 0), subscriber, state, attempts, next_at, sent_at, error, lease_node, lease_gen, lease_until, handover_at`

func scanDelivery(row pgx.Row) (*slokeeper.Delivery, error) {
	var d slokeeper.Delivery
	var sent, until, handover *time.Time
	if err := row.Scan(&d.ID, &d.Announcement, &d.Subscriber, &d.State, &d.Attempts, &d.NextAt, &sent, &d.Error, &d.Node, &d.Lease, &until, &handover); err != nil {
		return nil, err
	}
	d.NextAt, d.SentAt, d.LeaseUntil, d.HandoverAt = d.NextAt.UTC(), fromNull(sent), fromNull(until), fromNull(handover)
	return &d, nil
}

// inDoubtError is what a delivery settled in doubt says, by SQL.
const inDoubtError = `'handed over to the mail server by ' || lease_node || ' (lease ' || lease_gen || '), whose outcome never came: it may have gone, so it is not sent again'`

// ClaimDeliveries leases due deliveries to node under a new generation;
// rows another node is claiming are skipped, not waited for. E-mails
// whose lease ended with a handover recorded are settled in doubt first,
// in the same transaction; they keep their holder and generation, so that
// holder's late outcome still lands.
func (s *NotificationService) ClaimDeliveries(ctx context.Context, node string, now, until time.Time, n int) ([]*slokeeper.Delivery, error) {
	var out []*slokeeper.Delivery
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET state = 'in_doubt', sent_at = handover_at, error = `+inDoubtError+`
			WHERE id IN (SELECT d.id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber
				WHERE d.state = 'pending' AND d.handover_at IS NOT NULL AND d.lease_until < $1 AND s.channel = 'email'
				FOR UPDATE OF d SKIP LOCKED)`, now); err != nil {
			return err
		}
		var gen int64
		if err := tx.QueryRow(ctx, `SELECT nextval('delivery_leases')`).Scan(&gen); err != nil {
			return err
		}
		// An e-mail handed over is never claimed again (it is in doubt
		// above, or its holder's lease still runs); a webhook is, and
		// goes again with the same webhook-id.
		rows, err := tx.Query(ctx, `UPDATE deliveries SET lease_node = $1, lease_until = $2, lease_gen = $3, handover_at = NULL, attempts = attempts + 1
			WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND next_at <= $4 AND (lease_until IS NULL OR lease_until < $4)
				AND (handover_at IS NULL OR subscriber IN (SELECT id FROM subscribers WHERE channel = 'webhook'))
				ORDER BY next_at, id LIMIT $5 FOR UPDATE SKIP LOCKED)
			RETURNING `+deliveryColumns, node, until, gen, now, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	slices.SortFunc(out, func(a, b *slokeeper.Delivery) int { return cmp.Or(a.NextAt.Compare(b.NextAt), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// RenewLease extends node's claim gen on the deliveries it still holds.
func (s *NotificationService) RenewLease(ctx context.Context, node string, gen int64, now, until time.Time) ([]int64, error) {
	rows, err := s.db.pool.Query(ctx, `UPDATE deliveries SET lease_until = $1
		WHERE lease_gen = $2 AND lease_node = $3 AND state = 'pending' AND lease_until >= $4 RETURNING id`, until, gen, node, now)
	if err != nil {
		return nil, fmt.Errorf("renew lease: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("renew lease: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// HandOver records that node is handing delivery id over under claim gen.
func (s *NotificationService) HandOver(ctx context.Context, id int64, node string, gen int64, at, until time.Time) error {
	tag, err := s.db.pool.Exec(ctx, `UPDATE deliveries SET handover_at = $1, lease_until = greatest(lease_until, $2)
		WHERE id = $3 AND lease_node = $4 AND lease_gen = $5 AND state = 'pending' AND lease_until >= $1`, at, until, id, node, gen)
	if err != nil {
		return fmt.Errorf("hand over delivery: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "The lease of delivery %d is no longer %s's (lease %d).", id, node, gen)
	}
	return nil
}

// ReleaseDeliveries frees node's leases on deliveries still pending,
// giving back the attempt they counted; the e-mails it had handed over
// are in doubt instead.
func (s *NotificationService) ReleaseDeliveries(ctx context.Context, node string, handedOver []int64, at time.Time) (freed, inDoubt int, err error) {
	err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE deliveries SET state = 'in_doubt', sent_at = COALESCE(handover_at, $2), error = `+inDoubtError+`,
			lease_node = '', lease_until = NULL
			WHERE lease_node = $1 AND state = 'pending' AND lease_until IS NOT NULL AND (handover_at IS NOT NULL OR id = ANY($3))
			AND subscriber IN (SELECT id FROM subscribers WHERE channel = 'email')`, node, at, append([]int64{}, handedOver...))
		if err != nil {
			return err
		}
		inDoubt = int(tag.RowsAffected())
		tag, err = tx.Exec(ctx, `UPDATE deliveries SET lease_node = '', lease_until = NULL, handover_at = NULL, attempts = greatest(attempts - 1, 0)
			WHERE lease_node = $1 AND state = 'pending' AND lease_until IS NOT NULL`, node)
		freed = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("release deliveries: %w", err)
	}
	return freed, inDoubt, nil
}

// UpdateDelivery records what became of a delivery node holds under gen.
func (s *NotificationService) UpdateDelivery(ctx context.Context, id int64, node string, gen int64, upd slokeeper.DeliveryUpdate) error {
	set := sqlbuild.Dollar().Add("state = ?", upd.State).Add("error = ?", upd.Error)
	switch upd.State {
	case slokeeper.DeliveryInDoubt:
		// The holder's last word: nobody holds it any more.
		set.Raw("lease_node = ''").Raw("lease_until = NULL")
		fallthrough
	case slokeeper.DeliverySent:
		set.Add("sent_at = ?", upd.At)
	case slokeeper.DeliveryPending:
		// Put back: nobody holds it until it is claimed again, and
		// nothing of it was handed over.
		set.Add("next_at = ?", upd.NextAt).Raw("lease_until = NULL").Raw("lease_node = ''").Raw("handover_at = NULL")
	case slokeeper.DeliveryFailed:
	default:
		return slokeeper.Errorf(slokeeper.EINVALID, "No delivery state %q.", upd.State)
	}
	tag, err := s.db.pool.Exec(ctx, `UPDATE deliveries SET `+set.Set()+` WHERE id = `+set.Arg(id)+
		` AND lease_node = `+set.Arg(node)+` AND lease_gen = `+set.Arg(gen)+` AND state IN ('pending', 'in_doubt')`, set.Args()...)
	if err != nil {
		return fmt.Errorf("update delivery: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "Delivery %d is not held by %s (lease %d).", id, node, gen)
	}
	return nil
}

// CountDeliveries sums an announcement's deliveries by state.
func (s *NotificationService) CountDeliveries(ctx context.Context, announcement int64) (slokeeper.DeliveryCount, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT state, count(*), count(*) FILTER (WHERE attempts > 1) FROM deliveries WHERE announcement = $1 GROUP BY state`, announcement)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	defer rows.Close()
	out := slokeeper.DeliveryCount{}
	for rows.Next() {
		var state string
		var n, retried int
		if err := rows.Scan(&state, &n, &retried); err != nil {
			return nil, fmt.Errorf("count deliveries: %w", err)
		}
		out[state] = n
		out[slokeeper.DeliveryRetried] += retried
	}
	return out, rows.Err()
}

// FindDeliveries returns deliveries by ID.
func (s *NotificationService) FindDeliveries(ctx context.Context, f slokeeper.DeliveryFilter) ([]*slokeeper.Delivery, error) {
	where := sqlbuild.Dollar().Eq("state", f.State)
	if f.Announcement != 0 {
		where.Add("announcement = ?", f.Announcement)
	}
	rows, err := s.db.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE `+where.String()+` ORDER BY id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find deliveries: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("find deliveries: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// FinishAnnouncement marks a fanned-out announcement done, once, with its
// evidence in the same transaction.
func (s *NotificationService) FinishAnnouncement(ctx context.Context, id int64, at time.Time, e *slokeeper.Evidence) (bool, error) {
	if err := e.Validate(); err != nil {
		return false, err
	}
	done := false
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE announcements SET done_at = $1 WHERE id = $2 AND fanned_out AND done_at IS NULL`, at, id)
		if err != nil || tag.RowsAffected() != 1 {
			return err
		}
		done = true
		return insertEvidence(ctx, tx, e)
	})
	if err != nil {
		return false, fmt.Errorf("finish announcement: %w", err)
	}
	return done, nil
}

// PruneDeliveries removes the finished deliveries of announcements done
// before before, and confirmations sent or failed before it.
func (s *NotificationService) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM deliveries WHERE state <> 'pending' AND (
		announcement IN (SELECT id FROM announcements WHERE done_at < $1) OR (announcement IS NULL AND sent_at < $1))`, before)
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
