// Package obligation keeps the policy's periodic obligations: the access
// review (access.review_every) and the internal audit
// (security.audit_every). It says when each is due from the last sign-off,
// whether it is due soon or overdue, and builds a sign-off's evidence.
// The console, the API and the reminders all take a status
// from Evaluate, so "due" means the same everywhere. Load reads what
// Evaluate needs, and Reminders mails the admins, through interfaces.
package obligation

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"slokeeper"
	"slokeeper/internal/smtp"
	"slokeeper/maintenance"
	"slokeeper/policy"
)

// Kinds of obligation, as evidence subjects and URLs name them.
const (
	AccessReview  = "access_review"
	InternalAudit = "internal_audit"
)

// ActionSignOff is the evidence action of a sign-off.
const ActionSignOff = "signoff"

// ActionReminder is the evidence action of a reminder sent to admins.
const ActionReminder = "reminder"

// States of an obligation at an instant.
const (
	StateOK      = "ok"       // done, next due later than RemindBefore from now
	StateDueSoon = "due_soon" // due within RemindBefore
	StateOverdue = "overdue"  // past its due date with no sign-off
)

// RemindBefore is how long before its due date an obligation is due soon
// and admins are first reminded.
const RemindBefore = 14 * 24 * time.Hour

// MaxNote bounds a sign-off's note, in characters.
const MaxNote = 4000

// Obligation is one periodic duty of the policy.
type Obligation struct {
	Kind   string          `json:"kind"`
	Clause string          `json:"clause"` // the policy clause it is part of
	Name   policy.Text     `json:"name"`
	Every  policy.Duration `json:"every"`
}

// List returns the policy's obligations in policy order; one whose cadence
// is zero is not listed.
func List(p *policy.Policy) []Obligation {
	var out []Obligation
	if !p.Access.ReviewEvery.IsZero() {
		out = append(out, Obligation{Kind: AccessReview, Clause: policy.ClauseAccess, Every: p.Access.ReviewEvery,
			Name: policy.Text{JA: "アクセスレビュー", EN: "Access review"}})
	}
	if !p.Security.AuditEvery.IsZero() {
		out = append(out, Obligation{Kind: InternalAudit, Clause: policy.ClauseSecurity, Every: p.Security.AuditEvery,
			Name: policy.Text{JA: "社内監査", EN: "Internal audit"}})
	}
	return out
}

// Find returns the policy's obligation of kind, or ENOTFOUND.
func Find(p *policy.Policy, kind string) (Obligation, error) {
	for _, o := range List(p) {
		if o.Kind == kind {
			return o, nil
		}
	}
	return Obligation{}, slokeeper.Errorf(slokeeper.ENOTFOUND, "The policy has no periodic obligation %q (access_review, internal_audit).", kind)
}

// Status is an obligation's state at an instant.
type Status struct {
	Obligation
	// Last is the latest sign-off's evidence, nil when there was none.
	Last *slokeeper.Evidence `json:"last,omitempty"`
	// Due is when the next sign-off is due: the last one's time plus the
	// cadence, or, when there was none, the origin plus the cadence.
	Due   time.Time `json:"due"`
	State string    `json:"state"`
}

// Evaluate is o's status at now, given its latest sign-off (nil: none)
// and the origin, the time slokeeper began keeping this policy (the
// audit ledger's first entry): an obligation never done is due one
// cadence after it.
func Evaluate(o Obligation, last *slokeeper.Evidence, origin, now time.Time) Status {
	st := Status{Obligation: o, Last: last}
	from := origin
	if last != nil {
		from = last.At
	}
	st.Due = o.Every.AddTo(from)
	switch {
	case !now.Before(st.Due):
		st.State = StateOverdue
	case st.Due.Sub(now) <= RemindBefore:
		st.State = StateDueSoon
	default:
		st.State = StateOK
	}
	return st
}

// SignOff checks a sign-off of st by an admin at now and returns its
// evidence: ok when signed by the due date, late after it. note says who
// reviewed what and what was found; it is required. digest, when not
// empty, names the content reviewed (for the access review, the hash of
// the review the admin saw).
func SignOff(st Status, by, note, digest, node string, now time.Time) (*slokeeper.Evidence, error) {
	note = strings.TrimSpace(note)
	switch {
	case note == "":
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "A sign-off needs a note: who reviewed what, and what was found.")
	case utf8.RuneCountInString(note) > MaxNote:
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "A sign-off's note is at most %d characters.", MaxNote)
	case !utf8.ValidString(note) || strings.ContainsRune(note, 0):
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "A sign-off's note must be text.")
	}
	detail := "signed off by " + by + ": " + note
	if digest != "" {
		detail += " [reviewed " + digest + "]"
	}
	outcome := slokeeper.OutcomeOK
	if now.After(st.Due) {
		outcome = slokeeper.OutcomeLate
	}
	return &slokeeper.Evidence{At: now, Clause: st.Clause, Action: ActionSignOff, Subject: st.Kind, Deadline: st.Due,
		Outcome: outcome, Detail: detail, Node: node}, nil
}

// Reminder is the reminder owed for st at now, if any: its stage
// (due_soon or overdue) and the evidence subject that records it was
// sent, unique per obligation, due date and stage, so each is sent once.
func Reminder(st Status, loc *time.Location) (subject string, ok bool) {
	if st.State == StateOK {
		return "", false
	}
	return st.Kind + "/" + st.Due.In(loc).Format(time.DateOnly) + "/" + st.State, true
}

