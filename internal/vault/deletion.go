package vault

import (
	"context"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/policy"
)

func (v *Vault) deletionRules() (*policy.AccountDeletion, policy.Duration, error) {
	ud := &v.cfg.Policy.Data.UserData
	if ud.OnAccountDeletion == nil || !ud.OnAccountDeletion.Erase {
		return nil, policy.Duration{}, slokeeper.Errorf(slokeeper.EINVALID, "The policy does not erase user data on account deletion (data.user_data.on_account_deletion).")
	}
	return ud.OnAccountDeletion, ud.Tolerance, nil
}

func (v *Vault) evidence(ctx context.Context, action, account string, deadline time.Time, outcome, detail string) error {
	e := &slokeeper.Evidence{At: v.cfg.Clock.Now(), Clause: policy.ClauseUserData, Action: action, Subject: "account:" + account,
		Deadline: deadline, Outcome: outcome, Detail: detail, Node: v.cfg.Node}
	return slokeeper.RecordEvidenceRetrying(ctx, v.cfg.Evidence, e)
}

// undo puts an account back as it was when the evidence of a change to it
// could not be recorded: the change is refused rather than left unproven.
func (v *Vault) undo(ctx context.Context, a *slokeeper.Account, cause error) error {
	err := v.cfg.Accounts.UpdateAccount(context.WithoutCancel(ctx), a.ID, slokeeper.AccountUpdate{Status: &a.Status,
		DeletionRequestedAt: &a.DeletionRequestedAt, DeletionDueAt: &a.DeletionDueAt})
	if err != nil {
		return fmt.Errorf("%w; and putting account %s back failed: %w", cause, a.ID, err)
	}
	return fmt.Errorf("%w; the change to account %s was undone", cause, a.ID)
}

// RequestDeletion disables the account at once (its data can no longer
// change) and starts the policy's cancel window; when it ends the data and
// the key are erased.
func (v *Vault) RequestDeletion(ctx context.Context, by Actor, id string) (*slokeeper.Account, error) {
	if !by.is(slokeeper.RoleAdmin) {
		return nil, forbidden("Deleting an account needs the role admin.")
	}
	rules, tolerance, err := v.deletionRules()
	if err != nil {
		return nil, err
	}
	a, err := v.account(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Status != slokeeper.AccountActive {
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Account %s is already %s.", id, a.Status)
	}
	now := v.cfg.Clock.Now().UTC().Truncate(time.Microsecond)
	due := rules.CancelWindow.AddTo(now)
	if err := v.cfg.Audit(ctx, by.Label, "account.delete", "account:"+id, "erasure due "+due.Format(time.RFC3339)); err != nil {
		return nil, err
	}
	status := slokeeper.AccountDeleting
	if err := v.cfg.Accounts.UpdateAccount(ctx, id, slokeeper.AccountUpdate{Status: &status, DeletionRequestedAt: &now, DeletionDueAt: &due}); err != nil {
		return nil, err
	}
	if err := v.evidence(ctx, "account.deletion_requested", id, tolerance.AddTo(due), slokeeper.OutcomeOK,
		fmt.Sprintf("disabled; cancellable until %s, erased by %s", due.Format(time.RFC3339), tolerance.AddTo(due).Format(time.RFC3339))); err != nil {
		return nil, v.undo(ctx, a, err)
	}
	a.Status, a.DeletionRequestedAt, a.DeletionDueAt = status, now, due
	return a, nil
}

// CancelDeletion takes a deletion back while its window is open.
func (v *Vault) CancelDeletion(ctx context.Context, by Actor, id string) (*slokeeper.Account, error) {
	if !by.is(slokeeper.RoleAdmin) {
		return nil, forbidden("Cancelling an account deletion needs the role admin.")
	}
	a, err := v.account(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Status != slokeeper.AccountDeleting || !v.cfg.Clock.Now().Before(a.DeletionDueAt) {
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Account %s has no deletion that can still be cancelled.", id)
	}
	if err := v.cfg.Audit(ctx, by.Label, "account.delete.cancel", "account:"+id, ""); err != nil {
		return nil, err
	}
	active, zero := slokeeper.AccountActive, time.Time{}
	if err := v.cfg.Accounts.UpdateAccount(ctx, id, slokeeper.AccountUpdate{Status: &active, DeletionRequestedAt: &zero, DeletionDueAt: &zero}); err != nil {
		return nil, err
	}
	if err := v.evidence(ctx, "account.deletion_cancelled", id, time.Time{}, slokeeper.OutcomeOK, ""); err != nil {
		return nil, v.undo(ctx, a, err)
	}
	a.Status, a.DeletionRequestedAt, a.DeletionDueAt = active, zero, zero
	return a, nil
}

// finalizable returns the account if its deletion can no longer be
// cancelled: deleting with its window over, or already deleted.
func (v *Vault) finalizable(ctx context.Context, id string) (*slokeeper.Account, error) {
	if _, _, err := v.deletionRules(); err != nil {
		return nil, err
	}
	a, err := v.account(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Status == slokeeper.AccountActive || a.Status == slokeeper.AccountDeleting && v.cfg.Clock.Now().Before(a.DeletionDueAt) {
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Account %s is %s: its data is not to be erased.", id, a.Status)
	}
	return a, nil
}

// EraseAccountData erases the data of an account whose cancel window has
// ended and marks it deleted (the lifecycle engine's erase_account). It
// checks the account again, so a deletion cancelled meanwhile is left
// alone. Doing it twice is harmless.
func (v *Vault) EraseAccountData(ctx context.Context, id string) (int, error) {
	a, err := v.finalizable(ctx, id)
	if err != nil {
		return 0, err
	}
	if err := v.cfg.Audit(ctx, "system:"+v.cfg.Node, "account.erase", "account:"+id, "cancel window over"); err != nil {
		return 0, err
	}
	n, err := v.cfg.Accounts.DeleteAccountItems(ctx, id)
	if err != nil || a.Status == slokeeper.AccountDeleted {
		return n, err
	}
	deleted, at := slokeeper.AccountDeleted, v.cfg.Clock.Now().UTC().Truncate(time.Microsecond)
	return n, v.cfg.Accounts.UpdateAccount(ctx, id, slokeeper.AccountUpdate{Status: &deleted, DeletedAt: &at})
}

// DestroyAccountKey destroys the key of an account whose cancel window has
// ended (the lifecycle engine's destroy_key): after it no copy of the
// account's data anywhere, backups included, can be decrypted. A key
// already gone is not an error.
func (v *Vault) DestroyAccountKey(ctx context.Context, id string) error {
	if _, err := v.finalizable(ctx, id); err != nil {
		return err
	}
	if err := v.cfg.Audit(ctx, "system:"+v.cfg.Node, "account.key_destroy", "account:"+id, "every copy of its data becomes unreadable"); err != nil {
		return err
	}
	if err := v.cfg.Crypto.DestroyAccountKey(ctx, id); err != nil && slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		return err
	}
	return nil
}
