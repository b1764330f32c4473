package obligation

import (
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/policy"
)

// TestEvaluate: an obligation is due one cadence after its last sign-off,
// or after the origin when never done; due soon within RemindBefore,
// overdue from its due date on; each reminder stage has its own subject.
func TestEvaluate(t *testing.T) {
	p := policy.Default()
	o, err := Find(p, AccessReview)
	if err != nil {
		t.Fatal(err)
	}
	jst := p.Location()
	origin := time.Date(2026, 1, 10, 9, 0, 0, 0, jst)
	wantDue := time.Date(2026, 4, 10, 9, 0, 0, 0, jst) // review_every: 3mo
	for _, c := range []struct {
		now   time.Time
		state string
	}{
		{origin, StateOK},
		{wantDue.Add(-RemindBefore - time.Second), StateOK},
		{wantDue.Add(-RemindBefore), StateDueSoon},
		{wantDue.Add(-time.Second), StateDueSoon},
		{wantDue, StateOverdue},
	} {
		st := Evaluate(o, nil, origin, c.now)
		if !st.Due.Equal(wantDue) || st.State != c.state {
			t.Errorf("at %s: due %s state %s, want %s %s", c.now, st.Due, st.State, wantDue, c.state)
		}
	}
	last := &slokeeper.Evidence{At: time.Date(2026, 3, 1, 15, 0, 0, 0, jst)}
	if st := Evaluate(o, last, origin, wantDue); !st.Due.Equal(time.Date(2026, 6, 1, 15, 0, 0, 0, jst)) || st.State != StateOK {
		t.Errorf("after a sign-off on 3-01: due %s %s, want 2026-06-01 15:00 ok", st.Due, st.State)
	}
	soon, _ := Reminder(Evaluate(o, nil, origin, wantDue.Add(-time.Hour)), jst)
	late, _ := Reminder(Evaluate(o, nil, origin, wantDue), jst)
	if soon != "access_review/2026-04-10/due_soon" || late != "access_review/2026-04-10/overdue" {
		t.Errorf("reminder subjects %q %q", soon, late)
	}
	if _, ok := Reminder(Evaluate(o, nil, origin, origin), jst); ok {
		t.Error("a reminder is owed for an obligation on schedule")
	}
}

// TestSignOff: a sign-off needs a note; by the due date it is ok, after
// it late, and its evidence names who signed, what was reviewed and the
// due date as its deadline.
func TestSignOff(t *testing.T) {
	p := policy.Default()
	o, _ := Find(p, InternalAudit)
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := Evaluate(o, nil, origin, origin)
	for _, note := range []string{"", "  \n", strings.Repeat("あ", MaxNote+1), "a\x00b"} {
		if _, err := SignOff(st, "alice", note, "", "n1", origin); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
			t.Errorf("note %.20q: err %v, want EINVALID", note, err)
		}
	}
	ev, err := SignOff(st, "alice", "脆弱性診断と設定点検を実施、指摘なし", "", "n1", st.Due)
	if err != nil || ev.Outcome != slokeeper.OutcomeOK || ev.Clause != policy.ClauseSecurity || ev.Subject != InternalAudit ||
		!ev.Deadline.Equal(st.Due) || !strings.Contains(ev.Detail, "signed off by alice: 脆弱性診断") {
		t.Fatalf("on time: %+v, %v", ev, err)
	}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	ev, _ = SignOff(st, "bob", "done", "sha256:ab", "n1", st.Due.Add(time.Second))
	if ev.Outcome != slokeeper.OutcomeLate || !strings.Contains(ev.Detail, "[reviewed sha256:ab]") {
		t.Errorf("late: %+v", ev)
	}
	if _, err := Find(p, "coffee"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("unknown kind: %v", err)
	}
}
