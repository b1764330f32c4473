package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Text is a text a person reads, in every language slokeeper speaks.
type Text struct {
	JA string `yaml:"ja" json:"ja"`
	EN string `yaml:"en" json:"en"`
}

// In returns the text in lang ("ja" or "en"), falling back to Japanese.
func (t Text) In(lang string) string {
	if lang == "en" {
		return t.EN
	}
	return t.JA
}

// Origin is the moment a retention rule counts from.
type Origin string

// Origins.
const (
	FromGeneration Origin = "generation" // when the service received the record
	FromBackup     Origin = "backup"     // when the backup holding it was created
)

// Rule is a retention rule: a span counted from an origin, written as
// "3y after generation" or "14d from backup" ("after" and "from" mean the
// same). As a floor (keep) the data must stay restorable until then; as a
// ceiling (erase) it must be gone by then.
type Rule struct {
	After Duration
	From  Origin
}

// ParseRule parses "DURATION after|from generation|backup".
func ParseRule(s string) (Rule, error) {
	f := strings.Fields(s)
	if len(f) != 3 || (f[1] != "after" && f[1] != "from") {
		return Rule{}, fmt.Errorf("rule %q is malformed: write it as \"3y after generation\" or \"14d from backup\"", s)
	}
	d, err := ParseDuration(f[0])
	if err != nil {
		return Rule{}, err
	}
	switch o := Origin(f[2]); o {
	case FromGeneration, FromBackup:
		return Rule{After: d, From: o}, nil
	default:
		return Rule{}, fmt.Errorf("rule %q counts from %q: it must count from generation or backup", s, f[2])
	}
}

// String returns the rule as written in a policy.
func (r Rule) String() string {
	conj := "after"
	if r.From == FromBackup {
		conj = "from"
	}
	return r.After.String() + " " + conj + " " + string(r.From)
}

// MarshalText implements encoding.TextMarshaler.
func (r Rule) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Rule) UnmarshalText(b []byte) error {
	v, err := ParseRule(string(b))
	*r = v
	return err
}

// Cadence is how often a backup set is made: daily or monthly, as calendar
// days and months in the policy's time zone.
type Cadence string

// Cadences.
const (
	Daily   Cadence = "daily"
	Monthly Cadence = "monthly"
)

// Period returns the length of one cadence period as a Duration.
func (c Cadence) Period() Duration {
	if c == Monthly {
		return Duration{Months: 1}
	}
	return Duration{Days: 1}
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Cadence) UnmarshalText(b []byte) error {
	switch v := Cadence(b); v {
	case Daily, Monthly:
		*c = v
		return nil
	}
	return fmt.Errorf("backup cadence %q is not daily or monthly", b)
}

// Interval is a span within one day, "10:00-13:00"; the end may be 24:00.
// Start and End count minutes from midnight.
type Interval struct {
	Start, End int
}

// String returns "HH:MM-HH:MM".
func (iv Interval) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", iv.Start/60, iv.Start%60, iv.End/60, iv.End%60)
}

// MarshalText implements encoding.TextMarshaler.
func (iv Interval) MarshalText() ([]byte, error) { return []byte(iv.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (iv *Interval) UnmarshalText(b []byte) error {
	s := string(b)
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return fmt.Errorf("hours %q are malformed: write them as 10:00-13:00", s)
	}
	start, err := parseClock(from, false)
	if err != nil {
		return fmt.Errorf("hours %q: %w", s, err)
	}
	end, err := parseClock(to, true)
	if err != nil {
		return fmt.Errorf("hours %q: %w", s, err)
	}
	if end <= start {
		return fmt.Errorf("hours %q end before they start", s)
	}
	*iv = Interval{start, end}
	return nil
}

func parseClock(s string, allow24 bool) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 {
		return 0, fmt.Errorf("%q is not a time of day like 09:30", s)
	}
	if hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && (mm != 0 || !allow24)) {
		return 0, fmt.Errorf("%q is out of range: times run from 00:00 to 24:00", s)
	}
	return hh*60 + mm, nil
}

// Percent is a percentage such as "99.9%".
type Percent float64

// Fraction returns p as a fraction: 99.9% is 0.999 (rounded to 9 places,
// so that it prints as written).
func (p Percent) Fraction() float64 { return math.Round(float64(p)*1e7) / 1e9 }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Percent) UnmarshalText(b []byte) error {
	s, ok := strings.CutSuffix(strings.TrimSpace(string(b)), "%")
	v, err := strconv.ParseFloat(s, 64)
	if !ok || err != nil {
		return fmt.Errorf("%q is not a percentage like 99.9%%", b)
	}
	if v <= 0 || v > 100 {
		return fmt.Errorf("%q is out of range: a target lies above 0%% and at most 100%%", b)
	}
	*p = Percent(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (p Percent) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(p), 'f', -1, 64) + "%"), nil
}

// MonthDay is a day of the year, "12-29", that recurs every year.
type MonthDay struct {
	Month time.Month
	Day   int
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (md *MonthDay) UnmarshalText(b []byte) error {
	t, err := time.Parse("01-02", string(b))
	if err != nil {
		return fmt.Errorf("%q is not a day of the year like 12-29", b)
	}
	*md = MonthDay{t.Month(), t.Day()}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (md MonthDay) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%02d-%02d", int(md.Month), md.Day), nil
}

// Date is a calendar date, "2026-12-28", in the policy's time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	t, err := time.Parse(time.DateOnly, string(b))
	if err != nil {
		return fmt.Errorf("%q is not a date like 2026-12-28", b)
	}
	*d = Date{t.Year(), t.Month(), t.Day()}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%04d-%02d-%02d", d.Year, int(d.Month), d.Day), nil
}