// Load returns the status of each of the policy's obligations at now,
// reading the latest sign-off of each from ev and the origin (the first
// audit entry's time; now when the ledger is empty) from audit.
func Load(ctx context.Context, p *policy.Policy, ev slokeeper.EvidenceService, audit slokeeper.AuditStore, now time.Time) ([]Status, error) {
	origin := now
	err := audit.EachAuditEntry(ctx, 1, 1, func(e *slokeeper.AuditEntry) error {
		origin = e.At
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, o := range List(p) {
		last, err := Latest(ctx, ev, o, ActionSignOff, o.Kind)
		if err != nil {
			return nil, err
		}
		out = append(out, Evaluate(o, last, origin, now))
	}
	return out, nil
}

// Latest returns the newest evidence of action on subject for o's clause,
// nil when there is none.
func Latest(ctx context.Context, ev slokeeper.EvidenceService, o Obligation, action, subject string) (*slokeeper.Evidence, error) {
	f := slokeeper.EvidenceFilter{Clause: o.Clause, Action: action, Subject: subject, Limit: 1}
	rows, n, err := ev.FindEvidence(ctx, f)
	if err != nil || n <= 1 {
		if len(rows) == 0 {
			return nil, err
		}
		return rows[0], err
	}
	f.Offset = n - 1
	if rows, _, err = ev.FindEvidence(ctx, f); err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

// Mailer sends one e-mail; *smtp.Mailer is one.
type Mailer interface {
	Send(ctx context.Context, m *smtp.Mail, handOver func() error) error
}

// Reminders sends the reminders owed at now: for each obligation due soon
// or overdue, once per due date and stage, one e-mail to every enabled
// admin with an address, in Japanese and English, and evidence of it
// (failed, naming why, when no admin could be reached, so that a
// reminder nobody got is on record). site is the console's base URL for
// the link. It returns how many e-mails were sent. Two nodes running it
// at once may both send a reminder: it is run by the node that runs the
// lifecycle passes.
func Reminders(ctx context.Context, p *policy.Policy, ev slokeeper.EvidenceService, audit slokeeper.AuditStore, ops slokeeper.OperatorService,
	mailer Mailer, site, node string, now time.Time) (int, error) {
	sts, err := Load(ctx, p, ev, audit, now)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, st := range sts {
		subject, ok := Reminder(st, p.Location())
		if !ok {
			continue
		}
		done, err := Latest(ctx, ev, st.Obligation, ActionReminder, subject)
		if err != nil || done != nil {
			if err != nil {
				return sent, err
			}
			continue
		}
		admins, err := ops.FindOperators(ctx, slokeeper.OperatorFilter{})
		if err != nil {
			return sent, err
		}
		m := reminderMail(st, p, site, now)
		var to, failed []string
		for _, a := range admins {
			if a.Role != slokeeper.RoleAdmin || a.Email == "" || !a.DisabledAt.IsZero() {
				continue
			}
			m.To, m.MessageID = a.Email, fmt.Sprintf("reminder.%s.%s@slokeeper", strings.ReplaceAll(subject, "/", "."), a.ID)
			if err := mailer.Send(ctx, m, func() error { return nil }); err != nil {
				failed = append(failed, a.Name+": "+err.Error())
				continue
			}
			to = append(to, a.Name)
			sent++
		}
		e := &slokeeper.Evidence{At: now, Clause: st.Clause, Action: ActionReminder, Subject: subject, Deadline: st.Due,
			Outcome: slokeeper.OutcomeOK, Detail: "reminded " + strings.Join(to, ", "), Node: node}
		if len(to) == 0 {
			e.Outcome, e.Detail = slokeeper.OutcomeFailed, "no admin could be reminded: none enabled with an e-mail address"
		}
		if len(failed) > 0 {
			e.Detail += "; not sent to " + strings.Join(failed, "; ")
		}
		if err := slokeeper.RecordEvidenceRetrying(ctx, ev, e); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// reminderMail is the reminder for st, in Japanese then English.
func reminderMail(st Status, p *policy.Policy, site string, now time.Time) *smtp.Mail {
	loc := p.Location()
	due := maintenance.JST(st.Due, loc, "ja")
	dueEN := maintenance.JST(st.Due, loc, "en")
	link := strings.TrimRight(site, "/") + "/admin/obligations"
	subjJA, subjEN := st.Name.JA+"の期限が近づいています", st.Name.EN+" is due soon"
	leadJA, leadEN := "期限は "+due+" です。", "It is due by "+dueEN+"."
	if st.State == StateOverdue {
		subjJA, subjEN = st.Name.JA+"の期限を過ぎています", st.Name.EN+" is overdue"
		leadJA, leadEN = "期限の "+due+" を過ぎています。", "It was due by "+dueEN+"."
	}
	body := "管理者各位\n\n" + p.Service.Name.JA + " のポリシーが定める" + st.Name.JA + "(" + policy.Span(st.Every, "ja") + "ごと)について、" + leadJA +
		"\n実施後、運用コンソールで点検の内容と結果を記録してください。\n" + link + "?lang=ja\n\n" +
		"To the admins,\n\nThe " + st.Name.EN + " that the policy of " + p.Service.Name.EN + " asks for every " + policy.Span(st.Every, "en") + ": " + leadEN +
		"\nOnce it is done, record what was reviewed and what was found in the console.\n" + link + "?lang=en\n\n-- \nslokeeper\n"
	return &smtp.Mail{Lang: "ja", Subject: "[slokeeper] " + subjJA + " / " + subjEN, Body: body, Date: now}
}
