// Package calendar is slokeeper's pure calendar arithmetic: adding calendar
// years, months and days the way retention clauses mean them, and the
// boundaries of days and months in a time zone. It does no I/O.
package calendar

import "time"

// AddDate returns t plus the given years, months and days as calendar
// units in t's location. Unlike time.Time.AddDate it clamps to the last day
// of the target month instead of overflowing into the next one: January 31
// plus one month is February 28 (29 in a leap year), not March 3, and
// February 29 plus one year is February 28. Negative arguments subtract.
//
// Years and months are applied first, then days, so that "1 month and 1
// day after January 30" is March 1 in a common year (Feb 28 + 1 day).
func AddDate(t time.Time, years, months, days int) time.Time {
	if years != 0 || months != 0 {
		y, m, d := t.Date()
		total := int(m) - 1 + months + years*12
		ty := y + floorDiv(total, 12)
		tm := time.Month(total - floorDiv(total, 12)*12 + 1)
		if last := DaysIn(ty, tm); d > last {
			d = last
		}
		hh, mm, ss := t.Clock()
		t = time.Date(ty, tm, d, hh, mm, ss, t.Nanosecond(), t.Location())
	}
	if days != 0 {
		t = t.AddDate(0, 0, days)
	}
	return t
}

// DaysIn returns the number of days in month m of year y.
func DaysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// StartOfDay returns midnight at the start of t's calendar day in loc.
func StartOfDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// StartOfMonth returns midnight at the start of t's calendar month in loc.
func StartOfMonth(t time.Time, loc *time.Location) time.Time {
	y, m, _ := t.In(loc).Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, loc)
}

// NextMonth returns midnight at the start of the calendar month after t's,
// in loc: the moment t's month closes.
func NextMonth(t time.Time, loc *time.Location) time.Time {
	y, m, _ := t.In(loc).Date()
	return time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
}

// NextDay returns midnight at the start of the calendar day after t's, in
// loc: the moment t's day closes.
func NextDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
