package policy_test

import (
	"fmt"
	"strings"
	"testing"

	"slokeeper/policy"
)

func TestDefault(t *testing.T) {
	p, problems := policy.Parse(policy.DefaultName, policy.DefaultYAML())
	if policy.HasErrors(problems) {
		t.Fatalf("default policy has errors: %v", problems)
	}
	if p.Location().String() != "Asia/Tokyo" {
		t.Errorf("location = %s, want Asia/Tokyo", p.Location())
	}
	// The reference SLO keeps system-log backups 3 years from their creation
	// but erases them 3 years after the original's generation: exactly that
	// conflict is reported, with its window and the winning rule.
	if len(problems) != 1 {
		t.Fatalf("problems = %v, want exactly the system-log conflict warning", problems)
	}
	w := problems[0]
	line := lineOf(t, string(policy.DefaultYAML()), "keep: 3y from backup")
	if w.Severity != policy.SevWarning || w.Line != line {
		t.Errorf("got %s, want a warning at line %d", w, line)
	}
	for _, part := range []string{"System logs", "backups.keep (3y from backup)", "backups.erase (3y after generation)", "2d to 33d", `precedence "erase"`, "erase ceiling wins"} {
		if !strings.Contains(w.Message, part) {
			t.Errorf("warning %q does not mention %q", w.Message, part)
		}
	}
	// The policy is the single source of numbers: spot-check the reference's.
	checks := []struct {
		name      string
		got, want string
	}{
		{"maintenance notice", p.Maintenance.Notice.String(), "7d"},
		{"system originals", p.Data.SystemLogs.Original.Erase.String(), "1y after generation"},
		{"system backups keep", p.Data.SystemLogs.Backups.Keep.String(), "3y from backup"},
		{"user backup cadence", string(p.Data.UserData.Backup.Every), "daily"},
		{"user backups keep", p.Data.UserData.Backups.Keep.String(), "14d from backup"},
		{"exec originals", p.Data.ExecLogs.Original.Erase.String(), "1mo after generation"},
		{"exec backups erase", p.Data.ExecLogs.Backups.Erase.String(), "1y from backup"},
		{"system drill", fmt.Sprint(p.Data.SystemLogs.Drill.Every, " ", p.Data.SystemLogs.Drill.Sample), "1mo 3"},
		{"user drill", fmt.Sprint(p.Data.UserData.Drill.Every, " ", p.Data.UserData.Drill.Sample), "1mo 3"},
		{"exec drill", fmt.Sprint(p.Data.ExecLogs.Drill.Every, " ", p.Data.ExecLogs.Drill.Sample), "1mo 3"},
		{"support monday", fmt.Sprint(p.Support.Hours.Mon), "[10:00-13:00 14:00-18:00]"},
		{"support saturday", fmt.Sprint(p.Support.Hours.Sat), "[]"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
}

// lineOf returns the 1-based line of the first occurrence of s in text.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	i := strings.Index(text, s)
	if i < 0 {
		t.Fatalf("%q not found", s)
	}
	return strings.Count(text[:i], "\n") + 1
}

func TestCheck(t *testing.T) {
	type mutation struct{ anchor, old, new string }
	tests := []struct {
		name      string
		mutations []mutation
		sev       policy.Severity
		at        string // the text of the line the problem must point at
		col       int
		want      string
	}{
		{"ErrUnknownKey", []mutation{{"", "  notice: 7d", "  notice: 7d\n  notcie: 7d"}}, policy.SevError,
			"  notcie: 7d", 3, `unknown key "notcie" in maintenance (did you mean "notice"?)`},
		{"ErrMalformedDuration", []mutation{{"", "notice: 7d", "notice: 7days"}}, policy.SevError,
			"notice: 7days", 11, `maintenance.notice: duration "7days" has unknown unit "days"`},
		{"ErrNegativeDuration", []mutation{{"", "grant_max: 8h", "grant_max: -8h"}}, policy.SevError,
			"grant_max: -8h", 14, `access.grant_max: duration "-8h" is negative`},
		{"ErrMalformedRule", []mutation{{"", "erase: 1y after generation", "erase: 1y after creation"}}, policy.SevError,
			"erase: 1y after creation", 14, "must count from generation or backup"},
		{"ErrUnknownTimeZone", []mutation{{"", "timezone: Asia/Tokyo", "timezone: Asia/Tokio"}}, policy.SevError,
			"timezone: Asia/Tokio", 13, `unknown time zone "Asia/Tokio"`},
		{"ErrOverlappingHours", []mutation{{"", "mon: [10:00-13:00, 14:00-18:00]", "mon: [10:00-13:00, 12:30-18:00]"}}, policy.SevError,
			"mon: [10:00-13:00, 12:30-18:00]", 24, "support hours 12:30-18:00 overlap 10:00-13:00 on mon"},
		{"ErrHoursOutOfRange", []mutation{{"", "tue: [10:00-13:00, 14:00-18:00]", "tue: [10:00-13:00, 14:00-25:00]"}}, policy.SevError,
			"tue: [10:00-13:00, 14:00-25:00]", 24, `"25:00" is out of range`},
		{"ErrHoursBackwards", []mutation{{"", "wed: [10:00-13:00, 14:00-18:00]", "wed: [13:00-10:00]"}}, policy.SevError,
			"wed: [13:00-10:00]", 11, `hours "13:00-10:00" end before they start`},
		{"ErrCeilingShorterThanCadenceInterlockOff", []mutation{
			{"  exec_logs:", "erase: 1mo after generation", "erase: 14d after generation"},
			{"  exec_logs:", "interlock: true", "interlock: false"},
		}, policy.SevError, "erase: 14d after generation", 14,
			"Execution-environment logs: originals are erased 14d after generation, sooner than the monthly backup cadence, and the interlock is off"},
		{"WarnCeilingShorterThanCadenceInterlockOn", []mutation{
			{"  exec_logs:", "erase: 1mo after generation", "erase: 14d after generation"},
		}, policy.SevWarning, "erase: 14d after generation", 14, "the interlock will hold each record past its ceiling"},
		{"WarnConflictKeepWins", []mutation{{"", "precedence: erase", "precedence: keep"}}, policy.SevWarning,
			"keep: 3y from backup", 13, `under precedence "keep" the keep floor wins`},
		{"WarnConflictUserData", []mutation{{"  user_data:", "keep: 14d from backup", "keep: 15d from backup"}}, policy.SevWarning,
			"keep: 15d from backup", 13, "User data: the floor backups.keep (15d from backup) outlasts the ceiling backups.erase (14d from backup): the conflict window is 1d to 1d"},
		{"ErrBackupCeilingBeforeBackup", []mutation{{"  system_logs:", "erase: 3y after generation", "erase: 20d after generation"}}, policy.SevError,
			"erase: 20d after generation", 14, "the copy would be past its ceiling when made"},
		{"ErrMissingTranslation", []mutation{{"", "name: {ja: enebular, en: enebular}", "name: {ja: enebular, en: \"\"}"}}, policy.SevError,
			"name: {ja: enebular, en: \"\"}", 9, "service.name has no English text"},
		{"ErrUnknownChannel", []mutation{{"  notify_within: 30m", "channels: [site, email]", "channels: [site, fax]"}}, policy.SevError,
			"channels: [site, fax]", 20, `unknown channel "fax"`},
		{"ErrYearEnd", []mutation{{"", "year_end: {from: 12-29, to: 01-03}", "year_end: {from: 01-03, to: 12-29}"}}, policy.SevError,
			"year_end: {from: 01-03, to: 12-29}", 15, "from a day in December to a day in January"},
		{"ErrDrillSample", []mutation{{"  user_data:", "drill: {every: 1mo, sample: 3}", "drill: {every: 1mo, sample: 0}"}}, policy.SevError,
			"drill: {every: 1mo, sample: 0}", 33, "data.user_data.drill.sample 0 is not between 1 and 100"},
		{"ErrDrillEvery", []mutation{{"  exec_logs:", "drill: {every: 1mo, sample: 3}", "drill: {every: 0d, sample: 3}"}}, policy.SevError,
			"drill: {every: 0d, sample: 3}", 20, "data.exec_logs.drill.every must be longer than 0"},
		{"ErrSyntax", []mutation{{"", "  notice: 7d", "  notice: [7d"}}, policy.SevError,
			"  notice: [7d", 1, "YAML syntax: did not find expected ',' or ']'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := string(policy.DefaultYAML())
			for _, m := range tt.mutations {
				at := strings.Index(src, m.anchor)
				i := strings.Index(src[at:], m.old)
				if at < 0 || i < 0 {
					t.Fatalf("mutation %q not found after %q", m.old, m.anchor)
				}
				src = src[:at+i] + m.new + src[at+i+len(m.old):]
			}
			_, problems := policy.Parse("slo.yaml", []byte(src))
			line := lineOf(t, src, tt.at)
			want := fmt.Sprintf("slo.yaml:%d:%d: ", line, tt.col)
			if tt.sev == policy.SevWarning {
				want += "warning: "
			}
			found := false
			for _, p := range problems {
				found = found || (p.Severity == tt.sev && strings.HasPrefix(p.String(), want) && strings.Contains(p.Message, tt.want))
			}
			if !found {
				t.Errorf("problems:\n%s\nwant one starting %q containing %q", join(problems), want, tt.want)
			}
			if tt.sev == policy.SevWarning && policy.HasErrors(problems) {
				t.Errorf("a warning case has errors:\n%s", join(problems))
			}
			if _, _, err := policy.Load("slo.yaml", []byte(src)); (err != nil) != (tt.sev == policy.SevError) {
				t.Errorf("Load error = %v, want an error only for errors", err)
			}
		})
	}
}

func join(problems []policy.Problem) string {
	var b strings.Builder
	for _, p := range problems {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

func FuzzParse(f *testing.F) {
	f.Add(policy.DefaultYAML())
	f.Add([]byte("version: 1\nservice: {timezone: Asia/Tokyo}\n"))
	f.Add([]byte("maintenance: {notice: -1d}\n"))
	f.Add([]byte("support: {hours: {mon: [10:00-13:00, 12:00-24:00]}}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, problems := policy.Parse("fuzz.yaml", data)
		for _, pr := range problems {
			if pr.Line < 1 || pr.Col < 1 || pr.Message == "" {
				t.Fatalf("problem without a position or message: %+v", pr)
			}
		}
		if policy.HasErrors(problems) {
			return
		}
		// A valid policy renders in every language without panicking.
		for _, lang := range policy.Languages {
			if err := policy.WriteText(new(strings.Builder), p, lang); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// BenchmarkParseDefault measures loading the policy, which every command
// and every start does.
func BenchmarkParseDefault(b *testing.B) {
	src := policy.DefaultYAML()
	b.ReportAllocs()
	for b.Loop() {
		if _, problems := policy.Parse("default", src); policy.HasErrors(problems) {
			b.Fatal(problems)
		}
	}
}
