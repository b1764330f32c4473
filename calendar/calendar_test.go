package calendar_test

import (
	"testing"
	"time"

	"slokeeper/calendar"
)

func TestAddDate(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name                string
		from                string
		years, months, days int
		want                string
	}{
		{"MonthClampsToFebruary", "2027-01-31 10:00", 0, 1, 0, "2027-02-28 10:00"},
		{"MonthClampsToLeapFebruary", "2028-01-31 10:00", 0, 1, 0, "2028-02-29 10:00"},
		{"MonthClampsTo30", "2026-03-31 00:00", 0, 1, 0, "2026-04-30 00:00"},
		{"MonthAcrossYear", "2026-12-15 23:59", 0, 1, 0, "2027-01-15 23:59"},
		{"ElevenMonths", "2026-03-31 00:00", 0, 11, 0, "2027-02-28 00:00"},
		{"LeapDayPlusYear", "2028-02-29 12:00", 1, 0, 0, "2029-02-28 12:00"},
		{"LeapDayPlusFourYears", "2028-02-29 12:00", 4, 0, 0, "2032-02-29 12:00"},
		{"ThreeYears", "2026-11-25 08:00", 3, 0, 0, "2029-11-25 08:00"},
		{"MonthThenDay", "2027-01-30 00:00", 0, 1, 1, "2027-03-01 00:00"},
		{"Days", "2026-12-25 00:00", 0, 0, 14, "2027-01-08 00:00"},
		{"NegativeMonth", "2026-03-31 00:00", 0, -1, 0, "2026-02-28 00:00"},
		{"NegativeAcrossYear", "2026-01-31 00:00", 0, -2, 0, "2025-11-30 00:00"},
		{"Zero", "2026-01-31 07:07", 0, 0, 0, "2026-01-31 07:07"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := calendar.AddDate(day(tt.from), tt.years, tt.months, tt.days)
			if want := day(tt.want); !got.Equal(want) {
				t.Errorf("AddDate(%s, %d, %d, %d) = %s, want %s", tt.from, tt.years, tt.months, tt.days, got, want)
			}
			if got.Location() != tokyo {
				t.Errorf("location = %s, want Asia/Tokyo", got.Location())
			}
		})
	}
}

// TestAddDateNeverOverflows checks the property the design relies on: adding
// n months never leaves the target calendar month.
func TestAddDateNeverOverflows(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := start; d.Year() < 2029; d = d.AddDate(0, 0, 1) {
		for n := -25; n <= 25; n++ {
			got := calendar.AddDate(d, 0, n, 0)
			wantMonth := (int(d.Month())-1+n%12+12)%12 + 1
			if int(got.Month()) != wantMonth {
				t.Fatalf("AddDate(%s, 0, %d, 0) = %s: month %d, want %d", d.Format(time.DateOnly), n, got.Format(time.DateOnly), got.Month(), wantMonth)
			}
			if got.Day() > d.Day() {
				t.Fatalf("AddDate(%s, 0, %d, 0) = %s: day moved forward", d.Format(time.DateOnly), n, got.Format(time.DateOnly))
			}
		}
	}
}

func TestBoundaries(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	// 2026-11-30 16:00 UTC is already December 1 in Tokyo.
	at := time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC)
	checks := []struct {
		name string
		got  time.Time
		want time.Time
	}{
		{"StartOfDay", calendar.StartOfDay(at, tokyo), time.Date(2026, 12, 1, 0, 0, 0, 0, tokyo)},
		{"NextDay", calendar.NextDay(at, tokyo), time.Date(2026, 12, 2, 0, 0, 0, 0, tokyo)},
		{"StartOfMonth", calendar.StartOfMonth(at, tokyo), time.Date(2026, 12, 1, 0, 0, 0, 0, tokyo)},
		{"NextMonth", calendar.NextMonth(at, tokyo), time.Date(2027, 1, 1, 0, 0, 0, 0, tokyo)},
	}
	for _, c := range checks {
		if !c.got.Equal(c.want) {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
}
