package uptime_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"slokeeper/uptime"
)

var tokyo, _ = time.LoadLocation("Asia/Tokyo")

// t0 is 2026-12-03 00:00 JST; m(n) is n minutes after it.
var t0 = time.Date(2026, 12, 3, 0, 0, 0, 0, tokyo)

func m(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// checks turns "a:ok@0 a:fail@1 …" into results: node, outcome, minute.
func checks(s string) []uptime.Result {
	var out []uptime.Result
	for _, f := range strings.Fields(s) {
		var node, outcome string
		var at int
		node, rest, _ := strings.Cut(f, ":")
		outcome, min, _ := strings.Cut(rest, "@")
		fmt.Sscan(min, &at)
		out = append(out, uptime.Result{At: m(at), Node: node, OK: outcome == "ok"})
	}
	return out
}

func describe(spans []uptime.Span) string {
	var b strings.Builder
	for _, s := range spans {
		state := "up"
		if s.Down {
			state = "down"
		}
		fmt.Fprintf(&b, "%s %d-%d; ", state, int(s.From.Sub(t0)/time.Minute), int(s.To.Sub(t0)/time.Minute))
	}
	return b.String()
}

func TestTimeline(t *testing.T) {
	one := uptime.Rule{Consecutive: 1, Nodes: 1}
	three := uptime.Rule{Consecutive: 3, Nodes: 1}
	twoNodes := uptime.Rule{Consecutive: 2, Nodes: 2}
	tests := []struct {
		name    string
		results string
		rule    uptime.Rule
		want    string
	}{
		{"AllUp", "a:ok@0 a:ok@1 a:ok@2", three, "up 0-10; "},
		{"OneFailureIsNotDown", "a:ok@0 a:fail@1 a:ok@2", three, "up 0-10; "},
		{"TwoInARowNeither", "a:ok@0 a:fail@1 a:fail@2 a:ok@3", three, "up 0-10; "},
		// Confirmed at minute 3, down from the first failure of the run.
		{"ThreeInARowIsDown", "a:ok@0 a:fail@1 a:fail@2 a:fail@3 a:ok@5", three, "up 0-1; down 1-5; up 5-10; "},
		{"DownToTheEnd", "a:ok@0 a:fail@1 a:fail@2 a:fail@3", three, "up 0-1; down 1-10; "},
		{"DownFromTheStart", "a:fail@0 a:ok@4", one, "down 0-4; up 4-10; "},
		{"OrderDoesNotMatter", "a:ok@5 a:fail@3 a:fail@1 a:ok@0 a:fail@2", three, "up 0-1; down 1-5; up 5-10; "},
		// One node's network trouble is not an outage; two nodes' is.
		{"OneNodeSeesIt", "a:fail@1 b:ok@1 a:fail@2 b:ok@2 a:fail@3 b:ok@3", twoNodes, "up 1-10; "},
		{"TwoNodesSeeIt", "a:ok@0 b:ok@0 a:fail@2 b:fail@3 a:fail@4 b:fail@5 a:ok@7 b:ok@7", twoNodes, "up 0-3; down 3-7; up 7-10; "},
		{"ResultsAfterTheEndIgnored", "a:ok@0 a:fail@11 a:fail@12 a:fail@13", three, "up 0-10; "},
		{"Nothing", "", three, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(uptime.Timeline(checks(tt.results), tt.rule, m(10))); got != tt.want {
				t.Errorf("Timeline(%s) = %s, want %s", tt.results, got, tt.want)
			}
		})
	}
}

func TestDaysExcludeMaintenance(t *testing.T) {
	// Down 01:00–03:00 on December 3; maintenance 02:00–04:00 (announced).
	spans := []uptime.Span{
		{From: m(0), To: m(60), Down: false},
		{From: m(60), To: m(180), Down: true},
		{From: m(180), To: m(48 * 60), Down: false},
	}
	maint := []uptime.Interval{{From: m(120), To: m(240)}, {From: m(150), To: m(200)}} // overlapping windows count once
	days := uptime.Days(spans, maint, m(0), m(48*60), tokyo, true)
	if len(days) != 2 || days[0].Day != "2026-12-03" || days[1].Day != "2026-12-04" {
		t.Fatalf("days = %+v", days)
	}
	d := days[0]
	if d.Maintenance != 2*time.Hour || d.Observed != 22*time.Hour || d.Down != time.Hour {
		t.Errorf("December 3: observed %v, down %v, maintenance %v; want 22h, 1h, 2h", d.Observed, d.Down, d.Maintenance)
	}
	if got, want := d.Uptime(), 1-1.0/22; math.Abs(got-want) > 1e-12 {
		t.Errorf("uptime = %v, want %v", got, want)
	}
	if days[1].Uptime() != 1 || days[1].Observed != 24*time.Hour {
		t.Errorf("December 4 = %+v", days[1])
	}
	// Counting maintenance as downtime, as a policy without exclude_maintenance would.
	if all := uptime.Days(spans, maint, m(0), m(24*60), tokyo, false); all[0].Down != 2*time.Hour || all[0].Observed != 24*time.Hour {
		t.Errorf("with maintenance counted: %+v", all[0])
	}
	// Unobserved time is neither up nor down.
	if part := uptime.Count(spans, nil, m(-60), m(60), true); part.Observed != time.Hour || part.Uptime() != 1 {
		t.Errorf("before the first check: %+v", part)
	}
}

