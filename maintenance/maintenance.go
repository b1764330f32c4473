// Package maintenance holds the rules of maintenance windows, without
// I/O: a planned window is announced at least the policy's notice before
// it starts (or refused, saying the earliest start allowed); an emergency
// window needs the policy's leave and a reason, and is announced at once;
// and the notices a window gets, and when.
package maintenance

import (
	"fmt"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/policy"
)

// EarliestStart is the earliest start a planned window announced at
// announced may have.
func EarliestStart(p *policy.Policy, announced time.Time) time.Time {
	return p.Maintenance.Notice.AddTo(announced)
}

// NoticeDeadline is the latest time a planned window starting at start
// may be announced: the latest t with EarliestStart(p, t) not after
// start. It is the same rule Check applies, so a window accepted is
// never later evidenced as announced late. With a month-based notice it
// is not start minus a month: a window starting Feb 28 may be announced
// until Jan 31, as Jan 31 plus a month is Feb 28 (clamped).
func NoticeDeadline(p *policy.Policy, start time.Time) time.Time {
	d := p.Maintenance.Notice.SubFrom(start)
	// Clamping makes up to three more calendar days (a year: one) lead
	// to the same start; step forward while they do.
	for range 4 {
		next := d.AddDate(0, 0, 1)
		if EarliestStart(p, next).After(start) {
			break
		}
		d = next
	}
	return d
}

// Check checks a window announced (created) at m.CreatedAt, and
// rescheduled at now if that is later.
func Check(p *policy.Policy, m *slokeeper.Maintenance, now time.Time) error {
	bad := func(format string, args ...any) error { return slokeeper.Errorf(slokeeper.EINVALID, format, args...) }
	loc := p.Location()
	switch {
	case strings.TrimSpace(m.TitleJA) == "" || strings.TrimSpace(m.TitleEN) == "":
		return bad("A maintenance window needs a title in Japanese and in English (title_ja, title_en).")
	case !m.End.After(m.Start):
		return bad("The window ends (%s) before it starts (%s).", JST(m.End, loc, "en"), JST(m.Start, loc, "en"))
	case m.Start.Before(now.Add(-time.Minute)):
		return bad("The window starts in the past (%s).", JST(m.Start, loc, "en"))
	}
	if m.Emergency {
		switch {
		case !p.Maintenance.Emergency.Allowed:
			return bad("The policy allows no emergency maintenance (maintenance.emergency.allowed).")
		case strings.TrimSpace(m.Reason) == "":
			return bad("An emergency window needs a reason: why it could not be announced %s ahead.", policy.Span(p.Maintenance.Notice, "en"))
		}
		return nil
	}
	if earliest := EarliestStart(p, m.CreatedAt); m.Start.Before(earliest) {
		return slokeeper.Errorf(slokeeper.EINVALID, "Planned maintenance is announced at least %s before it starts (maintenance.notice): "+
			"the earliest start for a window announced %s is %s. For a stop that cannot wait, schedule an emergency window with a reason. / "+
			"計画メンテナンスは開始の%s前までにお知らせする必要があります。%sに告知する場合、最も早い開始は%sです。待てない停止は、理由を添えて緊急メンテナンスとして登録してください。",
			policy.Span(p.Maintenance.Notice, "en"), JST(m.CreatedAt, loc, "en"), JST(earliest, loc, "en"),
			policy.Span(p.Maintenance.Notice, "ja"), JST(m.CreatedAt, loc, "ja"), JST(earliest, loc, "ja"))
	}
	return nil
}

var weekdaysJA = [...]string{"日", "月", "火", "水", "木", "金", "土"}

// JST formats t as Japanese status pages do, "2026年12月3日(木) 10:00 JST",
// or in English "Thu 3 Dec 2026 10:00 JST", in loc.
func JST(t time.Time, loc *time.Location, lang string) string {
	t = t.In(loc)
	zone, _ := t.Zone()
	if lang == "ja" {
		return fmt.Sprintf("%d年%d月%d日(%s) %s %s", t.Year(), t.Month(), t.Day(), weekdaysJA[t.Weekday()], t.Format("15:04"), zone)
	}
	return t.Format("Mon 2 Jan 2006 15:04 ") + zone
}

// Notice kinds.
const (
	NoticeScheduled = "scheduled" // announced
	NoticeReminder  = "reminder"  // the policy's reminder before the start
	NoticeStart     = "start"
	NoticeEnd       = "end"
)

// Notice is a notice a window gets, and when it is due.
type Notice struct {
	Kind string
	At   time.Time
}

// Notices returns the notices of a window announced at m.CreatedAt, in
// order: at once, the reminder (if the policy sets one and it falls after
// the announcement), at the start and at the end. A cancelled window gets
// none beyond its cancellation (the notifier sends that).
func Notices(p *policy.Policy, m *slokeeper.Maintenance) []Notice {
	out := []Notice{{NoticeScheduled, m.CreatedAt}}
	if !m.CancelledAt.IsZero() {
		return out
	}
	if r := p.Maintenance.Reminder; !r.IsZero() {
		if at := r.SubFrom(m.Start); at.After(m.CreatedAt) {
			out = append(out, Notice{NoticeReminder, at})
		}
	}
	return append(out, Notice{NoticeStart, m.Start}, Notice{NoticeEnd, m.End})
}
