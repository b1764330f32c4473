package lifecycle_test

import (
	"testing"

	"slokeeper/lifecycle"
	"slokeeper/policy"
)

func TestPlanUser(t *testing.T) {
	def := policy.Default()
	keepCopies := withPolicy(t, [2]string{"include_backups: true ", "include_backups: false"})
	monthly := withPolicy(t, [2]string{"backup: {every: daily, grace: 0}", "backup: {every: monthly, grace: 2d}"},
		[2]string{"keep: 14d from backup\n      erase: 14d from backup", "keep: 60d from backup\n      erase: 60d from backup"})
	acct := func(status, created string) lifecycle.Account {
		return lifecycle.Account{ID: "acme", Status: status, Created: at(created), HasKey: true}
	}
	deleting := func(due string, hasKey bool) lifecycle.Account {
		return lifecycle.Account{ID: "acme", Status: "deleting", Created: at("2026-11-01 10:00:00"), DeletionDue: at(due), HasKey: hasKey}
	}
	deleted := func(due string, hasKey bool) lifecycle.Account {
		a := deleting(due, hasKey)
		a.Status = "deleted"
		return a
	}
	copyOf := func(day, id, created string, verified bool) lifecycle.BackupCopy {
		return lifecycle.BackupCopy{ID: id, Class: "user", Account: "acme", Day: day, Created: at(created), Verified: verified}
	}
	inv := func(a lifecycle.Account, copies ...lifecycle.BackupCopy) lifecycle.Inventory {
		return lifecycle.Inventory{Accounts: []lifecycle.Account{a}, Backups: copies}
	}
	tests := []struct {
		name string
		p    *policy.Policy
		inv  lifecycle.Inventory
		now  string
		want string
	}{
		// Yesterday's snapshot, due at midnight (grace 0), by a day later (tolerance).
		{"DailySnapshot", def, inv(acct("active", "2026-12-01 10:00:00")),
			"2026-12-04 03:00:00", "backup user/acme/2026-12-03 by 2026-12-05 00:00; "},
		{"DailySnapshotLate", def, inv(acct("active", "2026-12-01 10:00:00")),
			"2026-12-05 00:00:01", "backup user/acme/2026-12-04 by 2026-12-06 00:00; "},
		{"NewAccountWaitsForItsFirstDay", def, inv(acct("active", "2026-12-04 01:00:00")),
			"2026-12-04 03:00:00", ""},
		{"HasTodaysSnapshot", def, inv(acct("active", "2026-12-01 10:00:00"), copyOf("2026-12-03", "b1", "2026-12-04 00:05:00", true)),
			"2026-12-04 03:00:00", ""},
		{"ASnapshotDuringTheDayDoesNotCount", def, inv(acct("active", "2026-12-01 10:00:00"), copyOf("2026-12-03", "b1", "2026-12-03 15:00:00", true)),
			"2026-12-04 03:00:00", "backup user/acme/2026-12-03 by 2026-12-05 00:00; "},
		{"VerifyASnapshot", def, inv(acct("active", "2026-12-01 10:00:00"), copyOf("2026-12-03", "b1", "2026-12-04 00:05:00", false)),
			"2026-12-04 03:00:00", "verify user/acme/2026-12-03 b1 by 2026-12-05 00:00; "},
		{"LeapDay", def, inv(acct("active", "2028-02-01 10:00:00")),
			"2028-03-01 00:30:00", "backup user/acme/2028-02-29 by 2028-03-02 00:00; "},
		// Kept 14 days from the copy (made after its set was due), then erased.
		{"SnapshotKept14Days", def, inv(acct("active", "2026-12-01 10:00:00"),
			copyOf("2026-12-03", "b1", "2026-12-04 03:00:00", true), copyOf("2026-12-17", "b2", "2026-12-18 00:05:00", true)),
			"2026-12-18 02:59:59", ""},
		{"SnapshotErasedAtCeiling", def, inv(acct("active", "2026-12-01 10:00:00"),
			copyOf("2026-12-03", "b1", "2026-12-04 03:00:00", true), copyOf("2026-12-17", "b2", "2026-12-18 00:05:00", true)),
			"2026-12-18 03:00:00", "erase_backup user/acme/2026-12-03 b1 by 2026-12-19 03:00; "},
		// Deleting: backed up while the deletion can still be cancelled.
		{"DeletingStillBackedUp", def, inv(deleting("2026-12-10 12:00:00", true), copyOf("2026-12-03", "b1", "2026-12-04 00:05:00", true)),
			"2026-12-05 03:00:00", "backup user/acme/2026-12-04 by 2026-12-06 00:00; "},
		// The window ended: key destroyed, data erased, copies erased.
		{"WindowEnded", def, inv(deleting("2026-12-10 12:00:00", true), copyOf("2026-12-09", "b1", "2026-12-10 00:05:00", true)),
			"2026-12-10 12:00:00", "destroy_key user/acme/ by 2026-12-11 12:00; erase_account user/acme/ by 2026-12-11 12:00; erase_backup user/acme/2026-12-09 b1 by 2026-12-11 12:00; "},
		{"WindowEndedLate", def, inv(deleting("2026-12-10 12:00:00", true)),
			"2026-12-11 12:00:01", "destroy_key user/acme/ by 2026-12-11 12:00 LATE; erase_account user/acme/ by 2026-12-11 12:00 LATE; "},
		// A crash after the account was marked deleted: what is left is finished.
		{"DeletedCopiesLeft", def, inv(deleted("2026-12-10 12:00:00", false), copyOf("2026-12-09", "b1", "2026-12-10 00:05:00", false)),
			"2026-12-10 13:00:00", "erase_backup user/acme/2026-12-09 b1 by 2026-12-11 12:00; "},
		{"DeletedKeyLeft", def, inv(deleted("2026-12-10 12:00:00", true)),
			"2026-12-10 13:00:00", "destroy_key user/acme/ by 2026-12-11 12:00; "},
		{"DeletedDone", def, inv(deleted("2026-12-10 12:00:00", false)),
			"2026-12-20 13:00:00", ""},
		// Without include_backups the copies live to their ceilings, and the
		// key that reads them with them.
		{"KeepCopiesKeyWaits", keepCopies, inv(deleting("2026-12-10 12:00:00", true), copyOf("2026-12-09", "b1", "2026-12-10 00:05:00", true)),
			"2026-12-10 12:00:00", "erase_account user/acme/ by 2026-12-11 12:00; "},
		{"KeepCopiesCeiling", keepCopies, inv(deleted("2026-12-10 12:00:00", true), copyOf("2026-12-09", "b1", "2026-12-10 00:05:00", true)),
			"2026-12-24 00:05:00", "erase_backup user/acme/2026-12-09 b1 by 2026-12-25 00:05; "},
		{"KeepCopiesThenKey", keepCopies, inv(deleted("2026-12-10 12:00:00", true)),
			"2026-12-24 01:00:00", "destroy_key user/acme/; "},
		// A monthly cadence snapshots the month's last day once its set is due.
		{"MonthlyNotYet", monthly, inv(acct("active", "2026-10-01 10:00:00"), copyOf("2026-10-31", "b1", "2026-11-03 00:05:00", true)),
			"2026-12-02 23:59:59", ""},
		{"MonthlyDue", monthly, inv(acct("active", "2026-10-01 10:00:00"), copyOf("2026-10-31", "b1", "2026-11-03 00:05:00", true)),
			"2026-12-03 00:00:00", "backup user/acme/2026-11-30 by 2026-12-04 00:00; "},
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
				if a.Clause != policy.ClauseUserData || a.Reason.JA == "" || a.Reason.EN == "" {
					t.Errorf("action without the user-data clause or a reason: %+v", a)
				}
			}
		})
	}
}
