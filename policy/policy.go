// Package policy is the service-level objectives as data: the model of
// every clause slokeeper keeps, its parser with positioned errors, the checks
// that find impossible or conflicting clauses, and its rendering for people
// in Japanese and English. It does no I/O; the embedded default encodes the
// reference SLO.
//
// The policy is the single source of numbers: no engine hard-codes a notice
// period, a retention or support hours.
package policy

import (
	_ "embed"
	"time"
)

// Clause IDs, as evidence and reports name them.
const (
	ClauseAvailability = "availability"
	ClauseMaintenance  = "maintenance"
	ClauseRedundancy   = "redundancy"
	ClauseIncidents    = "incidents"
	ClauseDataUse      = "data.anonymized_use"
	ClauseSystemLogs   = "data.system_logs"
	ClauseUserData     = "data.user_data"
	ClauseExecLogs     = "data.exec_logs"
	ClauseAccess       = "access"
	ClauseSecurity     = "security"
	ClauseSupport      = "support"
)

// Policy is one service's service-level objectives.
type Policy struct {
	Version      int          `yaml:"version" json:"version"`
	Service      Service      `yaml:"service" json:"service"`
	Availability Availability `yaml:"availability" json:"availability"`
	Maintenance  Maintenance  `yaml:"maintenance" json:"maintenance"`
	Redundancy   Redundancy   `yaml:"redundancy" json:"redundancy"`
	Incidents    Incidents    `yaml:"incidents" json:"incidents"`
	Data         Data         `yaml:"data" json:"data"`
	Access       Access       `yaml:"access" json:"access"`
	Security     Security     `yaml:"security" json:"security"`
	Support      Support      `yaml:"support" json:"support"`

	loc *time.Location
}

// Location returns the policy's time zone, in which days and months are
// counted.
func (p *Policy) Location() *time.Location { return p.loc }

// Service names the service and the document the policy encodes.
type Service struct {
	Name      Text     `yaml:"name" json:"name"`
	Document  Text     `yaml:"document" json:"document"`                   // title of the published SLO
	Updated   Date     `yaml:"updated" json:"updated"`                     // last update of that document
	TimeZone  string   `yaml:"timezone" json:"timezone"`                   // IANA name; days and months count here
	Languages []string `yaml:"languages" json:"languages"`                 // languages texts are published in
	Text      Text     `yaml:"text" json:"text"`                           // the preamble: how the objectives are meant
	Contact   string   `yaml:"contact,omitempty" json:"contact,omitempty"` // public address for SLO questions
}

// Availability is the promise of service hours.
type Availability struct {
	Text Text `yaml:"text" json:"text"`
	// Target is the internal uptime objective per component that error
	// budgets are measured against.
	Target Percent `yaml:"target" json:"target"`
	// ExcludeMaintenance: announced maintenance windows do not count as
	// downtime.
	ExcludeMaintenance bool `yaml:"exclude_maintenance" json:"exclude_maintenance"`
}

// Maintenance is the promise about planned and emergency stops.
type Maintenance struct {
	Text       Text      `yaml:"text" json:"text"`
	Notice     Duration  `yaml:"notice" json:"notice"`     // planned windows are announced at least this long ahead
	Channels   []string  `yaml:"channels" json:"channels"` // where notices go: site, email
	Reminder   Duration  `yaml:"reminder" json:"reminder"` // a reminder this long before the start; 0 for none
	Emergency  Emergency `yaml:"emergency" json:"emergency"`
	UpdateText Text      `yaml:"updates" json:"updates"` // the update policy
}

// Emergency is what happens when a stop cannot be announced in time.
type Emergency struct {
	Allowed      bool     `yaml:"allowed" json:"allowed"`
	NotifyWithin Duration `yaml:"notify_within" json:"notify_within"` // from scheduling to the notice
	Text         Text     `yaml:"text" json:"text"`
}

// Redundancy is the promise of several servers and databases.
type Redundancy struct {
	Text Text `yaml:"text" json:"text"`
	// Nodes is how many slokeeper nodes should serve at once.
	Nodes int `yaml:"nodes" json:"nodes"`
	// ProbeConfirmations is how many nodes must see a probe fail before a
	// component counts as down, when that many are running.
	ProbeConfirmations int `yaml:"probe_confirmations" json:"probe_confirmations"`
	// SynchronousReplication asks that a commit to PostgreSQL return only
	// once a standby has it, so that a failover loses nothing acknowledged.
	// Nodes on PostgreSQL check the server's synchronous_standby_names and
	// synchronous_commit at start and on /readyz and say when it is not in
	// force. Default: false.
	SynchronousReplication bool `yaml:"synchronous_replication,omitempty" json:"synchronous_replication"`
	// OpenOnFewerConfirmations opens a public incident from fewer nodes'
	// view than ProbeConfirmations when nodes of the cluster have stopped
	// (the failure is then marked "confirmed by 1 of 2 required"). Default
	// false: such a failure is held for staff (evidence, console), since
	// it may be one node's own network failing.
	OpenOnFewerConfirmations bool `yaml:"open_on_fewer_confirmations,omitempty" json:"open_on_fewer_confirmations"`
}

