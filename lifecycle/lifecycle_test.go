package lifecycle_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"slokeeper/lifecycle"
	"slokeeper/policy"
)

var tokyo, _ = time.LoadLocation("Asia/Tokyo")

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, tokyo)
	if err != nil {
		panic(err)
	}
	return t
}

// withPolicy returns the default policy, changed by edit in its YAML.
func withPolicy(t *testing.T, edits ...[2]string) *policy.Policy {
	t.Helper()
	src := string(policy.DefaultYAML())
	for _, e := range edits {
		if !strings.Contains(src, e[0]) {
			t.Fatalf("edit %q not found", e[0])
		}
		src = strings.Replace(src, e[0], e[1], 1)
	}
	p, _, err := policy.Load("test", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func describe(as []lifecycle.Action, now time.Time) string {
	var b strings.Builder
	for _, a := range as {
		if a.Account != "" {
			fmt.Fprintf(&b, "%s %s/%s/%s", a.Kind, a.Class, a.Account, a.Day)
		} else {
			fmt.Fprintf(&b, "%s %s/%s", a.Kind, a.Class, a.Day)
		}
		if a.BackupID != "" {
			fmt.Fprintf(&b, " %s", a.BackupID)
		}
		if !a.Deadline.IsZero() {
			fmt.Fprintf(&b, " by %s", a.Deadline.In(tokyo).Format("2006-01-02 15:04"))
		}
		if a.Late(now) {
			b.WriteString(" LATE")
		}
		b.WriteString("; ")
	}
	return b.String()
}

// The checksums of two contents of one day: as first sealed with 5
// records, and sealed again with 65 (another node's records migrated in).
const (
	sum5  = "5555555555555555555555555555555555555555555555555555555555555555"
	sum65 = "6565656565656565656565656565656565656565656565656565656565656565"
)

func TestPlan(t *testing.T) {
	def := policy.Default()
	noInterlock := withPolicy(t, [2]string{"    interlock: true\n    on_account_deletion: null\n\naccess", "    interlock: false\n    on_account_deletion: null\n\naccess"})
	keepWins := withPolicy(t, [2]string{"precedence: erase", "precedence: keep"})
	sealed := func(class, day string) lifecycle.Partition {
		return lifecycle.Partition{Class: class, Day: day, Sealed: true, Checksum: sum65, Records: 65}
	}
	copyOf := func(class, day, id, created string, verified bool) lifecycle.BackupCopy {
		return lifecycle.BackupCopy{ID: id, Class: class, Day: day, Created: at(created), Verified: verified, Checksum: sum65, Records: 65}
	}
	oldCopy := func(id, created string) lifecycle.BackupCopy {
		return lifecycle.BackupCopy{ID: id, Class: "exec", Day: "2026-12-03", Created: at(created), Verified: true, Checksum: sum5, Records: 5}
	}
	tests := []struct {
		name string
		p    *policy.Policy
		inv  lifecycle.Inventory
		now  string
		want string
	}{
		{"BackupASealedDay", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2026-12-03"), {Class: "exec", Day: "2026-12-04"}}},
			"2026-12-04 01:00:00", "backup exec/2026-12-03 by 2027-01-03 00:00; "},
		{"NothingWhileFresh", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2026-12-03")},
			Backups: []lifecycle.BackupCopy{copyOf("exec", "2026-12-03", "b1", "2026-12-04 00:20:00", true)}},
			"2027-01-03 12:00:00", ""},
		{"EraseOriginalAtCeiling", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2026-12-03")},
			Backups: []lifecycle.BackupCopy{copyOf("exec", "2026-12-03", "b1", "2026-12-04 00:20:00", true)}},
			"2027-01-04 00:00:00", "erase_original exec/2026-12-03 by 2027-01-05 00:00; "},
		{"EraseOriginalLate", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2026-12-03")},
			Backups: []lifecycle.BackupCopy{copyOf("exec", "2026-12-03", "b1", "2026-12-04 00:20:00", true)}},
			"2027-01-05 00:00:01", "erase_original exec/2026-12-03 by 2027-01-05 00:00 LATE; "},
		{"InterlockHolds", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2026-12-03")},
			Backups: []lifecycle.BackupCopy{copyOf("exec", "2026-12-03", "b1", "2026-12-04 00:20:00", false)}},
			"2027-01-04 00:00:00", "verify exec/2026-12-03 b1 by 2027-01-03 00:00 LATE; held exec/2026-12-03 by 2027-01-05 00:00; "},
		{"InterlockOff", noInterlock, lifecycle.Inventory{Partitions: []lifecycle.Partition{{Class: "exec", Day: "2026-12-03"}}},
			"2027-01-04 00:00:00", "erase_original exec/2026-12-03 by 2027-01-05 00:00; "},
		{"FailedBackupIsLate", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("system", "2026-10-15")}},
			"2026-11-05 00:00:00", "backup system/2026-10-15 by 2026-11-03 00:00 LATE; "},
		// Content identity: the day was sealed with 5 records and backed
		// up, then sealed again with 65 (another node's records migrated
		// in). The old copy covers nothing of it: a new backup is due and
		// the erase is held until that copy is verified.
		{"ResealedIsDueABackup", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2026-12-03")},
			Backups: []lifecycle.BackupCopy{oldCopy("b0", "2026-12-04 00:20:00")}},
			"2026-12-05 00:00:00", "backup exec/2026-12-03 by 2027-01-03 00:00; "},
		{"ResealedEraseHeld", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2026-12-03")},
			Backups: []lifecycle.BackupCopy{oldCopy("b0", "2026-12-04 00:20:00")}},
			"2027-01-04 00:00:00", "backup exec/2026-12-03 by 2027-01-03 00:00 LATE; held exec/2026-12-03 by 2027-01-05 00:00; "},
		{"ResealedUnverifiedCopyHolds", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2026-12-03")},
			Backups: []lifecycle.BackupCopy{oldCopy("b0", "2026-12-04 00:20:00"), copyOf("exec", "2026-12-03", "b1", "2027-01-03 12:00:00", false)}},
			"2027-01-04 00:00:00", "verify exec/2026-12-03 b1 by 2027-01-03 00:00 LATE; held exec/2026-12-03 by 2027-01-05 00:00; "},
		{"ResealedCoveredByNewCopy", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2026-12-03")},
			Backups: []lifecycle.BackupCopy{oldCopy("b0", "2026-12-04 00:20:00"), copyOf("exec", "2026-12-03", "b1", "2027-01-03 12:00:00", true)}},
			"2027-01-04 00:00:00", "erase_original exec/2026-12-03 by 2027-01-05 00:00; "},
		// The old copy is kept, and erased under its own retention (1y from
		// its set), not with the new content's.
		{"OldContentCopyKept", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2026-12-03")},
			Backups: []lifecycle.BackupCopy{oldCopy("b0", "2026-12-04 00:20:00"), copyOf("exec", "2026-12-03", "b1", "2027-02-10 00:00:00", true)}},
			"2028-01-03 00:00:00", "erase_original exec/2026-12-03 by 2027-01-05 00:00 LATE; erase_backup exec/2026-12-03 b0 by 2028-01-04 00:00; "},
		// The same checksum with another count is not the same content.
		{"CountDiffersNoCoverage", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2026-12-03")},
			Backups: []lifecycle.BackupCopy{{ID: "b1", Class: "exec", Day: "2026-12-03", Created: at("2026-12-04 00:20:00"), Verified: true, Checksum: sum65, Records: 64}}},
			"2027-01-04 00:00:00", "backup exec/2026-12-03 by 2027-01-03 00:00 LATE; held exec/2026-12-03 by 2027-01-05 00:00; "},
		// An open day has no content yet that any copy could hold.
		{"OpenDayNotCovered", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{{Class: "exec", Day: "2026-12-03", Records: 65}},
			Backups: []lifecycle.BackupCopy{copyOf("exec", "2026-12-03", "b1", "2026-12-04 00:20:00", true)}},
			"2027-01-04 00:00:00", "held exec/2026-12-03 by 2027-01-05 00:00; "},
		// January 31 plus one month is February 28, not March 3.
		{"MonthEndClamps", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2027-01-31")},
			Backups: []lifecycle.BackupCopy{copyOf("exec", "2027-01-31", "b1", "2027-02-01 00:20:00", true)}},
			"2027-03-01 00:00:00", "erase_original exec/2027-01-31 by 2027-03-02 00:00; "},
		{"MonthEndNotYet", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("exec", "2027-01-31")},
			Backups: []lifecycle.BackupCopy{copyOf("exec", "2027-01-31", "b1", "2027-02-01 00:20:00", true)}},
			"2027-02-28 23:59:59", ""},
		// February 29 plus one year is February 28.
		{"LeapDay", def, lifecycle.Inventory{Partitions: []lifecycle.Partition{sealed("system", "2028-02-29")},
			Backups: []lifecycle.BackupCopy{copyOf("system", "2028-02-29", "b1", "2028-03-01 00:20:00", true)}},
			"2029-03-01 00:00:00", "erase_original system/2028-02-29 by 2029-03-02 00:00; "},
		// The system-log conflict: the backup's floor (3y from the set, made
		// 2026-12-03) outlasts its ceiling (3y after generation); precedence
		// erase wins at the ceiling.
		{"ConflictEraseWins", def, lifecycle.Inventory{
			Backups: []lifecycle.BackupCopy{copyOf("system", "2026-11-01", "b1", "2026-11-02 00:20:00", true)}},
			"2029-11-02 00:00:00", "erase_backup system/2026-11-01 b1 by 2029-11-03 00:00; "},
		{"ConflictKeepWinsNotYet", keepWins, lifecycle.Inventory{
			Backups: []lifecycle.BackupCopy{copyOf("system", "2026-11-01", "b1", "2026-11-02 00:20:00", true)}},
			"2029-11-02 00:00:00", ""},
		{"ConflictKeepWinsAtFloorEnd", keepWins, lifecycle.Inventory{
			Backups: []lifecycle.BackupCopy{copyOf("system", "2026-11-01", "b1", "2026-11-02 00:20:00", true)}},
			"2029-12-03 00:00:00", "erase_backup system/2026-11-01 b1 by 2029-12-04 00:00; "},
		// Execution-environment backups: 1y from the set's creation (the
		// month's close + 2d), not from the early copy.
		{"BackupCeilingFromSet", def, lifecycle.Inventory{
			Backups: []lifecycle.BackupCopy{copyOf("exec", "2026-12-03", "b1", "2026-12-04 00:20:00", true)}},
			"2028-01-03 00:00:00", "erase_backup exec/2026-12-03 b1 by 2028-01-04 00:00; "},
		{"BackupCeilingFromSetNotYet", def, lifecycle.Inventory{
			Backups: []lifecycle.BackupCopy{copyOf("exec", "2026-12-03", "b1", "2026-12-04 00:20:00", true)}},
			"2028-01-02 23:59:59", ""},
		// A copy made after its set closed counts from the copy.
		{"LateCopyCountsFromCopy", def, lifecycle.Inventory{
			Backups: []lifecycle.BackupCopy{copyOf("exec", "2026-12-03", "b1", "2027-02-10 00:00:00", true)}},
			"2028-02-10 00:00:00", "erase_backup exec/2026-12-03 b1 by 2028-02-11 00:00; "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := at(tt.now)
			got, err := lifecycle.Plan(tt.p, tt.inv, now)
			if err != nil {
				t.Fatal(err)
			}
			if d := describe(got, now); d != tt.want {
				t.Errorf("plan at %s:\n got %s\nwant %s", tt.now, d, tt.want)
			}
			for _, a := range got {
				if a.Clause == "" || a.Reason.JA == "" || a.Reason.EN == "" {
					t.Errorf("action without clause or reason: %+v", a)
				}
			}
		})
	}
}

