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

func (v *Vault) evidence(ctx context.Context, action, account string, deadline time.Time, outcome, detail string) {
	e := &slokeeper.Evidence{At: v.cfg.Clock.Now(), Clause: policy.ClauseUserData, Action: action, Subject: "account:" + account,
		Deadline: deadline, Outcome: outcome, Detail: detail, Node: v.cfg.Node}
	v.cfg.Evidence.RecordEvidence(ctx, e)
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
	v.evidence(ctx, "account.deletion_requested", id, tolerance.AddTo(due), slokeeper.OutcomeOK,
		fmt.Sprintf("disabled; cancellable until %s, erased by %s", due.Format(time.RFC3339), tolerance.AddTo(due).Format(time.RFC3339)))
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
	v.evidence(ctx, "account.deletion_cancelled", id, time.Time{}, slokeeper.OutcomeOK, "")
	a.Status, a.DeletionRequestedAt, a.DeletionDueAt = active, zero, zero
	return a, nil
}

// FinalizeDue erases every account whose cancel window has ended: its
// items, then its key (after which no copy of its data anywhere, backups
// included, can be decrypted). Each step can be redone after a crash.
func (v *Vault) FinalizeDue(ctx context.Context) ([]string, error) {
	ud := &v.cfg.Policy.Data.UserData
	if ud.OnAccountDeletion == nil || !ud.OnAccountDeletion.Erase {
		return nil, nil // the policy keeps data on deletion: nothing to finalize
	}
	tolerance, now := ud.Tolerance, v.cfg.Clock.Now()
	due, err := v.cfg.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{DueBy: now})
	if err != nil {
		return nil, err
	}
	var done []string
	for _, a := range due {
		if err := v.cfg.Audit(ctx, "system:"+v.cfg.Node, "account.erase", "account:"+a.ID, "cancel window over"); err != nil {
			return done, err
		}
		n, err := v.cfg.Accounts.DeleteAccountItems(ctx, a.ID)
		if err != nil {
			return done, err
		}
		if err := v.cfg.Crypto.DestroyAccountKey(ctx, a.ID); err != nil && slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
			return done, err
		}
		deleted, at := slokeeper.AccountDeleted, v.cfg.Clock.Now().UTC().Truncate(time.Microsecond)
		if err := v.cfg.Accounts.UpdateAccount(ctx, a.ID, slokeeper.AccountUpdate{Status: &deleted, DeletedAt: &at}); err != nil {
			return done, err
		}
		deadline, outcome := tolerance.AddTo(a.DeletionDueAt), slokeeper.OutcomeOK
		if at.After(deadline) {
			outcome = slokeeper.OutcomeLate
		}
		v.evidence(ctx, "account.erased", a.ID, deadline, outcome, fmt.Sprintf("%d items erased and the account key destroyed", n))
		done = append(done, a.ID)
	}
	return done, nil
}
