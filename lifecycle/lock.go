package lifecycle

import (
	"fmt"
	"time"

	"slokeeper/policy"
)

// LockConflict is a data class whose backups an object lock keeps on the
// target past their ceiling: a backup written now stays (unreadable, its
// key destroyed, but there) until LockedUntil, after EraseBy.
type LockConflict struct {
	Clause      string
	Class       string // the policy's key: system_logs, user_data, exec_logs
	EraseBy     time.Time
	LockedUntil time.Time
}

// Message says it in Japanese and English.
func (c LockConflict) Message(loc *time.Location) policy.Text {
	by, until := c.EraseBy.In(loc).Format("2006-01-02"), c.LockedUntil.In(loc).Format("2006-01-02")
	return policy.Text{
		JA: fmt.Sprintf("%s(%s): バックアップ先のオブジェクトロックは、今日作るバックアップを %s まで削除できなくします。消去期限は %s です。消去時に鍵は破棄されるので残るコピーは読めませんが、期限までに対象から消えることはありません。", c.Class, c.Clause, until, by),
		EN: fmt.Sprintf("%s (%s): the target's object lock keeps a backup made today undeletable until %s, past its erase ceiling %s. Erasing destroys its key, so the copy left is unreadable, but it is not gone from the target by the ceiling.", c.Class, c.Clause, until, by),
	}
}

// LockConflicts says, for each data class with a backup ceiling, whether
// an object lock's default retention of lockDays outlasts it: whether a
// backup written at now is locked until after the ceiling it gets. The
// backup it counts is the one whose ceiling comes soonest after it is
// written: of the first day of the previous month (the oldest day a
// monthly set written now covers), written now. A retention in days counts
// 24-hour days from the write, as object stores count them.
func LockConflicts(p *policy.Policy, lockDays int, now time.Time) ([]LockConflict, error) {
	if lockDays <= 0 {
		return nil, nil
	}
	loc := p.Location()
	local := now.In(loc)
	first := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, loc).AddDate(0, -1, 0)
	until := now.Add(time.Duration(lockDays) * 24 * time.Hour)
	var out []LockConflict
	for _, nc := range p.Data.Classes() {
		if nc.Backups.Erase == nil {
			continue
		}
		b := BackupCopy{ID: "lock-check", Day: first.Format("2006-01-02"), Created: now}
		if nc.Key == "user_data" {
			b.Class, b.Account = "user", "lock-check"
		} else {
			b.Class = nc.Key[:len(nc.Key)-len("_logs")]
		}
		_, erase, err := Clocks(p, b)
		if err != nil {
			return nil, err
		}
		if until.After(erase) {
			out = append(out, LockConflict{Clause: nc.Clause, Class: nc.Key, EraseBy: erase, LockedUntil: until})
		}
	}
	return out, nil
}