// Incidents is the promise to announce failures.
type Incidents struct {
	Text         Text     `yaml:"text" json:"text"`
	NotifyWithin Duration `yaml:"notify_within" json:"notify_within"` // from detection to the first notice
	Channels     []string `yaml:"channels" json:"channels"`
	UpdateEvery  Duration `yaml:"update_every" json:"update_every"` // updates at least this often while open
}

// Data holds the data clauses.
type Data struct {
	Text Text `yaml:"text" json:"text"`
	// Precedence says which rule wins when a floor (keep) outlasts a ceiling
	// (erase) for the same record: "erase" (default) or "keep".
	Precedence string  `yaml:"precedence" json:"precedence"`
	AnonUse    AnonUse `yaml:"anonymized_use" json:"anonymized_use"`
	SystemLogs Class   `yaml:"system_logs" json:"system_logs"`
	UserData   Class   `yaml:"user_data" json:"user_data"`
	ExecLogs   Class   `yaml:"exec_logs" json:"exec_logs"`
}

// Classes returns the data classes with their clause IDs, in policy order.
func (d *Data) Classes() []NamedClass {
	return []NamedClass{
		{ClauseSystemLogs, "system_logs", &d.SystemLogs},
		{ClauseUserData, "user_data", &d.UserData},
		{ClauseExecLogs, "exec_logs", &d.ExecLogs},
	}
}

// LogClass returns the data class of a log class of the log store
// ("system" or "exec": the policy's system_logs and exec_logs).
func (d *Data) LogClass(class string) (NamedClass, bool) {
	for _, nc := range d.Classes() {
		if nc.Key == class+"_logs" {
			return nc, true
		}
	}
	return NamedClass{}, false
}

// User returns the user-data class.
func (d *Data) User() NamedClass { return d.Classes()[1] }

// NamedClass is a data class with its clause ID and policy key.
type NamedClass struct {
	Clause string
	Key    string
	*Class
}

// AnonUse is the promise about anonymized data used for improvement.
type AnonUse struct {
	Text    Text `yaml:"text" json:"text"`
	Allowed bool `yaml:"allowed" json:"allowed"`
	// K is the k-anonymity an export must reach: every combination of
	// quasi-identifiers is shared by at least K records.
	K int `yaml:"k" json:"k"`
}

// Class is the backup, retention and erasure promise for one kind of data.
type Class struct {
	Name     Text     `yaml:"name" json:"name"`
	Text     Text     `yaml:"text" json:"text"`
	Backup   Backup   `yaml:"backup" json:"backup"`
	Original Original `yaml:"original" json:"original"`
	Backups  Backups  `yaml:"backups" json:"backups"`
	// Tolerance is how late an erase may run after its ceiling. Data is
	// erased by day, so it counts from when the day's last record reaches it.
	Tolerance Duration `yaml:"tolerance" json:"tolerance"`
	// Interlock: an original is never erased before a verified backup
	// covers it. Turning it off lets ceilings win over backups.
	Interlock bool `yaml:"interlock" json:"interlock"`
	// OnAccountDeletion, when set, erases an account's data of this class
	// when the account is deleted.
	OnAccountDeletion *AccountDeletion `yaml:"on_account_deletion" json:"on_account_deletion,omitempty"`
	// Drill, when set, has a seeded random sample of this class's backups
	// restored into a scratch area and checked against their manifests
	// this often (restores tested and timed: SOC 2 A1.3). Nil: no drills.
	Drill *Drill `yaml:"drill" json:"drill,omitempty"`
}

// MaxDrillSample bounds a drill's sample: a drill restores every backup
// it samples, one after another.
const MaxDrillSample = 100

// Drill is the restore-drill cadence and sample size of a data class.
type Drill struct {
	Every  Duration `yaml:"every" json:"every"`   // a drill at least this often
	Sample int      `yaml:"sample" json:"sample"` // backups restored per drill, 1 to MaxDrillSample
}

// Backup is how often backups are made.
type Backup struct {
	Every Cadence `yaml:"every" json:"every"`
	// Grace is how long after its period closes a backup set is completed,
	// so late arrivals are in it. The set's creation time, from which
	// "from backup" rules count, is the period's close plus Grace.
	Grace Duration `yaml:"grace" json:"grace"`
}

// Original holds the rules for the data in the service itself.
type Original struct {
	Erase *Rule `yaml:"erase" json:"erase,omitempty"` // ceiling; nil: kept while the account lives
}

// Backups holds the rules for backup copies.
type Backups struct {
	Keep  *Rule `yaml:"keep" json:"keep,omitempty"`   // floor: restorable at least until then
	Erase *Rule `yaml:"erase" json:"erase,omitempty"` // ceiling: gone by then
}

