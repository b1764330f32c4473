package lifecycle

import (
	"fmt"
	"time"

	"slokeeper/calendar"
	"slokeeper/policy"
)

// Account states, as slokeeper names them (the planner imports no storage).
const (
	accountDeleting = "deleting"
	accountDeleted  = "deleted"
)

// planUser plans the user-data class, per account:
//   - Every account whose data exists (active, or deleting within its
//     cancel window) gets a point-in-time snapshot once per backup period,
//     as soon as the period's set is due: the backup of the period's last
//     day. A period that passed without one is not made up later: a
//     snapshot shows the data when it is taken.
//   - Snapshots are verified, and erased by the class's backup rules.
//   - Once an account's cancel window has ended, its data is erased from
//     the service and its key destroyed. With include_backups the copies go
//     too (destroying the key has already made them unreadable); without
//     it the key is kept until the last copy has reached its ceiling.
func planUser(p *policy.Policy, inv Inventory, now time.Time) ([]Action, error) {
	nc := p.Data.User()
	c, loc := nc.Class, p.Location()
	del := c.OnAccountDeletion
	erasing := func(a *Account) bool { // its data is to be erased now
		return del != nil && del.Erase && (a.Status == accountDeleted || a.Status == accountDeleting && !now.Before(a.DeletionDue))
	}
	accounts := make(map[string]*Account, len(inv.Accounts))
	for i := range inv.Accounts {
		accounts[inv.Accounts[i].ID] = &inv.Accounts[i]
	}
	copies := map[string]map[string]bool{} // account → days backed up
	held := map[string]bool{}              // accounts with copies
	var out []Action
	for _, b := range inv.Backups {
		if b.Account == "" {
			continue
		}
		if copies[b.Account] == nil {
			copies[b.Account] = map[string]bool{}
		}
		// Only a snapshot taken once its day was over backs the day up (one
		// taken by hand during the day misses the rest of it).
		_, last, err := dayBounds(b.Day, loc)
		if err != nil {
			return nil, err
		}
		if !b.Created.Before(policy.BackupCreated(c.Backup, last, loc)) {
			copies[b.Account][b.Day] = true
		}
		held[b.Account] = true
		a := accounts[b.Account]
		if a != nil && erasing(a) && del.IncludeBackups {
			out = append(out, Action{Kind: EraseBackup, Class: b.Class, Account: b.Account, Day: b.Day, BackupID: b.ID, Clause: nc.Clause,
				Due: a.DeletionDue, Deadline: c.Tolerance.AddTo(a.DeletionDue),
				Reason: policy.Text{JA: "アカウントが削除されたため、バックアップも消去します。", EN: "The account was deleted, its backups with it."}})
			continue
		}
		if !b.Verified && (a == nil || a.HasKey) {
			out = append(out, verify(nc, b, c.Tolerance.AddTo(policy.BackupCreated(c.Backup, last, loc))))
		}
		e, err := eraseBackup(p, nc, b, now)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, *e)
		}
	}

	// The latest period whose set is due by now: the snapshot is of its
	// last day.
	periodStart := func(t time.Time) time.Time {
		if c.Backup.Every == policy.Monthly {
			return calendar.StartOfMonth(t, loc)
		}
		return calendar.StartOfDay(t, loc)
	}
	start := periodStart(now) // the end of the last closed period
	for now.Before(c.Backup.Grace.AddTo(start)) {
		start = periodStart(start.Add(-time.Nanosecond))
	}
	lastDay := start.Add(-time.Nanosecond)
	day := lastDay.In(loc).Format(time.DateOnly)
	setDue := c.Backup.Grace.AddTo(start)

	for i := range inv.Accounts {
		a := &inv.Accounts[i]
		if erasing(a) {
			due, deadline := a.DeletionDue, c.Tolerance.AddTo(a.DeletionDue)
			if a.Status == accountDeleting {
				out = append(out, Action{Kind: EraseAccount, Class: "user", Account: a.ID, Clause: nc.Clause, Due: due, Deadline: deadline,
					Reason: policy.Text{JA: "削除の取り消し期間が終わりました。アカウントのデータを消去します。",
						EN: "The deletion's cancel window has ended: the account's data is erased."}})
			}
			if a.HasKey {
				if !del.IncludeBackups && held[a.ID] {
					continue // the copies are kept to their ceilings: so is the key that reads them
				}
				if !del.IncludeBackups && a.Status == accountDeleted {
					due, deadline = now, time.Time{} // the last copy just went
				}
				out = append(out, Action{Kind: DestroyKey, Class: "user", Account: a.ID, Clause: nc.Clause, Due: due, Deadline: deadline,
					Reason: policy.Text{JA: "アカウントの鍵を破棄します。これにより、バックアップを含むすべての複製が復号できなくなります。",
						EN: "The account's key is destroyed: no copy of its data, backups included, can be decrypted any more."}})
			}
			continue
		}
		if a.Status == accountDeleted || a.Created.After(lastDay) || copies[a.ID][day] {
			continue
		}
		out = append(out, Action{Kind: Backup, Class: "user", Account: a.ID, Day: day, Clause: nc.Clause, Due: setDue,
			Deadline: c.Tolerance.AddTo(setDue),
			Reason: policy.Text{JA: fmt.Sprintf("%sのバックアップ(その時点のスナップショット)がありません。", day),
				EN: fmt.Sprintf("No backup (a point-in-time snapshot) for %s.", day)}})
	}
	return out, nil
}
