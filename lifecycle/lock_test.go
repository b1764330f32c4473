package lifecycle_test

import (
	"strings"
	"testing"
	"time"

	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// TestLockConflicts: an object lock's default retention outlasts a class's
// ceiling once a backup written now would still be locked at it; on the
// default policy user-data snapshots go 14 days after they are made,
// execution-environment backups 1 year, system-log backups 3 years after
// generation (the oldest day of a set made now: the 1st of last month).
func TestLockConflicts(t *testing.T) {
	p := policy.Default()
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		days int
		want string
	}{
		{0, ""},
		{14, ""},
		{15, "user_data"},
		{365, "user_data"},
		{366, "user_data,exec_logs"},
		{3*365 - 40, "user_data,exec_logs"}, // 2029-10-23: before 2029-11-02
		{3*365 - 20, "system_logs,user_data,exec_logs"}, // 2029-11-12: after
	} {
		got, err := lifecycle.LockConflicts(p, tc.days, now)
		if err != nil {
			t.Fatal(err)
		}
		var classes []string
		for _, c := range got {
			classes = append(classes, c.Class)
			if !c.LockedUntil.After(c.EraseBy) {
				t.Errorf("%d days: %+v is no conflict", tc.days, c)
			}
		}
		if s := strings.Join(classes, ","); s != tc.want {
			t.Errorf("%d days of retention outlast %q, want %q", tc.days, s, tc.want)
		}
	}
	got, _ := lifecycle.LockConflicts(p, 30, now)
	if m := got[0].Message(p.Location()); !strings.Contains(m.EN, "until 2027-01-01") || !strings.Contains(m.EN, "ceiling 2026-12-16") || !strings.Contains(m.JA, "2027-01-01") {
		t.Errorf("message: %+v", m)
	}
}
