package lifecycle

import (
	"cmp"
	"slices"
	"time"

	"slokeeper/calendar"
	"slokeeper/policy"
)

// Set states.
const (
	SetOpen       = "open"       // its period has not ended, or its grace runs
	SetComplete   = "complete"   // created, and every day with data has a verified backup of its content
	SetIncomplete = "incomplete" // past its creation, days still lack a verified backup
)

// Set is a backup set as the SLO names it: the backups of one log class's
// period ("backed up monthly": a month), made per day as each day is
// sealed. Its creation, from which "from backup" rules count, is the
// period's close plus the grace period.
type Set struct {
	Class    string
	Period   string    // 2026-12 (monthly) or 2026-12-03 (daily)
	Days     int       // days of the period with data: an original or a backup
	Verified int       // of them, with a verified backup
	Created  time.Time // the period's close plus grace
	Keep     time.Time // the floor: restorable at least until then (zero: none)
	Erase    time.Time // the ceiling for the period's last day (zero: none)
	State    string
}

// Sets groups the log backups of inv into the policy's sets, at now, in
// order of class and period.
func Sets(p *policy.Policy, inv Inventory, now time.Time) ([]Set, error) {
	loc := p.Location()
	type key struct{ class, period string }
	days := map[key]map[string]bool{} // day → verified
	add := func(class, day string, verified bool) error {
		nc, ok := p.Data.LogClass(class)
		if !ok {
			return nil // not a log class
		}
		d, err := time.ParseInLocation(time.DateOnly, day, loc)
		if err != nil {
			return err
		}
		period := day
		if nc.Backup.Every == policy.Monthly {
			period = d.Format("2006-01")
		}
		k := key{class, period}
		if days[k] == nil {
			days[k] = map[string]bool{}
		}
		days[k][day] = days[k][day] || verified
		return nil
	}
	for _, part := range inv.Partitions {
		if err := add(part.Class, part.Day, false); err != nil {
			return nil, err
		}
	}
	parts := make(map[[2]string]Partition, len(inv.Partitions))
	for _, part := range inv.Partitions {
		parts[[2]string{part.Class, part.Day}] = part
	}
	for _, b := range inv.Backups {
		if b.Account == "" {
			// A day whose original is still here counts only with a copy
			// of its current content; once erased, its verified copy is it.
			part, here := parts[[2]string{b.Class, b.Day}]
			if err := add(b.Class, b.Day, b.Verified && (!here || b.Holds(part))); err != nil {
				return nil, err
			}
		}
	}
	var out []Set
	for k, ds := range days {
		nc, _ := p.Data.LogClass(k.class)
		s := Set{Class: k.class, Period: k.period, Days: len(ds)}
		for _, v := range ds {
			if v {
				s.Verified++
			}
		}
		start, _ := time.ParseInLocation(time.DateOnly, k.period, loc)
		end := calendar.NextDay(start, loc)
		if nc.Backup.Every == policy.Monthly {
			start, _ = time.ParseInLocation("2006-01", k.period, loc)
			end = calendar.NextMonth(start, loc)
		}
		last := end.Add(-time.Nanosecond)
		s.Created = policy.BackupCreated(nc.Backup, last, loc)
		if r := nc.Backups.Keep; r != nil {
			s.Keep = r.After.AddTo(origin(nc.Class, r, start, time.Time{}, loc))
		}
		if r := nc.Backups.Erase; r != nil {
			s.Erase = r.After.AddTo(origin(nc.Class, r, last, time.Time{}, loc))
			if r.From == policy.FromGeneration {
				s.Erase = s.Erase.Add(time.Nanosecond) // once the last day's last instant is past it
			}
		}
		switch {
		case now.Before(s.Created):
			s.State = SetOpen
		case s.Verified == s.Days:
			s.State = SetComplete
		default:
			s.State = SetIncomplete
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Set) int { return cmp.Or(cmp.Compare(a.Class, b.Class), cmp.Compare(a.Period, b.Period)) })
	return out, nil
}