func TestErrorBudgetAndBurnRate(t *testing.T) {
	end := m(30 * 24 * 60)
	// 30 days observed, 99.9%: 43.2 minutes allowed.
	up := []uptime.Span{{From: m(0), To: end}}
	b := uptime.ErrorBudget(up, nil, 0.999, end, 30*24*time.Hour, true)
	if b.Allowed != time.Duration(43.2*float64(time.Minute)) || b.Used != 0 || b.Left() != 1 {
		t.Errorf("budget = %+v left %v", b, b.Left())
	}
	// 21.6 minutes down at the end: half the budget left.
	down := []uptime.Span{{From: m(0), To: end.Add(-time.Duration(21.6 * float64(time.Minute)))}, {From: end.Add(-time.Duration(21.6 * float64(time.Minute))), To: end, Down: true}}
	if left := uptime.ErrorBudget(down, nil, 0.999, end, 30*24*time.Hour, true).Left(); math.Abs(left-0.5) > 1e-3 {
		t.Errorf("left = %v, want 0.5", left)
	}
	// All of the last 21.6 minutes down: the 1 h window burns at
	// 21.6/60/0.001 = 360, the 5 m one at 1000: a page; the 6 h and 3 d
	// rows fire too (60 and 5 times the allowed rate).
	alerts := uptime.BurnAlerts(down, nil, 0.999, end, uptime.Workbook, true)
	if len(alerts) != 3 || alerts[2].Severity != uptime.Ticket || alerts[0].Severity != uptime.Page || alerts[0].Long != time.Hour || math.Abs(alerts[0].LongRate-360) > 0.5 {
		t.Errorf("alerts = %+v", alerts)
	}
	// The same outage inside announced maintenance burns nothing.
	maint := []uptime.Interval{{From: end.Add(-time.Hour), To: end}}
	if alerts := uptime.BurnAlerts(down, maint, 0.999, end, uptime.Workbook, true); len(alerts) != 0 {
		t.Errorf("alerts in maintenance = %+v", alerts)
	}
	// An outage that ended an hour ago: the short windows have cooled, no page.
	old := []uptime.Span{{From: m(0), To: end.Add(-2 * time.Hour)}, {From: end.Add(-2 * time.Hour), To: end.Add(-time.Hour), Down: true}, {From: end.Add(-time.Hour), To: end}}
	for _, a := range uptime.BurnAlerts(old, nil, 0.999, end, uptime.Workbook, true) {
		if a.Severity == uptime.Page && a.Long == time.Hour {
			t.Errorf("a cooled outage still pages: %+v", a)
		}
	}
}

// FuzzTimeline: whatever the results, the spans are ordered, contiguous,
// inside [first result, end), and alternate states.
func FuzzTimeline(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 1, 0}, uint8(2), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, consecutive, nodes uint8) {
		var rs []uptime.Result
		for i, x := range b {
			rs = append(rs, uptime.Result{At: m(int(x) % 64), Node: string(rune('a' + i%3)), OK: x&0x80 == 0})
		}
		end := m(60)
		spans := uptime.Timeline(rs, uptime.Rule{Consecutive: int(consecutive % 5), Nodes: int(nodes % 4)}, end)
		for i, s := range spans {
			if !s.To.After(s.From) || s.To.After(end) {
				t.Fatalf("span %d: %+v", i, s)
			}
			if i > 0 && (!s.From.Equal(spans[i-1].To) || s.Down == spans[i-1].Down) {
				t.Fatalf("spans %d and %d: %+v %+v", i-1, i, spans[i-1], s)
			}
		}
	})
}

// A component first checked a few minutes ago, failing since, pages no
// one and states no uptime: too little of each window was observed.
func TestBurnAlertsNeedData(t *testing.T) {
	end := m(30 * 24 * 60)
	fresh := []uptime.Span{{From: end.Add(-10 * time.Minute), To: end.Add(-4 * time.Minute)}, {From: end.Add(-4 * time.Minute), To: end, Down: true}}
	if alerts := uptime.BurnAlerts(fresh, nil, 0.999, end, uptime.Workbook, true); len(alerts) != 0 {
		t.Errorf("a component observed for 10 minutes fires %+v", alerts)
	}
	// Observed for the last 40 minutes, down for all of it: more than half
	// of the hour and all of the 5 minutes, so the fast page fires.
	longer := []uptime.Span{{From: end.Add(-40 * time.Minute), To: end, Down: true}}
	alerts := uptime.BurnAlerts(longer, nil, 0.999, end, uptime.Workbook, true)
	if len(alerts) != 1 || alerts[0].Long != time.Hour {
		t.Errorf("40 minutes down fires %+v, want the 1 h page only", alerts)
	}
	if uptime.Enough(10*time.Minute) || uptime.Enough(uptime.MinObserved-time.Second) || !uptime.Enough(uptime.MinObserved) {
		t.Error("Enough does not follow MinObserved")
	}
}
