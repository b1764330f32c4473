// Package lifecycle is the planner of backups, retention and erasure: a
// pure function from the policy, an inventory of what exists and the time
// to the actions due, each with the clause it keeps, why, and by when. It
// does no I/O; the executor carries the actions out and records evidence.
//
// The rules, per data class, counted per day partition (the unit of backup
// and erasure):
//   - A sealed day with no backup of its current content is backed up; a
//     backup not yet verified is verified. Only a verified backup of the
//     same content counts: its checksum and record count equal the sealed
//     partition's. A day re-sealed with other content (a node's local
//     files migrated in, late records) is due a new backup; its copies of
//     older content are kept and erased under their own retention, and
//     never count as covering it.
//   - An original is due for erasure once the last record of its day has
//     reached the ceiling (original.erase); the deadline is that plus the
//     class's tolerance. (The day is the unit of erasure, so a day's first
//     record outlives its own ceiling by up to a day more: the tolerance
//     is how late the erase may run, not how long a record may outlive
//     its ceiling.) The interlock holds the
//     erase until a verified backup of its current content exists, unless the
//     policy turns it off; a held erase is reported with its cause.
//   - A backup's clocks count from generation (its day) or from backup: the
//     creation of the backup set, which is the period's close plus the
//     grace period, or the copy itself if that came later.
//   - A backup is erased at its ceiling (backups.erase); while its floor
//     (backups.keep) still runs it is kept, unless precedence "erase" lets
//     the ceiling win.
//
// User data is kept per account (see user.go): a daily point-in-time
// snapshot of each live account, kept by the same backup rules, and on
// deletion, once the cancel window ends, the account's data erased and its
// key destroyed, which shreds every copy.
package lifecycle

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"slokeeper/calendar"
	"slokeeper/policy"
)

// Action kinds.
const (
	Backup        = "backup"         // copy a sealed day partition to the backup target
	Verify        = "verify"         // read a backup back and check it
	EraseOriginal = "erase_original" // drop a day partition from the service
	EraseBackup   = "erase_backup"   // delete a backup
	Held          = "held"           // an erase that is due but held (the interlock): not an action, a report
	EraseAccount  = "erase_account"  // erase a deleted account's data from the service
	DestroyKey    = "destroy_key"    // destroy an account's key: every copy of its data becomes unreadable
)

// Partition is a day partition in the inventory: one per class and day
// for the whole cluster.
type Partition struct {
	Class  string // "system" or "exec"
	Day    string // YYYY-MM-DD in the policy's time zone
	Sealed bool
	// Checksum and Records name the sealed content. The checksum changes
	// when the day is sealed again with other content; empty while open.
	Checksum string
	Records  int64
}

// Content names the partition's content as people read it.
func (p Partition) Content() policy.Text { return Content(p.Checksum, p.Records) }

// BackupCopy is a backup of one day partition, or of one account's data
// as of the end of a day.
type BackupCopy struct {
	ID       string
	Class    string // "system", "exec" or "user"
	Account  string // user data: whose
	Day      string
	Created  time.Time // when the copy was written
	Verified bool      // read back and checked
	// Checksum and Records name the content copied: the partition's as it
	// was sealed when the copy was made (user data: the snapshot's).
	Checksum string
	Records  int64
}

// Content names the content the copy holds as people read it.
func (b BackupCopy) Content() policy.Text { return Content(b.Checksum, b.Records) }

// Holds reports whether b is a copy of p's current content: a log backup
// of the same class and day whose checksum and record count are the
// sealed partition's. Only such a copy, verified, covers p.
func (b BackupCopy) Holds(p Partition) bool {
	return b.Account == "" && b.Class == p.Class && b.Day == p.Day && p.Sealed && p.Checksum != "" &&
		b.Checksum == p.Checksum && b.Records == p.Records
}

// Content names a partition's content in evidence and plans: its record
// count and the first 12 hex digits of its checksum, "65 records,
// sha256:1a2b3c4d5e6f" ("65 件、sha256:1a2b3c4d5e6f").
func Content(checksum string, records int64) policy.Text {
	if checksum == "" {
		return policy.Text{JA: fmt.Sprintf("%d 件、未封印", records), EN: fmt.Sprintf("%d records, not sealed", records)}
	}
	short := checksum[:min(12, len(checksum))]
	return policy.Text{JA: fmt.Sprintf("%d 件、sha256:%s", records, short), EN: fmt.Sprintf("%d records, sha256:%s", records, short)}
}