// AccountDeletion is two-phase erasure on account deletion.
type AccountDeletion struct {
	Erase          bool     `yaml:"erase" json:"erase"`
	IncludeBackups bool     `yaml:"include_backups" json:"include_backups"`
	CancelWindow   Duration `yaml:"cancel_window" json:"cancel_window"` // the deletion can be cancelled until then
	Text           Text     `yaml:"text" json:"text"`
}

// Access is the promise that only authorized staff touch stored data.
type Access struct {
	Text  Text     `yaml:"text" json:"text"`
	Roles []string `yaml:"roles" json:"roles"`
	// GrantMax is the longest a just-in-time access grant may run.
	GrantMax Duration `yaml:"grant_max" json:"grant_max"`
	// TwoPerson: a grant must be approved by an admin other than the one
	// who asked.
	TwoPerson   bool     `yaml:"two_person" json:"two_person"`
	ReviewEvery Duration `yaml:"review_every" json:"review_every"` // access reviews at least this often
}

// Security is the promise of encryption and audits.
type Security struct {
	Text            Text     `yaml:"text" json:"text"`
	Certification   Text     `yaml:"certification" json:"certification"`
	TLSRequired     bool     `yaml:"tls_required" json:"tls_required"`
	EncryptCreds    bool     `yaml:"encrypt_credentials" json:"encrypt_credentials"`
	AuditEvery      Duration `yaml:"audit_every" json:"audit_every"`           // internal audits at least this often
	CheckpointEvery Duration `yaml:"checkpoint_every" json:"checkpoint_every"` // signed audit-ledger checkpoints
}

// Support is the support desk's promise.
type Support struct {
	Text     Text        `yaml:"text" json:"text"`
	Scope    []ScopeItem `yaml:"scope" json:"scope"`
	Hours    Week        `yaml:"hours" json:"hours"`
	Closures Closures    `yaml:"closures" json:"closures"`
	Intake   Intake      `yaml:"intake" json:"intake"`
	Response Response    `yaml:"response" json:"response"`
}

// ScopeItem is one thing the desk supports.
type ScopeItem struct {
	ID   string `yaml:"id" json:"id"`
	Name Text   `yaml:"name" json:"name"`
}

// Week is opening hours per weekday, several intervals a day allowed.
type Week struct {
	Mon []Interval `yaml:"mon,omitempty" json:"mon,omitempty"`
	Tue []Interval `yaml:"tue,omitempty" json:"tue,omitempty"`
	Wed []Interval `yaml:"wed,omitempty" json:"wed,omitempty"`
	Thu []Interval `yaml:"thu,omitempty" json:"thu,omitempty"`
	Fri []Interval `yaml:"fri,omitempty" json:"fri,omitempty"`
	Sat []Interval `yaml:"sat,omitempty" json:"sat,omitempty"`
	Sun []Interval `yaml:"sun,omitempty" json:"sun,omitempty"`
}

// Day returns the intervals of weekday d.
func (w *Week) Day(d time.Weekday) []Interval {
	return [...][]Interval{w.Sun, w.Mon, w.Tue, w.Wed, w.Thu, w.Fri, w.Sat}[d]
}

// Closures are the days the desk is closed despite its weekly hours.
type Closures struct {
	Weekends bool `yaml:"weekends" json:"weekends"`
	// NationalHolidays names the country whose public holidays close the
	// desk ("jp"), or "" for none.
	NationalHolidays string    `yaml:"national_holidays" json:"national_holidays"`
	YearEnd          *YearEnd  `yaml:"year_end" json:"year_end,omitempty"`
	Company          []Holiday `yaml:"company,omitempty" json:"company,omitempty"`
}

// YearEnd is the year-end and new-year closure, a range of days that
// crosses the new year (From in December, To in January).
type YearEnd struct {
	From MonthDay `yaml:"from" json:"from"`
	To   MonthDay `yaml:"to" json:"to"`
}

// Holiday is one company holiday.
type Holiday struct {
	Date Date `yaml:"date" json:"date"`
	Name Text `yaml:"name" json:"name"`
}

// Intake is how requests reach the desk.
type Intake struct {
	Email string `yaml:"email,omitempty" json:"email,omitempty"` // support mailbox; "" for none
	Form  bool   `yaml:"form" json:"form"`                       // the web form at /support
}

// Response holds the desk's response targets.
type Response struct {
	// Acknowledge: an automatic acknowledgement within this wall-clock time.
	Acknowledge Duration `yaml:"acknowledge" json:"acknowledge"`
	// FirstReply: a person's first reply within this much open support time.
	FirstReply Duration `yaml:"first_reply" json:"first_reply"`
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultName is the file name problems in the embedded default carry.
const DefaultName = "(default policy)"

// DefaultYAML returns the embedded default policy, comments included: the
// reference SLO, as `policy init` writes it.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default returns the embedded default policy. It panics if the default
// does not parse, which a test rules out.
func Default() *Policy {
	p, problems := Parse(DefaultName, defaultYAML)
	if HasErrors(problems) {
		panic("policy: embedded default is invalid: " + problems[0].String())
	}
	return p
}
