package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"slokeeper/calendar"
)

// Duration is a span of time in calendar units, as retention clauses mean
// them: "1y" is one calendar year and "1mo" one calendar month (clamped to
// the month's end, see calendar.AddDate), "14d" fourteen calendar days, and
// hours, minutes and seconds are exact. Written as one or more number-unit
// pairs, largest unit first: "1y6mo", "14d", "168h", "1d12h", "30m", or "0".
type Duration struct {
	Years, Months, Days int
	Clock               time.Duration // hours, minutes and seconds
}

// units in the order they must appear.
var units = []struct {
	name string
	set  func(*Duration, int64)
}{
	{"y", func(d *Duration, n int64) { d.Years = int(n) }},
	{"mo", func(d *Duration, n int64) { d.Months = int(n) }},
	{"w", func(d *Duration, n int64) { d.Days += int(n) * 7 }},
	{"d", func(d *Duration, n int64) { d.Days += int(n) }},
	{"h", func(d *Duration, n int64) { d.Clock += time.Duration(n) * time.Hour }},
	{"m", func(d *Duration, n int64) { d.Clock += time.Duration(n) * time.Minute }},
	{"s", func(d *Duration, n int64) { d.Clock += time.Duration(n) * time.Second }},
}

// maxCount keeps every unit's number well inside int and time.Duration.
const maxCount = 100000

// ParseDuration parses a duration such as "3y", "1mo", "14d", "168h" or
// "1d12h". Negative, fractional and unit-less values other than "0" are
// refused.
func ParseDuration(s string) (Duration, error) {
	var d Duration
	orig := s
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return d, fmt.Errorf("a duration is needed, such as 14d, 1mo or 3y")
	case s == "0":
		return d, nil
	case strings.HasPrefix(s, "-"):
		return d, fmt.Errorf("duration %q is negative; durations count forward", orig)
	}
	next := 0 // index into units: each unit at most once, largest first
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return Duration{}, fmt.Errorf("duration %q is malformed: want number-unit pairs such as 14d, 1mo, 3y, 168h or 1d12h", orig)
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n > maxCount {
			return Duration{}, fmt.Errorf("duration %q is too large", orig)
		}
		s = s[i:]
		j := 0
		for j < len(s) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		unit := s[:j]
		s = s[j:]
		k := next
		for k < len(units) && units[k].name != unit {
			k++
		}
		if k == len(units) {
			if unit == "" || unit == "." {
				return Duration{}, fmt.Errorf("duration %q is malformed: every number needs a unit (y, mo, w, d, h, m, s) and fractions are not allowed", orig)
			}
			for _, u := range units {
				if u.name == unit {
					return Duration{}, fmt.Errorf("duration %q is malformed: unit %q repeated or out of order (write the largest unit first)", orig, unit)
				}
			}
			return Duration{}, fmt.Errorf("duration %q has unknown unit %q: use y, mo, w, d, h, m or s", orig, unit)
		}
		units[k].set(&d, n)
		next = k + 1
	}
	return d, nil
}

// MustParseDuration is ParseDuration for constants; it panics on error.
func MustParseDuration(s string) Duration {
	d, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// IsZero reports whether d is zero.
func (d Duration) IsZero() bool { return d == Duration{} }

// AddTo returns t plus d: calendar years and months (clamped), then calendar
// days, both in t's location, then the exact clock part.
func (d Duration) AddTo(t time.Time) time.Time {
	return calendar.AddDate(t, d.Years, d.Months, d.Days).Add(d.Clock)
}

// SubFrom returns t minus d: the exact clock part, then calendar days,
// months and years (clamped), in t's location.
func (d Duration) SubFrom(t time.Time) time.Time {
	return calendar.AddDate(t.Add(-d.Clock), -d.Years, -d.Months, -d.Days)
}

// String returns the canonical form, e.g. "1y6mo", "14d", "168h".
func (d Duration) String() string {
	if d.IsZero() {
		return "0"
	}
	var b strings.Builder
	part := func(n int64, unit string) {
		if n != 0 {
			b.WriteString(strconv.FormatInt(n, 10))
			b.WriteString(unit)
		}
	}
	part(int64(d.Years), "y")
	part(int64(d.Months), "mo")
	part(int64(d.Days), "d")
	c := d.Clock
	part(int64(c/time.Hour), "h")
	part(int64(c%time.Hour/time.Minute), "m")
	part(int64(c%time.Minute/time.Second), "s")
	return b.String()
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