func TestPlanConflictReason(t *testing.T) {
	got, _ := lifecycle.Plan(policy.Default(), lifecycle.Inventory{Backups: []lifecycle.BackupCopy{
		{ID: "b1", Class: "system", Day: "2026-11-01", Created: at("2026-11-02 00:20:00"), Verified: true}}}, at("2029-11-02 00:00:00"))
	if len(got) != 1 || !strings.Contains(got[0].Reason.EN, "floor still runs") || !strings.Contains(got[0].Reason.JA, "最低保存期間") || got[0].Clause != "data.system_logs" {
		t.Errorf("conflict action = %+v", got)
	}
}

func TestSets(t *testing.T) {
	inv := lifecycle.Inventory{
		Partitions: []lifecycle.Partition{
			{Class: "system", Day: "2026-11-29", Sealed: true, Checksum: sum65, Records: 65}, {Class: "system", Day: "2026-11-30", Sealed: true, Checksum: sum65, Records: 65},
			{Class: "system", Day: "2026-12-01", Sealed: true, Checksum: sum65, Records: 65}, {Class: "exec", Day: "2026-11-30", Sealed: true, Checksum: sum65, Records: 65},
			{Class: "exec", Day: "2026-11-29", Sealed: true, Checksum: sum65, Records: 65},
		},
		Backups: []lifecycle.BackupCopy{
			{ID: "b1", Class: "system", Day: "2026-11-29", Verified: true, Checksum: sum65, Records: 65}, {ID: "b2", Class: "system", Day: "2026-11-30", Verified: true, Checksum: sum65, Records: 65},
			{ID: "b3", Class: "system", Day: "2026-12-01", Verified: true, Checksum: sum65, Records: 65},
			{ID: "b4", Class: "exec", Day: "2026-11-29", Verified: true, Checksum: sum5, Records: 5}, // older content: no coverage
			{ID: "u1", Class: "user", Account: "acme", Day: "2026-11-30", Verified: true},            // not a log set
		},
	}
	sets, err := lifecycle.Sets(policy.Default(), inv, at("2026-12-05 00:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sets {
		got = append(got, fmt.Sprintf("%s/%s %d/%d %s created %s erase %s", s.Class, s.Period, s.Verified, s.Days, s.State,
			s.Created.In(tokyo).Format("01-02"), s.Erase.In(tokyo).Format("2006-01-02")))
	}
	// November's sets were created on December 3 (the close + 2 days):
	// system's is complete, exec's lacks its one day. December's is open.
	want := []string{
		"exec/2026-11 0/2 incomplete created 12-03 erase 2027-12-03",
		"system/2026-11 2/2 complete created 12-03 erase 2029-12-01",
		"system/2026-12 1/1 open created 01-03 erase 2030-01-01",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sets:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPlanNamesContent: the backup and the held erase of a re-sealed day
// name the content they are about and the older copies that do not count;
// Superseded lists those copies.
func TestPlanNamesContent(t *testing.T) {
	inv := lifecycle.Inventory{
		Partitions: []lifecycle.Partition{{Class: "exec", Day: "2026-12-03", Sealed: true, Checksum: sum65, Records: 65}},
		Backups: []lifecycle.BackupCopy{{ID: "b0", Class: "exec", Day: "2026-12-03", Created: at("2026-12-04 00:20:00"), Verified: true, Checksum: sum5, Records: 5},
			{ID: "u1", Class: "user", Account: "acme", Day: "2027-01-03", Created: at("2027-01-04 00:20:00"), Verified: true, Checksum: sum5, Records: 5}},
	}
	got, err := lifecycle.Plan(policy.Default(), inv, at("2027-01-04 00:00:00"))
	if err != nil || len(got) != 2 {
		t.Fatalf("plan = %+v, %v", got, err)
	}
	for _, a := range got {
		if s := a.Reason.EN; !strings.Contains(s, "65 records, sha256:656565656565") || !strings.Contains(s, "b0 (5 records, sha256:555555555555)") {
			t.Errorf("%s: reason %q does not name the content and the older copy", a.Kind, s)
		}
		if s := a.Reason.JA; !strings.Contains(s, "65 件、sha256:656565656565") || !strings.Contains(s, "b0(5 件、sha256:555555555555)") {
			t.Errorf("%s: reason %q does not name the content and the older copy", a.Kind, s)
		}
	}
	if sup := lifecycle.Superseded(inv); len(sup) != 1 || sup[0].ID != "b0" {
		t.Errorf("superseded = %+v", sup)
	}
}
