package simulate

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"slokeeper"
	"slokeeper/internal/keys"
	"slokeeper/internal/vault"
	"slokeeper/lifecycle"
)

// People is the accounts' side of a simulated world: customers who sign
// up, change their data, delete their accounts and sometimes take the
// deletion back, and what each account's data must be.
type People struct {
	// Live is how many active accounts the world keeps about; 0: none.
	Live int
	// Data is every account whose data is kept (active, or deleting
	// within its cancel window): kind/key → value.
	Data map[string]map[string]string
	// Due is when each pending deletion's cancel window ends.
	Due map[string]time.Time
	// Cancel is when a pending deletion is taken back.
	Cancel map[string]time.Time
	// Shredded holds one item of every deleted account, as it was stored:
	// once the account is erased, nothing may decrypt it.
	Shredded map[string]*slokeeper.AccountItem
	next     int
}

func newPeople() *People {
	return &People{Data: map[string]map[string]string{}, Due: map[string]time.Time{}, Cancel: map[string]time.Time{}, Shredded: map[string]*slokeeper.AccountItem{}}
}

// kept reports whether an account's data is kept at now: it exists and no
// deletion's window has ended.
func (p *People) kept(id string, now time.Time) bool {
	_, ok := p.Data[id]
	due, deleting := p.Due[id]
	return ok && (!deleting || now.Before(due))
}

// Active returns the accounts that can change, in order.
func (p *People) Active() []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(p.Data)) {
		if _, deleting := p.Due[id]; !deleting {
			out = append(out, id)
		}
	}
	return out
}

// simulated is who acts for the simulated customers and staff.
var simulated = vault.Actor{Operator: &slokeeper.Operator{ID: "op_simulate", Name: "simulate", Role: slokeeper.RoleAdmin}, Label: "system:simulate"}

