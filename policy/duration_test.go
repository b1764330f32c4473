package policy_test

import (
	"strings"
	"testing"
	"time"

	"slokeeper/policy"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want policy.Duration
		str  string
	}{
		{"3y", policy.Duration{Years: 3}, "3y"},
		{"1mo", policy.Duration{Months: 1}, "1mo"},
		{"14d", policy.Duration{Days: 14}, "14d"},
		{"2w", policy.Duration{Days: 14}, "14d"},
		{"168h", policy.Duration{Clock: 168 * time.Hour}, "168h"},
		{"1y6mo", policy.Duration{Years: 1, Months: 6}, "1y6mo"},
		{"1d12h30m", policy.Duration{Days: 1, Clock: 12*time.Hour + 30*time.Minute}, "1d12h30m"},
		{"90s", policy.Duration{Clock: 90 * time.Second}, "1m30s"},
		{"0", policy.Duration{}, "0"},
		{"0d", policy.Duration{}, "0"},
		{" 7d ", policy.Duration{Days: 7}, "7d"},
	}
	for _, tt := range tests {
		t.Run("OK/"+tt.in, func(t *testing.T) {
			got, err := policy.ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.str {
				t.Errorf("String() = %q, want %q", got.String(), tt.str)
			}
		})
	}
	bad := []struct{ in, want string }{
		{"", "a duration is needed"},
		{"-1d", "negative"},
		{"-0", "negative"},
		{"1", "every number needs a unit"},
		{"1.5d", "fractions are not allowed"},
		{"1x", `unknown unit "x"`},
		{"d", "malformed"},
		{"1d1y", "out of order"},
		{"1d1d", "repeated"},
		{"99999999999999999999d", "too large"},
		{"1 d", `unknown unit " d"`},
	}
	for _, tt := range bad {
		t.Run("Err/"+tt.in, func(t *testing.T) {
			_, err := policy.ParseDuration(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseDuration(%q) error = %v, want one containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestDurationAddTo(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	jan31 := time.Date(2027, 1, 31, 9, 0, 0, 0, tokyo)
	tests := []struct {
		d    string
		want time.Time
	}{
		{"1mo", time.Date(2027, 2, 28, 9, 0, 0, 0, tokyo)},
		{"1y", time.Date(2028, 1, 31, 9, 0, 0, 0, tokyo)},
		{"1mo1d", time.Date(2027, 3, 1, 9, 0, 0, 0, tokyo)},
		{"14d", time.Date(2027, 2, 14, 9, 0, 0, 0, tokyo)},
		{"36h", time.Date(2027, 2, 1, 21, 0, 0, 0, tokyo)},
	}
	for _, tt := range tests {
		if got := policy.MustParseDuration(tt.d).AddTo(jan31); !got.Equal(tt.want) {
			t.Errorf("%s after %s = %s, want %s", tt.d, jan31, got, tt.want)
		}
	}
}

// FuzzParseDuration checks that whatever parses prints back to a form that
// parses to the same duration, and that nothing negative gets through.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"3y", "1mo", "14d", "2w", "168h", "1y6mo1d12h30m15s", "0", "-1d", "1.5d", "99999999999y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := policy.ParseDuration(s)
		if err != nil {
			return
		}
		if d.Years < 0 || d.Months < 0 || d.Days < 0 || d.Clock < 0 {
			t.Fatalf("ParseDuration(%q) = %+v: negative", s, d)
		}
		back, err := policy.ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %+v prints %q, which parses to %+v, %v", s, d, d.String(), back, err)
		}
	})
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"3y after generation", "14d from backup", "1mo after backup", "x after y", "1d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := policy.ParseRule(s)
		if err != nil {
			return
		}
		back, err := policy.ParseRule(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseRule(%q) = %+v prints %q, which parses to %+v, %v", s, r, r.String(), back, err)
		}
	})
}
