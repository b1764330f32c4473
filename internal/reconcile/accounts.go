package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"slokeeper"
	"slokeeper/internal/backup"
)

// MirrorAccounts writes to the target the state of every account whose
// state there is missing or out of date (created, deletion requested or
// cancelled, erased), so that a catalog rebuilt from the target alone
// knows every account as of the last pass. Each pass does it; it lists the
// target once and writes only what changed. A failure does not stop the
// others.
func (e *Executor) MirrorAccounts(ctx context.Context) error {
	if e.cfg.Accounts == nil {
		return nil
	}
	on, err := e.cfg.Backups.AccountStateKeys(ctx)
	if err != nil {
		return fmt.Errorf("lifecycle: account states: %w", err)
	}
	accounts, err := e.cfg.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{})
	if err != nil {
		return err
	}
	now := e.cfg.Clock.Now()
	var errs []error
	for _, a := range accounts {
		old := on[a.ID]
		if _, ok := old[backup.StateFingerprint(a)]; ok && len(old) == 1 {
			continue
		}
		// The name is sealed under the account's key only while that key
		// cannot be destroyed: active, or deleting within the cancel window.
		// Sealing gives an account that has none yet its key, so that the
		// key store tells a live account (a key) from an erased one.
		seal := a.Status == slokeeper.AccountActive || a.Status == slokeeper.AccountDeleting && now.Before(a.DeletionDueAt)
		if err := e.cfg.Backups.PutAccountState(ctx, a, old, seal); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lifecycle: account states: %w", err)
	}
	return nil
}

// Recovered says what RecoverAccounts recreated.
type Recovered struct {
	Active, Deleting, Deleted int
	// Unknown: accounts with a key in the key store but no state on the
	// target (created after the last pass): not recreated.
	Unknown []string
}

// RecoverAccounts recreates in the catalog's database the accounts whose
// state the target holds and the database lacks (the database was lost),
// with their deletion state. An account whose key is no longer in the key
// store is erased, whatever the target says, and is recreated as deleted:
// a deleted account never comes back.
func (e *Executor) RecoverAccounts(ctx context.Context) (*Recovered, error) {
	states, err := e.cfg.Backups.AccountStates(ctx)
	if err != nil {
		return nil, err
	}
	have, err := e.cfg.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{})
	if err != nil {
		return nil, err
	}
	keyed, err := e.cfg.Keys.AccountKeys(ctx)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, a := range have {
		known[a.ID] = true
	}
	out := &Recovered{}
	slices.SortFunc(states, func(x, y *slokeeper.Account) int { return cmp.Compare(x.ID, y.ID) })
	for _, a := range states {
		if known[a.ID] {
			continue
		}
		known[a.ID] = true
		if !slices.Contains(keyed, a.ID) && a.Status != slokeeper.AccountDeleted {
			a.Status, a.DeletedAt = slokeeper.AccountDeleted, cmp.Or(a.DeletedAt, e.cfg.Clock.Now().UTC())
		}
		if err := createAccount(ctx, e.cfg.Accounts, a); err != nil {
			return out, err
		}
		switch a.Status {
		case slokeeper.AccountActive:
			out.Active++
		case slokeeper.AccountDeleting:
			out.Deleting++
		default:
			out.Deleted++
		}
	}
	for _, id := range keyed {
		if !known[id] {
			out.Unknown = append(out.Unknown, id)
		}
	}
	slices.Sort(out.Unknown)
	return out, nil
}

// createAccount creates a with its deletion state (an account is created
// active).
func createAccount(ctx context.Context, to slokeeper.AccountService, a *slokeeper.Account) error {
	if err := to.CreateAccount(ctx, &slokeeper.Account{ID: a.ID, Name: a.Name, CreatedAt: a.CreatedAt}); err != nil {
		return fmt.Errorf("recreate account %s: %w", a.ID, err)
	}
	return setAccountState(ctx, to, a)
}

func setAccountState(ctx context.Context, to slokeeper.AccountService, a *slokeeper.Account) error {
	if a.Status == slokeeper.AccountActive {
		return nil
	}
	upd := slokeeper.AccountUpdate{Status: &a.Status, DeletionRequestedAt: &a.DeletionRequestedAt, DeletionDueAt: &a.DeletionDueAt}
	if a.Status == slokeeper.AccountDeleted {
		upd.DeletedAt = &a.DeletedAt
	}
	if err := to.UpdateAccount(ctx, a.ID, upd); err != nil {
		return fmt.Errorf("recreate account %s: %w", a.ID, err)
	}
	return nil
}
