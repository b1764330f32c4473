package policy

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"slokeeper/calendar"
	"slokeeper/internal/strictyaml"
)

// Severity says whether a problem makes the policy unusable.
type Severity string

// Severities.
const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
)

// Problem is something wrong with a policy file, at a position.
type Problem struct {
	File     string
	Line     int
	Col      int
	Severity Severity
	Message  string
}

// String returns "FILE:LINE:COL: message" for errors and
// "FILE:LINE:COL: warning: message" for warnings.
func (p Problem) String() string {
	sev := ""
	if p.Severity == SevWarning {
		sev = "warning: "
	}
	return fmt.Sprintf("%s:%d:%d: %s%s", p.File, p.Line, p.Col, sev, p.Message)
}

// HasErrors reports whether any problem is an error.
func HasErrors(problems []Problem) bool {
	return slices.ContainsFunc(problems, func(p Problem) bool { return p.Severity == SevError })
}

// Error is returned by Load when a policy has errors.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	for _, p := range e.Problems {
		if p.Severity == SevError {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(p.String())
		}
	}
	return b.String()
}

// Load parses a policy and returns an *Error listing every error if it has
// any; warnings are returned alongside a usable policy.
func Load(file string, data []byte) (*Policy, []Problem, error) {
	p, problems := Parse(file, data)
	if HasErrors(problems) {
		return nil, problems, &Error{problems}
	}
	return p, problems, nil
}