// Superseded returns the live log backups whose day's partition holds
// other content now (re-sealed since): kept and erased under their own
// retention, but no coverage of the partition.
func Superseded(inv Inventory) []BackupCopy {
	parts := make(map[[2]string]Partition, len(inv.Partitions))
	for _, p := range inv.Partitions {
		parts[[2]string{p.Class, p.Day}] = p
	}
	var out []BackupCopy
	for _, b := range inv.Backups {
		if p, ok := parts[[2]string{b.Class, b.Day}]; ok && b.Account == "" && p.Sealed && !b.Holds(p) {
			out = append(out, b)
		}
	}
	return out
}

// Account is an account in the inventory.
type Account struct {
	ID          string
	Status      string // slokeeper.AccountActive, AccountDeleting or AccountDeleted
	Created     time.Time
	DeletionDue time.Time // the end of the cancel window, once deletion was asked
	HasKey      bool      // its key is in the key store
}

// Inventory is what exists now.
type Inventory struct {
	Partitions []Partition
	Backups    []BackupCopy // of every class
	Accounts   []Account
}

// Action is one thing due, with its reason, clause and deadline.
type Action struct {
	Kind     string
	Class    string
	Account  string // user data
	Day      string
	BackupID string    // for verify and erase_backup
	Clause   string    // the policy clause it keeps
	Due      time.Time // from when it may be done
	Deadline time.Time // by when it must be done; zero when none
	Reason   policy.Text
}

// Subject names what the action is about, as evidence and people see it:
// "system/2026-12-03", "account:acme/2026-12-03" or "account:acme",
// followed by the backup's ID when there is one.
func (a Action) Subject() string {
	s := a.Class + "/" + a.Day
	switch {
	case a.Account != "" && a.Day != "":
		s = "account:" + a.Account + "/" + a.Day
	case a.Account != "":
		s = "account:" + a.Account
	}
	if a.BackupID != "" {
		s += " " + a.BackupID
	}
	return s
}

// Late reports whether the action is past its deadline at now.
func (a Action) Late(now time.Time) bool { return !a.Deadline.IsZero() && now.After(a.Deadline) }

// A planned action's state at a time: held by the interlock, past its
// deadline, or due.
const (
	StateDue  = "due"
	StateHeld = "held"
	StateLate = "late"
)

// State is the action's state at now: StateHeld for an erase the
// interlock holds, StateLate past its deadline, else StateDue.
func (a Action) State(now time.Time) string {
	switch {
	case a.Kind == Held:
		return StateHeld
	case a.Late(now):
		return StateLate
	}
	return StateDue
}

// KindNames names the planned actions' kinds for people.
var KindNames = map[string]policy.Text{
	Backup:        {JA: "バックアップ", EN: "back up"},
	Verify:        {JA: "検証", EN: "verify"},
	EraseOriginal: {JA: "元データの消去", EN: "erase original"},
	EraseBackup:   {JA: "バックアップの消去", EN: "erase backup"},
	Held:          {JA: "保留(インターロック)", EN: "held (interlock)"},
	EraseAccount:  {JA: "アカウントデータの消去", EN: "erase account data"},
	DestroyKey:    {JA: "アカウント鍵の破棄", EN: "destroy account key"},
}

// dayBounds returns the first and the last instant of a day in loc.
func dayBounds(day string, loc *time.Location) (time.Time, time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, day, loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("day %q: %w", day, err)
	}
	return d, calendar.NextDay(d, loc).Add(-time.Nanosecond), nil
}

// origin returns the instant a rule counts from for a record generated at g
// in a backup made at created (zero: not made yet).
func origin(c *policy.Class, r *policy.Rule, g, created time.Time, loc *time.Location) time.Time {
	if r.From == policy.FromGeneration {
		return g
	}
	set := policy.BackupCreated(c.Backup, g, loc)
	if created.After(set) {
		return created
	}
	return set
}

