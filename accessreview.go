package slokeeper

import (
	"context"
	"strings"
	"time"
)

// Grant states, as an access review and grant lists show them.
const (
	GrantPending = "pending"
	GrantActive  = "active"
	GrantExpired = "expired"
	GrantRevoked = "revoked"
)

// State is g's state at now: pending, active, expired or revoked.
func (g *Grant) State(now time.Time) string {
	switch {
	case !g.RevokedAt.IsZero():
		return GrantRevoked
	case g.ApprovedAt.IsZero():
		return GrantPending
	case g.Active(now):
		return GrantActive
	}
	return GrantExpired
}

// GrantUse is one read of an account's data under a grant, as the audit
// ledger recorded it.
type GrantUse struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"` // data.read or data.list
	What   string    `json:"what"`   // the item read: "credential/mqtt in acme"
}

// GrantUses reads the ledger for what each grant was used for: the
// data.read and data.list entries that name it, by grant ID. It reads the
// whole ledger; it serves reviews, not a hot path.
func GrantUses(ctx context.Context, audit AuditStore) (map[string][]GrantUse, error) {
	uses := map[string][]GrantUse{}
	err := audit.EachAuditEntry(ctx, 1, 0, func(e *AuditEntry) error {
		if e.Action != "data.read" && e.Action != "data.list" {
			return nil
		}
		what, id, ok := strings.Cut(e.Detail, " under grant ")
		if ok {
			uses[id] = append(uses[id], GrantUse{At: e.At, Action: e.Action, What: what})
		}
		return nil
	})
	return uses, err
}

// AccessReview is who holds which role and which grant, and what each
// grant was used for: the periodic review the access clause asks for.
type AccessReview struct {
	ReviewedAt time.Time          `json:"reviewed_at"`
	Operators  []ReviewedOperator `json:"operators"`
	Grants     []ReviewedGrant    `json:"grants"`
}

// ReviewedOperator is an operator in an access review.
type ReviewedOperator struct {
	*Operator
	TwoFactor bool   `json:"two_factor"`
	State     string `json:"state"` // active or disabled
}

// ReviewedGrant is a grant in an access review, with the names of the
// people and the account it concerns and its reads from the ledger. The
// grant is a named field, not embedded: Grant's own MarshalJSON would be
// promoted and write the grant alone, dropping the review's fields.
type ReviewedGrant struct {
	Grant       *Grant     `json:"grant"`
	State       string     `json:"state"`
	Requester   string     `json:"requester"`
	Approver    string     `json:"approver,omitempty"`
	AccountName string     `json:"account_name,omitempty"`
	Reads       int        `json:"reads"`
	Uses        []GrantUse `json:"uses"`
}

// ReviewAccess makes an access review at now: every operator with their
// role and state, every grant with its state and uses.
func ReviewAccess(ctx context.Context, operators OperatorService, accounts AccountService, grants GrantService, audit AuditStore, now time.Time) (*AccessReview, error) {
	ops, err := operators.FindOperators(ctx, OperatorFilter{IncludeDisabled: true})
	if err != nil {
		return nil, err
	}
	as, err := accounts.FindAccounts(ctx, AccountFilter{})
	if err != nil {
		return nil, err
	}
	gs, err := grants.FindGrants(ctx, GrantFilter{})
	if err != nil {
		return nil, err
	}
	uses, err := GrantUses(ctx, audit)
	if err != nil {
		return nil, err
	}
	rev := &AccessReview{ReviewedAt: now, Operators: []ReviewedOperator{}, Grants: []ReviewedGrant{}}
	names := map[string]string{}
	for _, o := range ops {
		state := "active"
		if !o.DisabledAt.IsZero() {
			state = "disabled"
		}
		names[o.ID] = o.Name
		rev.Operators = append(rev.Operators, ReviewedOperator{Operator: o, TwoFactor: o.TOTPSecret != nil, State: state})
	}
	accountNames := map[string]string{}
	for _, a := range as {
		accountNames[a.ID] = a.Name
	}
	for _, g := range gs {
		u := uses[g.ID]
		if u == nil {
			u = []GrantUse{}
		}
		rev.Grants = append(rev.Grants, ReviewedGrant{Grant: g, State: g.State(now), Requester: names[g.OperatorID], Approver: names[g.ApproverID],
			AccountName: accountNames[g.Account], Reads: len(u), Uses: u})
	}
	return rev, nil
}
