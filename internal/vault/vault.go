// Package vault keeps the accounts' data: encrypted under each account's
// key, readable by staff only through a just-in-time grant (requested with
// a reason, approved by another admin when the policy wants two people,
// expiring by itself), every read and change recorded in the audit
// ledger, and erased with its key when the account is deleted.
package vault

import (
	"context"
	"fmt"
	"slices"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
	"slokeeper/policy"
)

// Crypto encrypts account data (keys.Manager).
type Crypto interface {
	Encrypt(ctx context.Context, account string, plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ctx context.Context, account string, ciphertext, associatedData []byte) ([]byte, error)
	DestroyAccountKey(ctx context.Context, account string) error
}

// Config configures a Vault. Every field is required but Clock.
type Config struct {
	Accounts  slokeeper.AccountService
	Grants    slokeeper.GrantService
	Operators slokeeper.OperatorService
	Evidence  slokeeper.EvidenceService
	Crypto    Crypto
	// Audit records an action in the ledger; when it fails the action is refused.
	Audit  func(ctx context.Context, actor, action, target, detail string) error
	Policy *policy.Policy
	Clock  slokeeper.Clock // default: the system clock
	Node   string
}

// Vault is the account-data service.
type Vault struct {
	cfg Config
}

// New returns a Vault.
func New(cfg Config) *Vault {
	if cfg.Clock == nil {
		cfg.Clock = slokeeper.SystemClock{}
	}
	return &Vault{cfg: cfg}
}

// Actor is who acts: an operator, or an operator's API token.
type Actor struct {
	Operator *slokeeper.Operator
	Label    string // as the ledger names them, e.g. "operator:alice"
}

func (a Actor) is(roles ...string) bool { return slices.Contains(roles, a.Operator.Role) }

func forbidden(format string, args ...any) error {
	return slokeeper.Errorf(slokeeper.EFORBIDDEN, format, args...)
}

func (v *Vault) account(ctx context.Context, id string) (*slokeeper.Account, error) {
	as, err := v.cfg.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No account %q.", id)
	}
	return as[0], nil
}

// CreateAccount creates an account (admin or operator).
func (v *Vault) CreateAccount(ctx context.Context, by Actor, id, name string) (*slokeeper.Account, error) {
	if !by.is(slokeeper.RoleAdmin, slokeeper.RoleOperator) {
		return nil, forbidden("Creating accounts needs the role admin or operator.")
	}
	a := &slokeeper.Account{ID: id, Name: name, CreatedAt: v.cfg.Clock.Now()}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := v.cfg.Audit(ctx, by.Label, "account.create", "account:"+id, name); err != nil {
		return nil, err
	}
	return a, v.cfg.Accounts.CreateAccount(ctx, a)
}

// PutItem stores a piece of an account's data, encrypted under its key and
// bound to (account, kind, key). Writing discloses nothing, so it needs the
// role admin or operator, not a grant.
func (v *Vault) PutItem(ctx context.Context, by Actor, account, kind, key string, value []byte) (*slokeeper.AccountItem, error) {
	if !by.is(slokeeper.RoleAdmin, slokeeper.RoleOperator) {
		return nil, forbidden("Writing account data needs the role admin or operator.")
	}
	limit, ok := slokeeper.ItemLimits[kind]
	if !ok {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "Kind %q is not document, data or credential.", kind)
	}
	if key == "" || len(key) > 200 {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "An item key is 1 to 200 bytes.")
	}
	if len(value) > limit {
		return nil, slokeeper.Errorf(slokeeper.ETOOLARGE, "A %s holds at most %d bytes; this one has %d.", kind, limit, len(value))
	}
	if err := slokeeper.CheckItemValue(kind, value); err != nil {
		return nil, err
	}
	a, err := v.account(ctx, account)
	if err != nil {
		return nil, err
	}
	if a.Status != slokeeper.AccountActive {
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Account %s is %s: its data can no longer change.", account, a.Status)
	}
	it := &slokeeper.AccountItem{Account: account, Kind: kind, Key: key, Size: len(value), UpdatedAt: v.cfg.Clock.Now().UTC().Truncate(time.Microsecond)}
	if err := v.cfg.Audit(ctx, by.Label, "data.write", "account:"+account, kind+"/"+key); err != nil {
		return nil, err
	}
	if it.Ciphertext, err = v.cfg.Crypto.Encrypt(ctx, account, value, it.AssociatedData()); err != nil {
		return nil, err
	}
	return it, v.cfg.Accounts.PutAccountItem(ctx, it)
}