// Plan returns the actions due at now, and the erasures held, in a stable
// order: by deadline, then kind, class, day and backup.
func Plan(p *policy.Policy, inv Inventory, now time.Time) ([]Action, error) {
	loc := p.Location()
	copies := map[[2]string][]BackupCopy{} // (class, day) → its log backups
	for _, b := range inv.Backups {
		if b.Account == "" {
			k := [2]string{b.Class, b.Day}
			copies[k] = append(copies[k], b)
		}
	}
	var out []Action
	for _, part := range inv.Partitions {
		nc, ok := p.Data.LogClass(part.Class)
		if !ok {
			return nil, fmt.Errorf("partition %s/%s: unknown class", part.Class, part.Day)
		}
		c := nc.Class
		_, last, err := dayBounds(part.Day, loc)
		if err != nil {
			return nil, err
		}
		// Coverage is by content: a copy of what the day held when it was
		// sealed before covers nothing of what it holds now.
		var current, covered bool
		var older, olderJA []string
		for _, b := range copies[[2]string{part.Class, part.Day}] {
			if b.Holds(part) {
				current, covered = true, covered || b.Verified
			} else {
				older, olderJA = append(older, b.ID+" ("+b.Content().EN+")"), append(olderJA, b.ID+"("+b.Content().JA+")")
			}
		}
		content := part.Content()
		// Backups: a sealed day without a copy of its content is copied, by
		// the time its set must be complete.
		if part.Sealed && !current {
			reason := policy.Text{JA: fmt.Sprintf("封印済みの日次パーティション(%s)にバックアップがありません。", content.JA),
				EN: fmt.Sprintf("A sealed day partition (%s) has no backup.", content.EN)}
			if len(older) > 0 {
				reason = policy.Text{JA: fmt.Sprintf("日次パーティションが別の内容(%s)で封印し直されました。既存のバックアップ %s は以前の内容のものです。",
					content.JA, strings.Join(olderJA, "、")),
					EN: fmt.Sprintf("The day partition was sealed again with other content (%s); its backups %s hold older content.",
						content.EN, strings.Join(older, ", "))}
			}
			out = append(out, Action{Kind: Backup, Class: part.Class, Day: part.Day, Clause: nc.Clause, Due: now,
				Deadline: policy.BackupCreated(c.Backup, last, loc), Reason: reason})
		}
		// Originals.
		if r := c.Original.Erase; r != nil {
			due := r.After.AddTo(last).Add(time.Nanosecond) // once the day's last instant is past its ceiling
			if !now.Before(due) {
				a := Action{Kind: EraseOriginal, Class: part.Class, Day: part.Day, Clause: nc.Clause, Due: due,
					Deadline: c.Tolerance.AddTo(due),
					Reason: policy.Text{JA: fmt.Sprintf("生成から%sを経過しました。", policy.Span(r.After, "ja")),
						EN: fmt.Sprintf("%s have passed since generation.", policy.Span(r.After, "en"))}}
				if c.Interlock && !covered {
					a.Kind = Held
					a.Reason = policy.Text{JA: fmt.Sprintf("消去期限ですが、現在の内容(%s)の検証済みバックアップがないためインターロックにより保持しています。", content.JA),
						EN: fmt.Sprintf("Due for erasure, but held by the interlock: no verified backup of its current content (%s) exists.", content.EN)}
					if len(older) > 0 {
						a.Reason.JA += fmt.Sprintf("以前の内容のバックアップ %s は対象外です。", strings.Join(olderJA, "、"))
						a.Reason.EN += fmt.Sprintf(" The backups %s hold older content and do not count.", strings.Join(older, ", "))
					}
				}
				out = append(out, a)
			}
		}
	}
	for _, b := range inv.Backups {
		if b.Account != "" {
			continue // user data: planUser
		}
		nc, ok := p.Data.LogClass(b.Class)
		if !ok {
			return nil, fmt.Errorf("backup %s: unknown class %q", b.ID, b.Class)
		}
		if !b.Verified {
			_, last, err := dayBounds(b.Day, loc)
			if err != nil {
				return nil, err
			}
			out = append(out, verify(nc, b, policy.BackupCreated(nc.Backup, last, loc)))
		}
		a, err := eraseBackup(p, nc, b, now)
		if err != nil {
			return nil, err
		}
		if a != nil {
			out = append(out, *a)
		}
	}
	user, err := planUser(p, inv, now)
	if err != nil {
		return nil, err
	}
	out = append(out, user...)
	slices.SortFunc(out, func(a, b Action) int {
		return cmp.Or(a.Deadline.Compare(b.Deadline), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Class, b.Class),
			cmp.Compare(a.Account, b.Account), cmp.Compare(a.Day, b.Day), cmp.Compare(a.BackupID, b.BackupID))
	})
	return out, nil
}

