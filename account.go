package slokeeper

import (
	"context"
	"encoding/json"
	"regexp"
	"time"
)

// Account states.
const (
	AccountActive   = "active"
	AccountDeleting = "deleting" // deletion requested: disabled, cancellable until DeletionDueAt
	AccountDeleted  = "deleted"  // data erased and key destroyed
)

// Account is one of the service's customers.
type Account struct {
	ID                  string    `json:"id"`
	Name                string    `json:"name"`
	Status              string    `json:"status"`
	CreatedAt           time.Time `json:"created_at"`
	DeletionRequestedAt time.Time `json:"deletion_requested_at,omitzero"`
	DeletionDueAt       time.Time `json:"deletion_due_at,omitzero"` // end of the cancel window
	DeletedAt           time.Time `json:"deleted_at,omitzero"`
}

var accountID = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$`)

// Validate reports whether a can be stored.
func (a *Account) Validate() error {
	if !accountID.MatchString(a.ID) {
		return Errorf(EINVALID, "Account ID %q must be 1 to 63 letters, digits, dots, dashes or underscores.", a.ID)
	}
	if a.Name == "" {
		return Errorf(EINVALID, "An account needs a name.")
	}
	return nil
}

// AccountUpdate changes an account; nil fields stay as they are.
type AccountUpdate struct {
	Status              *string
	DeletionRequestedAt *time.Time
	DeletionDueAt       *time.Time
	DeletedAt           *time.Time
}

// AccountFilter selects accounts. Zero fields do not filter.
type AccountFilter struct {
	ID     string
	Status string
	DueBy  time.Time // deleting accounts whose cancel window ended by then
}

// Kinds of account data.
const (
	ItemDocument   = "document"   // flows, settings: JSON
	ItemData       = "data"       // the data store: key → value
	ItemCredential = "credential" // API keys, connection strings the service replays
)

// CheckItemValue reports whether value can be stored as an item of kind:
// a document is JSON. Every way in (HTTP, the CLI) goes through it.
func CheckItemValue(kind string, value []byte) error {
	if kind == ItemDocument && !json.Valid(value) {
		return Errorf(EINVALID, "A document is JSON; this one is not.")
	}
	return nil
}

// ItemLimits bounds each kind's plaintext size.
var ItemLimits = map[string]int{ItemDocument: 1 << 20, ItemData: 64 << 10, ItemCredential: 8 << 10}

// AccountItem is one piece of an account's data, stored only encrypted
// under the account's key, bound to (account, kind, key).
type AccountItem struct {
	Account    string    `json:"account"`
	Kind       string    `json:"kind"`
	Key        string    `json:"key"`
	Ciphertext []byte    `json:"-"`
	Size       int       `json:"size"` // plaintext bytes
	UpdatedAt  time.Time `json:"updated_at"`
}

// AssociatedData is what the item's ciphertext is bound to: moved to
// another account, kind or key, it does not decrypt.
func (it *AccountItem) AssociatedData() []byte {
	return []byte("slokeeper item\x00" + it.Account + "\x00" + it.Kind + "\x00" + it.Key)
}

// AccountService stores accounts and their (encrypted) data.
type AccountService interface {
	CreateAccount(ctx context.Context, a *Account) error
	FindAccounts(ctx context.Context, f AccountFilter) ([]*Account, error)
	UpdateAccount(ctx context.Context, id string, upd AccountUpdate) error

	// PutAccountItem stores or replaces an item.
	PutAccountItem(ctx context.Context, it *AccountItem) error
	// GetAccountItem returns one item, ciphertext included; ENOTFOUND if none.
	GetAccountItem(ctx context.Context, account, kind, key string) (*AccountItem, error)
	// FindAccountItems lists an account's items of a kind ("" for all),
	// without their ciphertexts.
	FindAccountItems(ctx context.Context, account, kind string) ([]*AccountItem, error)
	// SnapshotAccountItems returns all of an account's items, ciphertexts
	// included, as of one instant (a single consistent read).
	SnapshotAccountItems(ctx context.Context, account string) ([]*AccountItem, error)
	// ReplaceAccountItems makes items the account's whole data, atomically:
	// a restore either lands completely or leaves the data as it was.
	ReplaceAccountItems(ctx context.Context, account string, items []*AccountItem) error
	DeleteAccountItem(ctx context.Context, account, kind, key string) error
	// DeleteAccountItems erases all of an account's items and returns how many.
	DeleteAccountItems(ctx context.Context, account string) (int, error)
}

// Grant scopes: which kind of an account's data a grant opens.
const GrantAll = "all"

// Grant is just-in-time access to one account's data for one operator:
// requested with a reason, approved (by another admin when the policy
// wants two people), expiring by itself, revocable.
type Grant struct {
	ID          string        `json:"id"`
	OperatorID  string        `json:"operator_id"`
	Account     string        `json:"account"`
	Scope       string        `json:"scope"` // an item kind, or "all"
	Reason      string        `json:"reason"`
	Duration    time.Duration `json:"duration"`
	RequestedAt time.Time     `json:"requested_at"`
	ApproverID  string        `json:"approver_id,omitempty"`
	ApprovedAt  time.Time     `json:"approved_at,omitzero"`
	ExpiresAt   time.Time     `json:"expires_at,omitzero"`
	RevokedAt   time.Time     `json:"revoked_at,omitzero"`
}

// Active reports whether g opens data at now.
func (g *Grant) Active(now time.Time) bool {
	return !g.ApprovedAt.IsZero() && g.RevokedAt.IsZero() && now.Before(g.ExpiresAt)
}

// Covers reports whether g opens kind.
func (g *Grant) Covers(kind string) bool { return g.Scope == GrantAll || g.Scope == kind }

// GrantFilter selects grants. Zero fields do not filter.
type GrantFilter struct {
	ID         string
	OperatorID string
	Account    string
}

// GrantUpdate approves or revokes a grant; nil fields stay as they are.
type GrantUpdate struct {
	ApproverID *string
	ApprovedAt *time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
}

// GrantService stores access grants.
type GrantService interface {
	CreateGrant(ctx context.Context, g *Grant) error
	FindGrants(ctx context.Context, f GrantFilter) ([]*Grant, error)
	UpdateGrant(ctx context.Context, id string, upd GrantUpdate) error
}

// grantJSON is Grant as JSON: the duration as a Go duration string
// ("2h0m0s"), which a person reads, instead of nanoseconds.
type grantJSON struct {
	grantAlias
	Duration string `json:"duration"`
}

type grantAlias Grant

// MarshalJSON writes the duration as a string such as "2h0m0s"; times
// are RFC 3339 as time.Time writes them.
func (g Grant) MarshalJSON() ([]byte, error) {
	return json.Marshal(grantJSON{grantAlias: grantAlias(g), Duration: g.Duration.String()})
}

// UnmarshalJSON reads what MarshalJSON writes, and a duration in
// nanoseconds as older servers wrote it.
func (g *Grant) UnmarshalJSON(b []byte) error {
	var v struct {
		grantAlias
		Duration json.RawMessage `json:"duration"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*g = Grant(v.grantAlias)
	g.Duration = 0
	if len(v.Duration) == 0 || string(v.Duration) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(v.Duration, &s); err != nil {
		return json.Unmarshal(v.Duration, &g.Duration)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Errorf(EINVALID, "Grant duration %q is not a duration such as 2h.", s)
	}
	g.Duration = d
	return nil
}