// grantFor returns the actor's active grant that opens kind in account.
func (v *Vault) grantFor(ctx context.Context, by Actor, account, kind string) (*slokeeper.Grant, error) {
	grants, err := v.cfg.Grants.FindGrants(ctx, slokeeper.GrantFilter{OperatorID: by.Operator.ID, Account: account})
	if err != nil {
		return nil, err
	}
	now := v.cfg.Clock.Now()
	for _, g := range grants {
		if g.Active(now) && g.Covers(kind) {
			return g, nil
		}
	}
	return nil, forbidden("Reading %s of account %s needs an access grant. Request one with a reason "+
		"(POST /api/v1/grants or slokeeper grant request); %s approves it.", itemsText(kind), account, v.approverText())
}

// itemsText names the items of a kind (or of every kind, for the scope
// all) in a sentence, so that no message says "data data".
func itemsText(kind string) string {
	switch kind {
	case slokeeper.GrantAll:
		return "the items"
	case slokeeper.ItemData:
		return "the data items"
	}
	return "the " + kind + "s"
}

func (v *Vault) approverText() string {
	if v.cfg.Policy.Access.TwoPerson {
		return "an admin other than you"
	}
	return "an admin"
}

// GetItem decrypts one item for an operator holding a grant; the read is
// in the ledger with the grant that allowed it.
func (v *Vault) GetItem(ctx context.Context, by Actor, account, kind, key string) ([]byte, *slokeeper.AccountItem, error) {
	g, err := v.grantFor(ctx, by, account, kind)
	if err != nil {
		return nil, nil, err
	}
	it, err := v.cfg.Accounts.GetAccountItem(ctx, account, kind, key)
	if slokeeper.ErrorCode(err) == slokeeper.ENOTFOUND {
		return nil, nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "Account %s has no %s %q.", account, kind, key)
	} else if err != nil {
		return nil, nil, err
	}
	if err := v.cfg.Audit(ctx, by.Label, "data.read", "account:"+account, fmt.Sprintf("%s/%s under grant %s", kind, key, g.ID)); err != nil {
		return nil, nil, err
	}
	pt, err := v.cfg.Crypto.Decrypt(ctx, account, it.Ciphertext, it.AssociatedData())
	return pt, it, err
}

// ListItems lists an account's items (names and sizes) for a grant holder.
func (v *Vault) ListItems(ctx context.Context, by Actor, account, kind string) ([]*slokeeper.AccountItem, error) {
	scope := kind
	if scope == "" {
		scope = slokeeper.GrantAll
	}
	g, err := v.grantFor(ctx, by, account, scope)
	if err != nil {
		return nil, err
	}
	if err := v.cfg.Audit(ctx, by.Label, "data.list", "account:"+account, fmt.Sprintf("%s under grant %s", scope, g.ID)); err != nil {
		return nil, err
	}
	return v.cfg.Accounts.FindAccountItems(ctx, account, kind)
}

// RequestGrant asks for access to an account's data, for a reason and at
// most the policy's maximum duration. Without two-person approval in the
// policy an admin's request is approved at once.
func (v *Vault) RequestGrant(ctx context.Context, by Actor, account, scope, reason string, d time.Duration) (*slokeeper.Grant, error) {
	if !by.is(slokeeper.RoleAdmin, slokeeper.RoleOperator, slokeeper.RoleSupport) {
		return nil, forbidden("Access grants are for admin, operator and support staff.")
	}
	if scope != slokeeper.GrantAll {
		if _, ok := slokeeper.ItemLimits[scope]; !ok {
			return nil, slokeeper.Errorf(slokeeper.EINVALID, "Scope %q is not document, data, credential or all.", scope)
		}
	}
	if len(reason) < 5 {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "Say why you need the access (a reason of at least 5 characters).")
	}
	now := v.cfg.Clock.Now()
	if maxD := v.cfg.Policy.Access.GrantMax.AddTo(now).Sub(now); d <= 0 || d > maxD {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "A grant lasts more than 0 and at most %s (access.grant_max).", maxD)
	}
	if _, err := v.account(ctx, account); err != nil {
		return nil, err
	}
	g := &slokeeper.Grant{ID: "gr_" + auth.NewToken("")[:12], OperatorID: by.Operator.ID, Account: account, Scope: scope,
		Reason: reason, Duration: d, RequestedAt: now.UTC().Truncate(time.Microsecond)}
	if err := v.cfg.Audit(ctx, by.Label, "grant.request", "account:"+account, fmt.Sprintf("%s: %s for %s: %s", g.ID, scope, d, reason)); err != nil {
		return nil, err
	}
	if err := v.cfg.Grants.CreateGrant(ctx, g); err != nil {
		return nil, err
	}
	if !v.cfg.Policy.Access.TwoPerson && by.is(slokeeper.RoleAdmin) {
		return v.ApproveGrant(ctx, by, g.ID)
	}
	return g, nil
}

