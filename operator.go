package slokeeper

import (
	"context"
	"regexp"
	"time"
)

// Operator roles.
const (
	RoleAdmin    = "admin"    // manages operators, approves access grants
	RoleOperator = "operator" // runs the service
	RoleSupport  = "support"  // answers customers
	RoleAuditor  = "auditor"  // reads the audit ledger and reports
)

// Operator is a member of staff who signs in to slokeeper.
type Operator struct {
	ID    string `json:"id"`
	Name  string `json:"name"` // the login name
	Role  string `json:"role"`
	Email string `json:"email,omitempty"`
	// PasswordHash is an argon2id PHC string; the password itself is never kept.
	PasswordHash string `json:"-"`
	// TOTPSecret is the TOTP secret encrypted under the master key, or nil
	// when two-factor sign-in is off.
	TOTPSecret []byte `json:"-"`
	// LastTOTPStep is the last TOTP time step accepted: a code is used once.
	LastTOTPStep       int64     `json:"-"`
	MustChangePassword bool      `json:"must_change_password,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
	DisabledAt         time.Time `json:"disabled_at,omitzero"`
}

var operatorName = regexp.MustCompile(`^[a-z][a-z0-9._-]{1,62}$`)

// Validate reports whether o can be stored.
func (o *Operator) Validate() error {
	switch {
	case o.ID == "":
		return Errorf(EINVALID, "An operator needs an ID.")
	case !operatorName.MatchString(o.Name):
		return Errorf(EINVALID, "Operator name %q must be 2 to 63 lower-case letters, digits, dots, dashes or underscores, starting with a letter.", o.Name)
	case o.PasswordHash == "":
		return Errorf(EINVALID, "An operator needs a password hash.")
	}
	return ValidRole(o.Role)
}

// ValidRole reports whether role is one of the four.
func ValidRole(role string) error {
	switch role {
	case RoleAdmin, RoleOperator, RoleSupport, RoleAuditor:
		return nil
	}
	return Errorf(EINVALID, "Role %q is not admin, operator, support or auditor.", role)
}

// OperatorFilter selects operators. Zero fields do not filter.
type OperatorFilter struct {
	ID              string
	Name            string
	IncludeDisabled bool
}

// OperatorUpdate changes an operator; nil fields stay as they are.
type OperatorUpdate struct {
	Role               *string
	PasswordHash       *string
	TOTPSecret         *[]byte
	LastTOTPStep       *int64
	MustChangePassword *bool
	DisabledAt         *time.Time
}

// Session is a signed-in operator's browser session. Only its token's
// hash is stored.
type Session struct {
	TokenHash  []byte
	OperatorID string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// APIToken lets automation act as an operator, with a scope and an expiry.
// Only its hash is stored.
type APIToken struct {
	ID         string    `json:"id"`
	OperatorID string    `json:"operator_id"`
	Name       string    `json:"name"`
	Scope      string    `json:"scope"` // "read" or "write"
	TokenHash  []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// OperatorService stores operators, their sessions and their API tokens.
type OperatorService interface {
	CreateOperator(ctx context.Context, o *Operator) error
	FindOperators(ctx context.Context, f OperatorFilter) ([]*Operator, error)
	// UpdateOperator changes an operator; ENOTFOUND if none.
	UpdateOperator(ctx context.Context, id string, upd OperatorUpdate) error
	// CountOperators counts operators that are not disabled.
	CountOperators(ctx context.Context) (int, error)

	CreateSession(ctx context.Context, s *Session) error
	// FindSession returns the unexpired session with that token hash at now.
	FindSession(ctx context.Context, tokenHash []byte, now time.Time) (*Session, error)
	DeleteSession(ctx context.Context, tokenHash []byte) error
	// DeleteOperatorSessions signs an operator out everywhere.
	DeleteOperatorSessions(ctx context.Context, operatorID string) error

	CreateAPIToken(ctx context.Context, t *APIToken) error
	// FindAPIToken returns the live (unrevoked, unexpired at now) token with that hash.
	FindAPIToken(ctx context.Context, tokenHash []byte, now time.Time) (*APIToken, error)
	FindAPITokens(ctx context.Context, operatorID string) ([]*APIToken, error)
	RevokeAPIToken(ctx context.Context, id string, at time.Time) error
}
