package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"
)

// NotificationService stores subscribers and the notification outbox in
// SQLite.
type NotificationService struct {
	db *DB
}

var _ slokeeper.NotificationService = (*NotificationService)(nil)

// NewNotificationService returns a NotificationService on db.
func NewNotificationService(db *DB) *NotificationService { return &NotificationService{db: db} }

// insertAnnouncement writes a to the outbox inside the event's transaction.
func insertAnnouncement(ctx context.Context, tx *sql.Tx, a *slokeeper.Announcement) error {
	components, _ := json.Marshal(append([]string{}, a.Components...))
	var key any
	if a.Key != "" {
		key = a.Key
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO announcements (kind, at, incident, update_id, maintenance, start_at, end_at, components, key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.Kind, formatTime(a.At), a.Incident, a.Update, a.Maintenance,
		nullTime(a.Start), nullTime(a.End), string(components), key)
	if err != nil {
		return fmt.Errorf("announcement: %w", interpretError(err))
	}
	a.ID, _ = res.LastInsertId()
	return nil
}

// CreateSubscriber stores s, with its confirmation when it is an
// unconfirmed e-mail subscriber.
func (s *NotificationService) CreateSubscriber(ctx context.Context, sub *slokeeper.Subscriber) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create subscriber: %w", err)
	}
	defer tx.Rollback()
	components, _ := json.Marshal(append([]string{}, sub.Components...))
	var confirmation any
	if sub.ConfirmedAt.IsZero() {
		confirmation = formatTime(sub.CreatedAt)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO subscribers (id, channel, address, lang, components, secret, created_at, confirmed_at, confirmation_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, sub.ID, sub.Channel, sub.Address, sub.Lang, string(components), sub.Secret,
		formatTime(sub.CreatedAt), nullTime(sub.ConfirmedAt), confirmation); err != nil {
		return fmt.Errorf("create subscriber: %w", interpretError(err))
	}
	if sub.Channel == slokeeper.ChannelEmail && sub.ConfirmedAt.IsZero() {
		if err := insertConfirmation(ctx, tx, sub.ID, sub.CreatedAt); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func insertConfirmation(ctx context.Context, tx *sql.Tx, subscriber string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (subscriber, state, next_at) VALUES (?, 'pending', ?)`, subscriber, formatTime(at)); err != nil {
		return fmt.Errorf("confirmation: %w", interpretError(err))
	}
	return nil
}

// FindSubscribers returns subscribers by creation.
func (s *NotificationService) FindSubscribers(ctx context.Context, f slokeeper.SubscriberFilter) ([]*slokeeper.Subscriber, error) {
	where := sqlbuild.Question().Eq("id", f.ID).Eq("channel", f.Channel).Eq("address", f.Address)
	if f.Confirmed {
		where.Raw("confirmed_at IS NOT NULL")
	}
	if f.Pending {
		where.Raw("confirmed_at IS NULL")
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT id, channel, address, lang, components, secret, created_at, confirmed_at
		FROM subscribers WHERE `+where.String()+` ORDER BY created_at, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find subscribers: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Subscriber
	for rows.Next() {
		var sub slokeeper.Subscriber
		var components, created string
		var confirmed sql.NullString
		if err := rows.Scan(&sub.ID, &sub.Channel, &sub.Address, &sub.Lang, &components, &sub.Secret, &created, &confirmed); err != nil {
			return nil, fmt.Errorf("find subscribers: %w", err)
		}
		if err := json.Unmarshal([]byte(components), &sub.Components); err != nil {
			return nil, fmt.Errorf("subscriber %s: stored components: %w", sub.ID, err)
		}
		if sub.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if sub.ConfirmedAt, err = scanNullTime(confirmed); err != nil {
			return nil, err
		}
		out = append(out, &sub)
	}
	return out, rows.Err()
}

// ConfirmSubscriber confirms the opt-in once.
func (s *NotificationService) ConfirmSubscriber(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.write.ExecContext(ctx, `UPDATE subscribers SET confirmed_at = COALESCE(confirmed_at, ?) WHERE id = ?`, formatTime(at), id)
	if err != nil {
		return fmt.Errorf("confirm subscriber: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No subscriber %q.", id)
	}
	return nil
}

// UpdateSubscriber sets a subscriber's language and components.
func (s *NotificationService) UpdateSubscriber(ctx context.Context, id, lang string, components []string) error {
	js, _ := json.Marshal(append([]string{}, components...))
	res, err := s.db.write.ExecContext(ctx, `UPDATE subscribers SET lang = ?, components = ? WHERE id = ?`, lang, string(js), id)
	if err != nil {
		return fmt.Errorf("update subscriber: %w", interpretError(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No subscriber %q.", id)
	}
	return nil
}

// ResendConfirmation queues a confirmation unless one is waiting or the
// last was queued after since. SQLite has one writer, so the check and
// the queuing in one transaction are atomic.
func (s *NotificationService) ResendConfirmation(ctx context.Context, id string, at, since time.Time) (bool, error) {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("resend confirmation: %w", err)
	}
	defer tx.Rollback()
	var waiting int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE subscriber = ? AND announcement IS NULL AND state = 'pending'`, id).Scan(&waiting); err != nil {
		return false, fmt.Errorf("resend confirmation: %w", err)
	}
	if waiting > 0 {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE subscribers SET confirmation_at = ?
		WHERE id = ? AND confirmed_at IS NULL AND (confirmation_at IS NULL OR confirmation_at <= ?)`, formatTime(at), id, formatTime(since))
	if err != nil {
		return false, fmt.Errorf("resend confirmation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if err := insertConfirmation(ctx, tx, id, at); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// PruneUnconfirmed removes e-mail subscribers never confirmed whose last
// confirmation went before before; their deliveries go with them.
func (s *NotificationService) PruneUnconfirmed(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM subscribers WHERE channel = 'email' AND confirmed_at IS NULL
		AND COALESCE(confirmation_at, created_at) < ?`, formatTime(before))
	if err != nil {
		return 0, fmt.Errorf("prune unconfirmed subscribers: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteSubscriber removes a subscriber and its deliveries.
func (s *NotificationService) DeleteSubscriber(ctx context.Context, id string) error {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM subscribers WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete subscriber: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No subscriber %q.", id)
	}
	return nil
}

// CreateAnnouncement stores a time-driven announcement once per key.
func (s *NotificationService) CreateAnnouncement(ctx context.Context, a *slokeeper.Announcement) (bool, error) {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("create announcement: %w", err)
	}
	defer tx.Rollback()
	if err := insertAnnouncement(ctx, tx, a); err != nil {
		if slokeeper.ErrorCode(err) == slokeeper.ECONFLICT {
			return false, nil
		}
		return false, err
	}
	return true, tx.Commit()
}

// FindAnnouncements returns announcements, oldest first.
func (s *NotificationService) FindAnnouncements(ctx context.Context, f slokeeper.AnnouncementFilter) ([]*slokeeper.Announcement, error) {
	where := sqlbuild.Question().Eq("maintenance", f.Maintenance)
	if f.ID != 0 {
		where.Add("id = ?", f.ID)
	}
	if f.NotFannedOut {
		where.Raw("fanned_out = 0")
	}
	if f.NotDone {
		where.Raw("fanned_out = 1 AND done_at IS NULL")
	}
	if !f.Since.IsZero() {
		where.Add("at >= ?", formatTime(f.Since))
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT id, kind, at, incident, update_id, maintenance, start_at, end_at, components, key, fanned_out, done_at
		FROM announcements WHERE `+where.String()+` ORDER BY id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find announcements: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Announcement
	for rows.Next() {
		var a slokeeper.Announcement
		var at, components string
		var start, end, done, key sql.NullString
		if err := rows.Scan(&a.ID, &a.Kind, &at, &a.Incident, &a.Update, &a.Maintenance, &start, &end, &components, &key, &a.FannedOut, &done); err != nil {
			return nil, fmt.Errorf("find announcements: %w", err)
		}
		a.Key = key.String
		if err := json.Unmarshal([]byte(components), &a.Components); err != nil {
			return nil, fmt.Errorf("announcement %d: stored components: %w", a.ID, err)
		}
		if a.At, err = parseTime(at); err != nil {
			return nil, err
		}
		for _, p := range []struct {
			dst *time.Time
			v   sql.NullString
		}{{&a.Start, start}, {&a.End, end}, {&a.DoneAt, done}} {
			if *p.dst, err = scanNullTime(p.v); err != nil {
				return nil, err
			}
		}
		out = append(out, &a)
	}
	return out, rows.Err()
}

// FanOut creates the announcement's deliveries, once.
func (s *NotificationService) FanOut(ctx context.Context, id int64, at time.Time) (int, error) {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("fan out: %w", err)
	}
	defer tx.Rollback()
	var components string
	err = tx.QueryRowContext(ctx, `UPDATE announcements SET fanned_out = 1 WHERE id = ? AND fanned_out = 0 RETURNING components`, id).Scan(&components)
	if err == sql.ErrNoRows {
		return 0, nil // done by another node, or no such announcement
	}
	if err != nil {
		return 0, fmt.Errorf("fan out: %w", err)
	}
	a := slokeeper.Announcement{}
	if err := json.Unmarshal([]byte(components), &a.Components); err != nil {
		return 0, fmt.Errorf("announcement %d: stored components: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, components FROM subscribers WHERE confirmed_at IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("fan out: %w", err)
	}
	var ids []string
	for rows.Next() {
		var sid, cs string
		var subscribed []string
		if err := rows.Scan(&sid, &cs); err != nil {
			rows.Close()
			return 0, fmt.Errorf("fan out: %w", err)
		}
		if err := json.Unmarshal([]byte(cs), &subscribed); err != nil {
			rows.Close()
			return 0, fmt.Errorf("subscriber %s: stored components: %w", sid, err)
		}
		if a.Concerns(subscribed) {
			ids = append(ids, sid)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("fan out: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO deliveries (announcement, subscriber, state, next_at) VALUES (?, ?, 'pending', ?)`)
	if err != nil {
		return 0, fmt.Errorf("fan out: %w", err)
	}
	defer stmt.Close()
	next := formatTime(at)
	for _, sid := range ids {
		if _, err := stmt.ExecContext(ctx, id, sid, next); err != nil {
			return 0, fmt.Errorf("fan out: %w", interpretError(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("fan out: %w", err)
	}
	return len(ids), nil
}

// deliveryColumns are the columns scanDelivery reads.
const deliveryColumns = `id, COALESCE(announcement, 0), subscriber, state, attempts, next_at, sent_at, error, lease_node, lease_gen, lease_until, handover_at`

func scanDelivery(row interface{ Scan(...any) error }) (*slokeeper.Delivery, error) {
	var d slokeeper.Delivery
	var next string
	var sent, until, handover sql.NullString
	if err := row.Scan(&d.ID, &d.Announcement, &d.Subscriber, &d.State, &d.Attempts, &next, &sent, &d.Error, &d.Node, &d.Lease, &until, &handover); err != nil {
		return nil, err
	}
	var err error
	if d.NextAt, err = parseTime(next); err != nil {
		return nil, err
	}
	if d.SentAt, err = scanNullTime(sent); err != nil {
		return nil, err
	}
	if d.LeaseUntil, err = scanNullTime(until); err != nil {
		return nil, err
	}
	if d.HandoverAt, err = scanNullTime(handover); err != nil {
		return nil, err
	}
	return &d, nil
}

// inDoubtError is what a delivery settled in doubt says, by SQL.
const inDoubtError = `'handed over to the mail server by ' || lease_node || ' (lease ' || lease_gen || '), whose outcome never came: it may have gone, so it is not sent again'`

// ClaimDeliveries leases due deliveries to node under a new generation,
// in one write transaction (SQLite's one writer makes it one step). The
// e-mails whose lease ended with a handover recorded are settled in doubt
// first; they keep their holder and generation, so its late outcome
// still lands.
func (s *NotificationService) ClaimDeliveries(ctx context.Context, node string, now, until time.Time, n int) ([]*slokeeper.Delivery, error) {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'in_doubt', sent_at = handover_at, error = `+inDoubtError+`
		WHERE state = 'pending' AND handover_at IS NOT NULL AND lease_until < ?
		AND subscriber IN (SELECT id FROM subscribers WHERE channel = 'email')`, formatTime(now)); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	var gen int64
	if err := tx.QueryRowContext(ctx, `UPDATE delivery_leases SET gen = gen + 1 RETURNING gen`).Scan(&gen); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	// An e-mail handed over is never claimed again (in doubt above, or
	// its holder's lease still runs); a webhook is, and goes again with
	// the same webhook-id.
	rows, err := tx.QueryContext(ctx, `UPDATE deliveries SET lease_node = ?, lease_until = ?, lease_gen = ?, handover_at = NULL, attempts = attempts + 1
		WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND next_at <= ? AND (lease_until IS NULL OR lease_until < ?)
			AND (handover_at IS NULL OR subscriber IN (SELECT id FROM subscribers WHERE channel = 'webhook'))
			ORDER BY next_at, id LIMIT ?)
		RETURNING `+deliveryColumns,
		node, formatTime(until), gen, formatTime(now), formatTime(now), n)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	var out []*slokeeper.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	slices.SortFunc(out, func(a, b *slokeeper.Delivery) int { return cmp.Or(a.NextAt.Compare(b.NextAt), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// RenewLease extends node's claim gen on the deliveries it still holds.
func (s *NotificationService) RenewLease(ctx context.Context, node string, gen int64, now, until time.Time) ([]int64, error) {
	rows, err := s.db.write.QueryContext(ctx, `UPDATE deliveries SET lease_until = ?
		WHERE lease_gen = ? AND lease_node = ? AND state = 'pending' AND lease_until >= ? RETURNING id`, formatTime(until), gen, node, formatTime(now))
	if err != nil {
		return nil, fmt.Errorf("renew lease: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("renew lease: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("renew lease: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// HandOver records that node is handing delivery id over under claim gen.
func (s *NotificationService) HandOver(ctx context.Context, id int64, node string, gen int64, at, until time.Time) error {
	res, err := s.db.write.ExecContext(ctx, `UPDATE deliveries SET handover_at = ?, lease_until = max(lease_until, ?)
		WHERE id = ? AND lease_node = ? AND lease_gen = ? AND state = 'pending' AND lease_until >= ?`,
		formatTime(at), formatTime(until), id, node, gen, formatTime(at))
	if err != nil {
		return fmt.Errorf("hand over delivery: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "The lease of delivery %d is no longer %s's (lease %d).", id, node, gen)
	}
	return nil
}

// ReleaseDeliveries frees node's leases on deliveries still pending. The
// attempt they counted is given back: it never reached the server. The
// e-mails it had handed over are in doubt instead.
func (s *NotificationService) ReleaseDeliveries(ctx context.Context, node string, handedOver []int64, at time.Time) (freed, inDoubt int, err error) {
	ids, _ := json.Marshal(append([]int64{}, handedOver...))
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("release deliveries: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'in_doubt', sent_at = COALESCE(handover_at, ?), error = `+inDoubtError+`,
		lease_node = '', lease_until = NULL
		WHERE lease_node = ? AND state = 'pending' AND lease_until IS NOT NULL
		AND (handover_at IS NOT NULL OR id IN (SELECT value FROM json_each(?)))
		AND subscriber IN (SELECT id FROM subscribers WHERE channel = 'email')`, formatTime(at), node, string(ids))
	if err != nil {
		return 0, 0, fmt.Errorf("release deliveries: %w", err)
	}
	d, _ := res.RowsAffected()
	res, err = tx.ExecContext(ctx, `UPDATE deliveries SET lease_node = '', lease_until = NULL, handover_at = NULL, attempts = max(attempts - 1, 0)
		WHERE lease_node = ? AND state = 'pending' AND lease_until IS NOT NULL`, node)
	if err != nil {
		return 0, 0, fmt.Errorf("release deliveries: %w", err)
	}
	f, _ := res.RowsAffected()
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("release deliveries: %w", err)
	}
	return int(f), int(d), nil
}

// UpdateDelivery records what became of a delivery node holds under gen.
func (s *NotificationService) UpdateDelivery(ctx context.Context, id int64, node string, gen int64, upd slokeeper.DeliveryUpdate) error {
	set := sqlbuild.Question().Add("state = ?", upd.State).Add("error = ?", upd.Error)
	switch upd.State {
	case slokeeper.DeliveryInDoubt:
		// The holder's last word: nobody holds it any more.
		set.Raw("lease_node = ''").Raw("lease_until = NULL")
		fallthrough
	case slokeeper.DeliverySent:
		set.Add("sent_at = ?", formatTime(upd.At))
	case slokeeper.DeliveryPending:
		// Put back: nobody holds it until it is claimed again, and
		// nothing of it was handed over.
		set.Add("next_at = ?", formatTime(upd.NextAt)).Raw("lease_until = NULL").Raw("lease_node = ''").Raw("handover_at = NULL")
	case slokeeper.DeliveryFailed:
	default:
		return slokeeper.Errorf(slokeeper.EINVALID, "No delivery state %q.", upd.State)
	}
	res, err := s.db.write.ExecContext(ctx, `UPDATE deliveries SET `+set.Set()+` WHERE id = `+set.Arg(id)+
		` AND lease_node = `+set.Arg(node)+` AND lease_gen = `+set.Arg(gen)+` AND state IN ('pending', 'in_doubt')`, set.Args()...)
	if err != nil {
		return fmt.Errorf("update delivery: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "Delivery %d is not held by %s (lease %d).", id, node, gen)
	}
	return nil
}

// CountDeliveries sums an announcement's deliveries by state.
func (s *NotificationService) CountDeliveries(ctx context.Context, announcement int64) (slokeeper.DeliveryCount, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT state, count(*), sum(attempts > 1) FROM deliveries WHERE announcement = ? GROUP BY state`, announcement)
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
	where := sqlbuild.Question().Eq("state", f.State)
	if f.Announcement != 0 {
		where.Add("announcement = ?", f.Announcement)
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE `+where.String()+` ORDER BY id`, where.Args()...)
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
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("finish announcement: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE announcements SET done_at = ? WHERE id = ? AND fanned_out = 1 AND done_at IS NULL`, formatTime(at), id)
	if err != nil {
		return false, fmt.Errorf("finish announcement: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	if err := insertEvidence(ctx, tx, e); err != nil {
		return false, fmt.Errorf("finish announcement: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("finish announcement: %w", err)
	}
	return true, nil
}

// PruneDeliveries removes the finished deliveries of announcements done
// before before, and confirmations sent or failed before it.
func (s *NotificationService) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	b := formatTime(before)
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM deliveries WHERE state <> 'pending' AND (
		announcement IN (SELECT id FROM announcements WHERE done_at < ?) OR (announcement IS NULL AND sent_at < ?))`, b, b)
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