// Parse parses and checks a policy. The policy is usable only when no
// problem is an error. Problems come in the order of the file.
func Parse(file string, data []byte) (*Policy, []Problem) {
	var p Policy
	pos, decodeProblems := strictyaml.Decode(data, &p)
	c := &checker{file: file, pos: pos}
	for _, dp := range decodeProblems {
		c.problems = append(c.problems, Problem{file, dp.Pos.Line, dp.Pos.Col, SevError, dp.Message})
	}
	if len(decodeProblems) == 0 {
		c.check(&p)
	}
	slices.SortStableFunc(c.problems, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return &p, c.problems
}

type checker struct {
	file     string
	pos      strictyaml.Positions
	problems []Problem
}

func (c *checker) add(sev Severity, path, format string, args ...any) {
	at := c.pos.Of(path)
	c.problems = append(c.problems, Problem{c.file, at.Line, at.Col, sev, fmt.Sprintf(format, args...)})
}

func (c *checker) errorf(path, format string, args ...any) { c.add(SevError, path, format, args...) }
func (c *checker) warnf(path, format string, args ...any)  { c.add(SevWarning, path, format, args...) }

// text checks that a text a person reads exists in both languages.
func (c *checker) text(path string, t Text) {
	if strings.TrimSpace(t.JA) == "" {
		c.errorf(path, "%s has no Japanese text (ja): every text a person reads exists in Japanese and English", path)
	}
	if strings.TrimSpace(t.EN) == "" {
		c.errorf(path, "%s has no English text (en): every text a person reads exists in Japanese and English", path)
	}
}

func (c *checker) oneOf(path, what string, got []string, allowed ...string) {
	if len(got) == 0 {
		c.errorf(path, "%s: name at least one %s (%s)", path, what, strings.Join(allowed, ", "))
	}
	seen := map[string]bool{}
	for i, g := range got {
		p := fmt.Sprintf("%s[%d]", path, i)
		if !slices.Contains(allowed, g) {
			c.errorf(p, "unknown %s %q: use %s", what, g, strings.Join(allowed, ", "))
		}
		if seen[g] {
			c.errorf(p, "%s %q is listed twice", what, g)
		}
		seen[g] = true
	}
}

func (c *checker) positive(path string, d Duration) {
	if d.IsZero() {
		c.errorf(path, "%s must be longer than 0", path)
	}
}

func (c *checker) check(p *Policy) {
	if p.Version != 1 {
		c.errorf("version", "policy version %d is not supported: this slokeeper reads version 1", p.Version)
	}
	c.checkService(p)
	c.text("availability.text", p.Availability.Text)

	m := &p.Maintenance
	c.text("maintenance.text", m.Text)
	c.text("maintenance.updates", m.UpdateText)
	c.text("maintenance.emergency.text", m.Emergency.Text)
	c.oneOf("maintenance.channels", "channel", m.Channels, "site", "email")
	if !m.Reminder.IsZero() && !m.Notice.IsZero() && shorterSomewhere(m.Notice, m.Reminder, p.loc) {
		c.warnf("maintenance.reminder", "the reminder (%s before the start) comes before the notice period (%s) begins: it would be sent together with the announcement", m.Reminder, m.Notice)
	}

	r := &p.Redundancy
	c.text("redundancy.text", r.Text)
	if r.Nodes < 1 {
		c.errorf("redundancy.nodes", "redundancy.nodes must be at least 1")
	}
	if r.ProbeConfirmations < 1 || r.ProbeConfirmations > max(r.Nodes, 1) {
		c.errorf("redundancy.probe_confirmations", "redundancy.probe_confirmations must lie between 1 and redundancy.nodes (%d)", r.Nodes)
	}

	in := &p.Incidents
	c.text("incidents.text", in.Text)
	c.positive("incidents.notify_within", in.NotifyWithin)
	c.oneOf("incidents.channels", "channel", in.Channels, "site", "email")

	c.checkData(p)

	a := &p.Access
	c.text("access.text", a.Text)
	c.oneOf("access.roles", "role", a.Roles, "admin", "operator", "support", "auditor")
	if !slices.Contains(a.Roles, "admin") {
		c.errorf("access.roles", "access.roles must include admin: someone has to grant access")
	}
	c.positive("access.grant_max", a.GrantMax)
	c.positive("access.review_every", a.ReviewEvery)

	s := &p.Security
	c.text("security.text", s.Text)
	c.text("security.certification", s.Certification)
	c.positive("security.audit_every", s.AuditEvery)
	c.positive("security.checkpoint_every", s.CheckpointEvery)
	if !s.TLSRequired {
		c.warnf("security.tls_required", "TLS is not required: data in transit would not be encrypted as the reference SLO promises")
	}
	if !s.EncryptCreds {
		c.warnf("security.encrypt_credentials", "credentials would not be stored encrypted, which the reference SLO promises")
	}

	c.checkSupport(p)
}

func (c *checker) checkService(p *Policy) {
	s := &p.Service
	c.text("service.name", s.Name)
	c.text("service.document", s.Document)
	c.text("service.text", s.Text)
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil || s.TimeZone == "" || s.TimeZone == "Local" {
		c.errorf("service.timezone", "unknown time zone %q: use an IANA name such as Asia/Tokyo", s.TimeZone)
		loc = time.UTC
	}
	p.loc = loc
	c.oneOf("service.languages", "language", s.Languages, "ja", "en")
	if s.Contact != "" {
		if _, err := mail.ParseAddress(s.Contact); err != nil {
			c.errorf("service.contact", "service.contact %q is not an e-mail address", s.Contact)
		}
	}
}

func (c *checker) checkData(p *Policy) {
	d := &p.Data
	c.text("data.text", d.Text)
	c.text("data.anonymized_use.text", d.AnonUse.Text)
	if d.AnonUse.Allowed && d.AnonUse.K < 2 {
		c.errorf("data.anonymized_use.k", "data.anonymized_use.k must be at least 2 for exported data to be anonymous")
	}
	switch d.Precedence {
	case "erase", "keep":
	default:
		c.errorf("data.precedence", "data.precedence %q is not erase or keep", d.Precedence)
	}
	for _, nc := range d.Classes() {
		c.checkClass(p, "data."+nc.Key, nc.Class)
	}
	if ad := d.SystemLogs.OnAccountDeletion; ad != nil {
		c.warnf("data.system_logs.on_account_deletion", "system logs belong to the service, not to an account: on_account_deletion has no effect here")
	}
}

func (c *checker) checkClass(p *Policy, path string, cl *Class) {
	c.text(path+".name", cl.Name)
	c.text(path+".text", cl.Text)
	loc := p.loc
	name := cl.Name.EN
	if ad := cl.OnAccountDeletion; ad != nil {
		c.text(path+".on_account_deletion.text", ad.Text)
		if ad.IncludeBackups && !ad.Erase {
			c.errorf(path+".on_account_deletion.include_backups", "include_backups needs erase: true")
		}
	}

	// Originals: a ceiling shorter than one backup period can erase a
	// record before the backup of its period exists.
	if r := cl.Original.Erase; r != nil {
		if r.From != FromGeneration {
			c.errorf(path+".original.erase", "an original's ceiling counts from generation: originals are not made by backups")
		} else if shorterSomewhere(r.After, cl.Backup.Every.Period(), loc) {
			if !cl.Interlock {
				c.errorf(path+".original.erase", "%s: originals are erased %s, sooner than the %s backup cadence, and the interlock is off: a record could be erased before any backup covers it (turn interlock on or lengthen the ceiling)", name, r, cl.Backup.Every)
			} else {
				c.warnf(path+".original.erase", "%s: originals are erased %s, sooner than the %s backup cadence: the interlock will hold each record past its ceiling until a verified backup covers it", name, r, cl.Backup.Every)
			}
		}
	}

	if d := cl.Drill; d != nil {
		c.positive(path+".drill.every", d.Every)
		if d.Sample < 1 || d.Sample > MaxDrillSample {
			c.errorf(path+".drill.sample", "%s.drill.sample %d is not between 1 and %d: a drill restores that many backups", path, d.Sample, MaxDrillSample)
		}
	}

	keep, erase := cl.Backups.Keep, cl.Backups.Erase
	if erase != nil && erase.From == FromGeneration {
		if lag := backupLag(cl.Backup, loc); lag.max > 0 && lateSomewhere(erase.After, cl.Backup, loc) {
			c.errorf(path+".backups.erase", "%s: backups must be erased %s, but a %s backup is created up to %s after a record is generated: the copy would be past its ceiling when made", name, erase, cl.Backup.Every, humanSpan(lag.max))
		}
	}
	if keep != nil && erase != nil {
		if w := conflictWindow(*keep, *erase, cl.Backup, loc); w.max > 0 {
			winner := "the erase ceiling wins: such a backup copy is erased while its floor still runs"
			if p.Data.Precedence == "keep" {
				winner = "the keep floor wins: such a backup copy is kept past its ceiling"
			}
			c.warnf(path+".backups.keep", "%s: the floor backups.keep (%s) outlasts the ceiling backups.erase (%s): the conflict window is %s to %s per record (longest for records from the start of a backup period); under precedence %q %s", name, keep, erase, humanSpan(w.min), humanSpan(w.max), p.Data.Precedence, winner)
		}
	}
}

func (c *checker) checkSupport(p *Policy) {
	s := &p.Support
	c.text("support.text", s.Text)
	if len(s.Scope) == 0 {
		c.errorf("support.scope", "support.scope must name at least one supported product")
	}
	for i, it := range s.Scope {
		c.text(fmt.Sprintf("support.scope[%d].name", i), it.Name)
	}
	days := []struct {
		key string
		day time.Weekday
	}{{"mon", time.Monday}, {"tue", time.Tuesday}, {"wed", time.Wednesday}, {"thu", time.Thursday}, {"fri", time.Friday}, {"sat", time.Saturday}, {"sun", time.Sunday}}
	open := false
	for _, d := range days {
		ivs := s.Hours.Day(d.day)
		open = open || len(ivs) > 0
		for i := range ivs {
			for j := range i {
				if ivs[i].Start < ivs[j].End && ivs[j].Start < ivs[i].End {
					c.errorf(fmt.Sprintf("support.hours.%s[%d]", d.key, i), "support hours %s overlap %s on %s", ivs[i], ivs[j], d.key)
				}
			}
		}
		if s.Closures.Weekends && len(ivs) > 0 && (d.day == time.Saturday || d.day == time.Sunday) {
			c.warnf("support.hours."+d.key, "support hours on %s never apply: closures.weekends is on", d.key)
		}
	}
	if !open {
		c.errorf("support.hours", "support.hours has no open hours on any day")
	}
	cl := &s.Closures
	switch cl.NationalHolidays {
	case "", "jp":
	default:
		c.errorf("support.closures.national_holidays", "national holidays of %q are not known: use jp, or leave it empty for none", cl.NationalHolidays)
	}
	if ye := cl.YearEnd; ye != nil && (ye.From.Month != time.December || ye.To.Month != time.January) {
		c.errorf("support.closures.year_end", "the year-end closure runs from a day in December to a day in January")
	}
	seen := map[Date]bool{}
	for i, h := range cl.Company {
		c.text(fmt.Sprintf("support.closures.company[%d].name", i), h.Name)
		if seen[h.Date] {
			c.warnf(fmt.Sprintf("support.closures.company[%d].date", i), "company holiday %04d-%02d-%02d is listed twice", h.Date.Year, h.Date.Month, h.Date.Day)
		}
		seen[h.Date] = true
	}
	if s.Intake.Email == "" && !s.Intake.Form {
		c.errorf("support.intake", "support.intake must accept e-mail or the form")
	}
	if s.Intake.Email != "" {
		if _, err := mail.ParseAddress(s.Intake.Email); err != nil {
			c.errorf("support.intake.email", "support.intake.email %q is not an e-mail address", s.Intake.Email)
		}
	}
	c.positive("support.response.acknowledge", s.Response.Acknowledge)
	c.positive("support.response.first_reply", s.Response.FirstReply)
}

// The checks below compare calendar spans by evaluating them at the first
// and last second of every day of four whole years (one of them a leap year)
// in the policy's time zone: month lengths, leap days and clamping all show
// up there, and within a day every span here moves linearly, so its
// extremes lie on those instants.

var sampleStart, sampleEnd = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

func samples(loc *time.Location, f func(g time.Time)) {
	start := time.Date(sampleStart.Year(), 1, 1, 0, 0, 0, 0, loc)
	end := time.Date(sampleEnd.Year(), 1, 1, 0, 0, 0, 0, loc)
	for g := start; g.Before(end); g = g.AddDate(0, 0, 1) {
		f(g)
		f(calendar.NextDay(g, loc).Add(-time.Second))
	}
}

// shorterSomewhere reports whether a ends before b for some start.
func shorterSomewhere(a, b Duration, loc *time.Location) bool {
	shorter := false
	samples(loc, func(g time.Time) {
		shorter = shorter || a.AddTo(g).Before(b.AddTo(g))
	})
	return shorter
}

// BackupCreated returns when the backup set holding a record generated at g
// is created: when g's cadence period closes, plus the grace period.
func BackupCreated(b Backup, g time.Time, loc *time.Location) time.Time {
	var closes time.Time
	if b.Every == Monthly {
		closes = calendar.NextMonth(g, loc)
	} else {
		closes = calendar.NextDay(g, loc)
	}
	return b.Grace.AddTo(closes)
}

type span struct{ min, max time.Duration }

func backupLag(b Backup, loc *time.Location) span {
	s := span{min: 1<<63 - 1}
	samples(loc, func(g time.Time) {
		lag := BackupCreated(b, g, loc).Sub(g)
		s.min, s.max = min(s.min, lag), max(s.max, lag)
	})
	return s
}

// lateSomewhere reports whether a ceiling counted from generation falls
// before the record's backup set is created, for some record.
func lateSomewhere(ceiling Duration, b Backup, loc *time.Location) bool {
	late := false
	samples(loc, func(g time.Time) {
		late = late || !ceiling.AddTo(g).After(BackupCreated(b, g, loc))
	})
	return late
}

// conflictWindow returns by how much a floor outlasts a ceiling, over all
// records; max <= 0 means never.
func conflictWindow(floor, ceiling Rule, b Backup, loc *time.Location) span {
	s := span{min: 1<<63 - 1, max: -1 << 63}
	origin := func(r Rule, g time.Time) time.Time {
		if r.From == FromBackup {
			return BackupCreated(b, g, loc)
		}
		return g
	}
	samples(loc, func(g time.Time) {
		w := floor.After.AddTo(origin(floor, g)).Sub(ceiling.After.AddTo(origin(ceiling, g)))
		s.min, s.max = min(s.min, w), max(s.max, w)
	})
	return s
}

// humanSpan writes a span as days and hours, e.g. "33d" or "1d 12h".
func humanSpan(d time.Duration) string {
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	switch {
	case days == 0:
		return fmt.Sprintf("%dh", hours)
	case hours == 0:
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd %dh", days, hours)
}
