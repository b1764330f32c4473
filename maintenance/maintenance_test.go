package maintenance_test

import (
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
	"slokeeper/policy"
)

var tokyo, _ = time.LoadLocation("Asia/Tokyo")

func TestCheck(t *testing.T) {
	p := policy.Default()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, tokyo) // Wednesday
	window := func(startIn time.Duration, emergency bool, reason string) *slokeeper.Maintenance {
		return &slokeeper.Maintenance{TitleJA: "データベースの更新", TitleEN: "Database upgrade", Start: now.Add(startIn), End: now.Add(startIn + 2*time.Hour),
			Emergency: emergency, Reason: reason, CreatedAt: now}
	}
	// Six days ahead: refused, saying the earliest start, in both languages.
	err := maintenance.Check(p, window(6*24*time.Hour, false, ""), now)
	msg := slokeeper.ErrorMessage(err)
	if slokeeper.ErrorCode(err) != slokeeper.EINVALID || !strings.Contains(msg, "Wed 2 Dec 2026 10:00 JST") || !strings.Contains(msg, "2026年12月2日(水) 10:00 JST") || !strings.Contains(msg, "7日") {
		t.Errorf("six days ahead = %v", err)
	}
	// Seven days exactly, and eight: fine.
	for _, d := range []time.Duration{7 * 24 * time.Hour, 8 * 24 * time.Hour} {
		if err := maintenance.Check(p, window(d, false, ""), now); err != nil {
			t.Errorf("%v ahead = %v", d, err)
		}
	}
	// An emergency: at once, with a reason; without one, refused.
	if err := maintenance.Check(p, window(10*time.Minute, true, "脆弱性の緊急修正 (a security fix)"), now); err != nil {
		t.Errorf("emergency = %v", err)
	}
	if err := maintenance.Check(p, window(10*time.Minute, true, " "), now); err == nil || !strings.Contains(slokeeper.ErrorMessage(err), "needs a reason") {
		t.Errorf("emergency without a reason = %v", err)
	}
	noEmergency := *p
	noEmergency.Maintenance.Emergency.Allowed = false
	if err := maintenance.Check(&noEmergency, window(10*time.Minute, true, "x"), now); err == nil {
		t.Error("an emergency window the policy does not allow was accepted")
	}
	// Rescheduled later: the notice counts from the announcement.
	m := window(8*24*time.Hour, false, "")
	later := now.Add(3 * 24 * time.Hour)
	m.Start, m.End = now.Add(6*24*time.Hour+time.Hour), now.Add(6*24*time.Hour+3*time.Hour)
	if err := maintenance.Check(p, m, later); err == nil {
		t.Error("moved to six days after its announcement: accepted")
	}
	m.Start, m.End = now.Add(9*24*time.Hour), now.Add(9*24*time.Hour+time.Hour)
	if err := maintenance.Check(p, m, later); err != nil {
		t.Errorf("moved later = %v", err)
	}
	// Nonsense.
	bad := window(8*24*time.Hour, false, "")
	bad.End = bad.Start
	if err := maintenance.Check(p, bad, now); err == nil {
		t.Error("an empty window was accepted")
	}
	if err := maintenance.Check(p, &slokeeper.Maintenance{TitleJA: "x", Start: now.Add(8 * 24 * time.Hour), End: now.Add(9 * 24 * time.Hour), CreatedAt: now}, now); err == nil {
		t.Error("a window without an English title was accepted")
	}
	if err := maintenance.Check(p, window(-time.Hour, true, "x"), now); err == nil {
		t.Error("a window in the past was accepted")
	}
}

func TestNotices(t *testing.T) {
	p := policy.Default()
	created := time.Date(2026, 11, 25, 10, 0, 0, 0, tokyo)
	m := &slokeeper.Maintenance{CreatedAt: created, Start: time.Date(2026, 12, 3, 1, 0, 0, 0, tokyo), End: time.Date(2026, 12, 3, 3, 0, 0, 0, tokyo)}
	var got []string
	for _, n := range maintenance.Notices(p, m) {
		got = append(got, n.Kind+" "+n.At.Format("01-02 15:04"))
	}
	// The reference policy's reminder is a day before the start.
	if want := "scheduled 11-25 10:00,reminder 12-02 01:00,start 12-03 01:00,end 12-03 03:00"; strings.Join(got, ",") != want {
		t.Errorf("notices = %s\nwant %s", strings.Join(got, ","), want)
	}
	// An emergency starting within the day: no reminder after the announcement.
	m.Start, m.End = created.Add(time.Hour), created.Add(2*time.Hour)
	if ns := maintenance.Notices(p, m); len(ns) != 3 || ns[1].Kind != maintenance.NoticeStart {
		t.Errorf("emergency notices = %+v", ns)
	}
	m.CancelledAt = created.Add(time.Minute)
	if ns := maintenance.Notices(p, m); len(ns) != 1 {
		t.Errorf("a cancelled window's notices = %+v", ns)
	}
}

func TestJST(t *testing.T) {
	at := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	if got := maintenance.JST(at, tokyo, "ja"); got != "2026年12月3日(木) 10:00 JST" {
		t.Errorf("ja = %q", got)
	}
	if got := maintenance.JST(at, tokyo, "en"); got != "Thu 3 Dec 2026 10:00 JST" {
		t.Errorf("en = %q", got)
	}
}

// TestNoticeDeadline: with a month's notice, a window accepted on Jan 31
// (starting Feb 28, the earliest Check allows) has its notice on time;
// the deadline is the last instant Check would still accept.
func TestNoticeDeadline(t *testing.T) {
	p := policy.Default()
	p.Maintenance.Notice = policy.Duration{Months: 1}
	for _, tt := range []struct{ announced, start time.Time }{
		{time.Date(2027, 1, 31, 10, 0, 0, 0, tokyo), time.Date(2027, 2, 28, 10, 0, 0, 0, tokyo)}, // clamped
		{time.Date(2028, 1, 30, 9, 0, 0, 0, tokyo), time.Date(2028, 2, 29, 9, 0, 0, 0, tokyo)},   // leap year
		{time.Date(2027, 3, 15, 12, 0, 0, 0, tokyo), time.Date(2027, 4, 15, 12, 0, 0, 0, tokyo)}, // no clamping
	} {
		m := &slokeeper.Maintenance{TitleJA: "更新", TitleEN: "Upgrade", Start: tt.start, End: tt.start.Add(time.Hour), CreatedAt: tt.announced}
		if err := maintenance.Check(p, m, tt.announced); err != nil {
			t.Fatalf("Check(announced %v, start %v) = %v", tt.announced, tt.start, err)
		}
		d := maintenance.NoticeDeadline(p, tt.start)
		if tt.announced.After(d) {
			t.Errorf("NoticeDeadline(%v) = %v: the window Check accepted on %v would be evidenced as late", tt.start, d, tt.announced)
		}
		if err := maintenance.Check(p, &slokeeper.Maintenance{TitleJA: "更新", TitleEN: "Upgrade", Start: tt.start, End: tt.start.Add(time.Hour),
			CreatedAt: d.Add(time.Second)}, d.Add(time.Second)); err == nil {
			t.Errorf("NoticeDeadline(%v) = %v, but a second later is still accepted: the deadline is too early", tt.start, d)
		}
	}
}