// ApproveGrant approves a pending grant: an admin, and under two-person
// approval not the one who asked. The grant runs from now for its duration.
func (v *Vault) ApproveGrant(ctx context.Context, by Actor, id string) (*slokeeper.Grant, error) {
	g, err := v.grant(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case !by.is(slokeeper.RoleAdmin):
		return nil, forbidden("Only an admin approves access grants.")
	case v.cfg.Policy.Access.TwoPerson && g.OperatorID == by.Operator.ID:
		return nil, forbidden("You cannot approve your own access grant: the policy wants a second person (access.two_person).")
	case !g.ApprovedAt.IsZero() || !g.RevokedAt.IsZero():
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Grant %s was already approved or revoked.", id)
	}
	now := v.cfg.Clock.Now().UTC().Truncate(time.Microsecond)
	exp := now.Add(g.Duration)
	if err := v.cfg.Audit(ctx, by.Label, "grant.approve", "account:"+g.Account, g.ID); err != nil {
		return nil, err
	}
	if err := v.cfg.Grants.UpdateGrant(ctx, id, slokeeper.GrantUpdate{ApproverID: &by.Operator.ID, ApprovedAt: &now, ExpiresAt: &exp}); err != nil {
		return nil, err
	}
	g.ApproverID, g.ApprovedAt, g.ExpiresAt = by.Operator.ID, now, exp
	return g, nil
}

// RevokeGrant ends a grant now (its holder or an admin).
func (v *Vault) RevokeGrant(ctx context.Context, by Actor, id string) error {
	g, err := v.grant(ctx, id)
	if err != nil {
		return err
	}
	if g.OperatorID != by.Operator.ID && !by.is(slokeeper.RoleAdmin) {
		return forbidden("Only the grant's holder or an admin revokes it.")
	}
	now := v.cfg.Clock.Now()
	if err := v.cfg.Audit(ctx, by.Label, "grant.revoke", "account:"+g.Account, g.ID); err != nil {
		return err
	}
	return v.cfg.Grants.UpdateGrant(ctx, id, slokeeper.GrantUpdate{RevokedAt: &now})
}

func (v *Vault) grant(ctx context.Context, id string) (*slokeeper.Grant, error) {
	gs, err := v.cfg.Grants.FindGrants(ctx, slokeeper.GrantFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No grant %q.", id)
	}
	return gs[0], nil
}

// Grants lists grants: all of them for admins and auditors, one's own for others.
func (v *Vault) Grants(ctx context.Context, by Actor, account string) ([]*slokeeper.Grant, error) {
	f := slokeeper.GrantFilter{Account: account}
	if !by.is(slokeeper.RoleAdmin, slokeeper.RoleAuditor) {
		f.OperatorID = by.Operator.ID
	}
	return v.cfg.Grants.FindGrants(ctx, f)
}

// Accounts lists the accounts (names and states, never their data) for
// staff: admin, operator, support.
func (v *Vault) Accounts(ctx context.Context, by Actor, status string) ([]*slokeeper.Account, error) {
	if !by.is(slokeeper.RoleAdmin, slokeeper.RoleOperator, slokeeper.RoleSupport) {
		return nil, forbidden("Listing accounts is for admin, operator and support staff.")
	}
	return v.cfg.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{Status: status})
}