// accountsDay is a day of the customers' doings, at the clock's now.
func (w *World) accountsDay(ctx context.Context, rng *rand.Rand) error {
	p, now := w.People, w.Clock.Now()
	for _, id := range slices.Sorted(maps.Keys(p.Cancel)) {
		if !now.Before(p.Cancel[id]) {
			if _, err := w.Vault.CancelDeletion(ctx, simulated, id); err != nil {
				return fmt.Errorf("cancel the deletion of %s: %w", id, err)
			}
			delete(p.Cancel, id)
			delete(p.Due, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(p.Due)) {
		if !now.Before(p.Due[id]) {
			delete(p.Data, id) // the window is over: the data goes
			delete(p.Due, id)
		}
	}
	for n := len(p.Active()); n < p.Live || n < p.Live+2 && rng.IntN(20) == 0; n++ {
		p.next++
		id := fmt.Sprintf("acct-%04d", p.next)
		if _, err := w.Vault.CreateAccount(ctx, simulated, id, "Customer "+id); err != nil {
			return err
		}
		p.Data[id] = map[string]string{}
	}
	day := now.In(w.Policy.Location()).Format(time.DateOnly)
	for _, id := range p.Active() {
		for range 1 + rng.IntN(3) {
			kind, key := slokeeper.ItemData, fmt.Sprintf("sensor-%d", rng.IntN(8))
			if rng.IntN(5) == 0 {
				kind, key = slokeeper.ItemDocument, fmt.Sprintf("flow-%d", rng.IntN(3))
			}
			value := fmt.Sprintf("%s %s: %d", day, key, rng.IntN(1_000_000))
			if kind == slokeeper.ItemDocument { // a document is JSON
				value = fmt.Sprintf(`{"day": %q, "key": %q, "value": %d}`, day, key, rng.IntN(1_000_000))
			}
			if _, err := w.Vault.PutItem(ctx, simulated, id, kind, key, []byte(value)); err != nil {
				return err
			}
			p.Data[id][kind+"/"+key] = value
		}
	}
	if active := p.Active(); len(active) > 2 && rng.IntN(15) == 0 {
		var cancel time.Time
		if rng.IntN(4) == 0 {
			cancel = now.Add(48 * time.Hour)
		}
		return w.RequestDeletion(ctx, active[rng.IntN(len(active))], cancel)
	}
	return nil
}

// RequestDeletion asks for an account's deletion, as its customer would,
// to be taken back at cancel (zero: never).
func (w *World) RequestDeletion(ctx context.Context, id string, cancel time.Time) error {
	p := w.People
	items, err := w.Accounts.SnapshotAccountItems(ctx, id)
	if err != nil {
		return err
	}
	a, err := w.Vault.RequestDeletion(ctx, simulated, id)
	if err != nil {
		return err
	}
	p.Due[id] = a.DeletionDueAt
	if len(items) > 0 {
		p.Shredded[id] = items[0]
	}
	if !cancel.IsZero() {
		p.Cancel[id] = cancel
	}
	return nil
}

// checkAccounts checks the user-data clause at the clock's now:
//   - every kept account's data is exactly what its customer wrote, and its
//     key is there;
//   - unless late is allowed, every active account has a verified snapshot
//     of yesterday, and every account whose cancel window ended (and the
//     tolerance after it) is erased: no data, no key, no backups, and what
//     it stored no longer decrypts;
//   - with objects, yesterday's snapshot restores each account's data as
//     it is.
func (w *World) checkAccounts(ctx context.Context, inv lifecycle.Inventory, allowLate, objects bool) error {
	p, now, loc := w.People, w.Clock.Now(), w.Policy.Location()
	nc := w.Policy.Data.User()
	yesterday := now.In(loc).AddDate(0, 0, -1).Format(time.DateOnly)
	snapshots := map[string]lifecycle.BackupCopy{} // account → yesterday's verified snapshot
	copies := map[string]int{}
	for _, b := range inv.Backups {
		if b.Account == "" {
			continue
		}
		copies[b.Account]++
		if b.Verified && b.Day == yesterday {
			snapshots[b.Account] = b
		}
	}
	fail := func(ja, en string, args ...any) error {
		return violation(nc.Clause, "%s: "+ja, "%s: "+en, append([]any{stamp(now, loc)}, args...)...)
	}
	for _, a := range inv.Accounts {
		if want := p.Data[a.ID]; p.kept(a.ID, now) {
			if !a.HasKey {
				return fail("アカウント %s の鍵が、データを保持すべき間に破棄されました。", "account %s's key was destroyed while its data is kept.", a.ID)
			}
			if err := w.sameData(ctx, a.ID, want, w.Accounts.SnapshotAccountItems); err != nil {
				return fail("アカウント %s のデータが失われたか変わりました: %v", "account %s's data was lost or changed: %v", a.ID, err)
			}
			b, ok := snapshots[a.ID]
			if !ok && !allowLate && a.Status == slokeeper.AccountActive && a.Created.In(loc).Format(time.DateOnly) < yesterday {
				return fail("アカウント %s に %s の検証済みバックアップがありません。", "account %s has no verified backup of %s.", a.ID, yesterday)
			}
			if ok && objects {
				read := func(ctx context.Context, _ string) ([]*slokeeper.AccountItem, error) {
					man, err := w.Exec.Manifest(ctx, b.ID)
					if err != nil {
						return nil, err
					}
					return w.inspect.ReadSnapshot(ctx, man, nil)
				}
				if err := w.sameData(ctx, a.ID, want, read); err != nil {
					return fail("アカウント %s のバックアップ %s から元のデータを復元できません: %v", "account %s's backup %s does not restore its data: %v", a.ID, b.ID, err)
				}
			}
			continue
		}
		if allowLate || !now.After(nc.Tolerance.AddTo(a.DeletionDue)) {
			continue
		}
		items, err := w.Accounts.SnapshotAccountItems(ctx, a.ID)
		switch {
		case err != nil:
			return err
		case a.Status != slokeeper.AccountDeleted || len(items) > 0:
			return fail("削除されたアカウント %s のデータが期限 %s を過ぎても残っています (%s, %d 件)。",
				"deleted account %s's data is kept past its deadline %s (%s, %d items).", a.ID, stamp(nc.Tolerance.AddTo(a.DeletionDue), loc), a.Status, len(items))
		case a.HasKey:
			return fail("削除されたアカウント %s の鍵が残っています。", "deleted account %s's key still exists.", a.ID)
		case copies[a.ID] > 0 && nc.OnAccountDeletion.IncludeBackups:
			return fail("削除されたアカウント %s のバックアップが %d 件残っています。", "deleted account %s still has %d backups.", a.ID, copies[a.ID])
		}
		if sample := p.Shredded[a.ID]; sample == nil {
			continue
		} else if _, err := w.Keys.Decrypt(ctx, a.ID, sample.Ciphertext, sample.AssociatedData()); err != keys.ErrShredded {
			return fail("削除されたアカウント %s のデータがまだ復号できます (%v)。", "deleted account %s's data still decrypts (%v).", a.ID, err)
		}
	}
	return nil
}

// sameData compares an account's items, as read, with what was written.
func (w *World) sameData(ctx context.Context, account string, want map[string]string, read func(context.Context, string) ([]*slokeeper.AccountItem, error)) error {
	items, err := read(ctx, account)
	if err != nil {
		return err
	}
	if len(items) != len(want) {
		return fmt.Errorf("%d items, want %d", len(items), len(want))
	}
	for _, it := range items {
		pt, err := w.Keys.Decrypt(ctx, account, it.Ciphertext, it.AssociatedData())
		if err != nil {
			return fmt.Errorf("%s/%s: %w", it.Kind, it.Key, err)
		}
		if v, ok := want[it.Kind+"/"+it.Key]; !ok || v != string(pt) {
			return fmt.Errorf("%s/%s is %q, want %q", it.Kind, it.Key, pt, v)
		}
	}
	return nil
}