// backupClocks returns when a backup's floor ends (zero: no floor) and
// when it is due for erasure (zero: never): at its ceiling, counted for its
// day's last record, or under precedence "keep" at the floor's end if that
// comes later.
func backupClocks(p *policy.Policy, nc policy.NamedClass, b BackupCopy) (keep, erase time.Time, err error) {
	c, loc := nc.Class, p.Location()
	_, last, err := dayBounds(b.Day, loc)
	if err != nil {
		return keep, erase, err
	}
	if fl := c.Backups.Keep; fl != nil {
		keep = fl.After.AddTo(origin(c, fl, last, b.Created, loc))
	}
	ceiling := c.Backups.Erase
	if ceiling == nil {
		return keep, erase, nil
	}
	erase = ceiling.After.AddTo(origin(c, ceiling, last, b.Created, loc))
	if ceiling.From == policy.FromGeneration {
		erase = erase.Add(time.Nanosecond) // once the day's last instant is past its ceiling
	}
	if p.Data.Precedence == "keep" && keep.After(erase) {
		erase = keep
	}
	return keep, erase, nil
}

// Clocks returns a backup's expiry clocks: until when its floor keeps it
// (zero: no floor) and when it is to be erased (zero: never), as the
// policy counts them.
func Clocks(p *policy.Policy, b BackupCopy) (keep, erase time.Time, err error) {
	nc, ok := p.Data.LogClass(b.Class)
	if b.Account != "" {
		nc, ok = p.Data.User(), true
	}
	if !ok {
		return keep, erase, fmt.Errorf("backup %s: unknown class %q", b.ID, b.Class)
	}
	return backupClocks(p, nc, b)
}

func verify(nc policy.NamedClass, b BackupCopy, deadline time.Time) Action {
	return Action{Kind: Verify, Class: b.Class, Account: b.Account, Day: b.Day, BackupID: b.ID, Clause: nc.Clause, Due: b.Created, Deadline: deadline,
		Reason: policy.Text{JA: "バックアップは検証されるまで有効とみなしません。", EN: "A backup counts only once verified."}}
}

// eraseBackup returns the erasure of b if it is due at now: at its ceiling
// (backups.erase), or while its floor (backups.keep) runs, under
// precedence "keep", at the floor's end.
func eraseBackup(p *policy.Policy, nc policy.NamedClass, b BackupCopy, now time.Time) (*Action, error) {
	c, loc := nc.Class, p.Location()
	ceiling := c.Backups.Erase
	if ceiling == nil {
		return nil, nil
	}
	first, _, err := dayBounds(b.Day, loc)
	if err != nil {
		return nil, err
	}
	_, due, err := backupClocks(p, nc, b)
	if err != nil {
		return nil, err
	}
	deadline := c.Tolerance.AddTo(due)
	if now.Before(due) {
		return nil, nil
	}
	reason := policy.Text{JA: fmt.Sprintf("バックアップの消去期限(%s)に達しました。", ceiling), EN: fmt.Sprintf("The backup reached its ceiling (%s).", ceiling)}
	if fl := c.Backups.Keep; fl != nil && fl.After.AddTo(origin(c, fl, first, b.Created, loc)).After(now) {
		reason.JA += "最低保存期間が残っていますが、ポリシーの優先順位により消去が優先されます。"
		reason.EN += " Its floor still runs, but the policy's precedence lets the ceiling win."
	}
	return &Action{Kind: EraseBackup, Class: b.Class, Account: b.Account, Day: b.Day, BackupID: b.ID, Clause: nc.Clause,
		Due: due, Deadline: deadline, Reason: reason}, nil
}
