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
	LastTOTPStep       int64 `json:"-"`
	MustChangePassword bool  `json:"must_change_password,omitempty"`
	// MustEnrolTOTP is set by an admin's reset of two-factor sign-in and
	// cleared by enrolment: until then the operator may do nothing but
	// enrol (and sign out), so a reset never leaves the password alone.
	MustEnrolTOTP bool      `json:"must_enrol_totp,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	DisabledAt    time.Time `json:"disabled_at,omitzero"`
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
	MustEnrolTOTP      *bool
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

// LoginLimits are the lockout rules: after Attempts sign-ins within Window
// (counted per name and client address, successes reset them), the pair is
// locked for Lock, doubled at each further lockout up to MaxLock.
type LoginLimits struct {
	Attempts int
	Window   time.Duration
	Lock     time.Duration
	MaxLock  time.Duration
}

// LoginAttempt is what a reservation found.
type LoginAttempt struct {
	// Allowed: the attempt may be checked. Otherwise the pair is locked
	// until LockedUntil, and the attempt was counted as refused.
	Allowed bool
	// Attempts counts this window's attempts, this one included (1: the
	// first of a window).
	Attempts int
	// LockedUntil is when the pair's lock ends; zero when not locked.
	// With Allowed, a lock that this attempt started (it was the last one
	// the window allows).
	LockedUntil time.Time
	// Lockouts counts the pair's lockouts since its last success.
	Lockouts int
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
	// DeleteOtherSessions signs an operator out everywhere but the session
	// with token hash keep (a password change keeps the one it came from).
	DeleteOtherSessions(ctx context.Context, operatorID string, keep []byte) error

	// BurnTOTPStep records step as the operator's last TOTP step used, if
	// it is later than the one recorded: one conditional update, so a
	// code used by concurrent requests is accepted for exactly one.
	// ECONFLICT if the step (or a later one) was already used.
	BurnTOTPStep(ctx context.Context, operatorID string, step int64) error

	// ReserveLoginAttempt counts a sign-in attempt for (name, address)
	// before its password is checked, in one atomic statement that also
	// says whether the pair is locked. Nodes on one database share it.
	ReserveLoginAttempt(ctx context.Context, name, addr string, now time.Time, lim LoginLimits) (*LoginAttempt, error)
	// ResetLoginAttempts forgets (name, address)'s attempts after a
	// successful sign-in.
	ResetLoginAttempts(ctx context.Context, name, addr string) error
	// UnlockLogin forgets a name's attempts and lockouts from every
	// address; it returns how many addresses were locked.
	UnlockLogin(ctx context.Context, name string, now time.Time) (int, error)
	// PruneLoginAttempts forgets pairs with no attempt and no lock since
	// before, so the table stays as small as the recent attempts.
	PruneLoginAttempts(ctx context.Context, before time.Time) error

	CreateAPIToken(ctx context.Context, t *APIToken) error
	// FindAPIToken returns the live (unrevoked, unexpired at now) token with that hash.
	FindAPIToken(ctx context.Context, tokenHash []byte, now time.Time) (*APIToken, error)
	FindAPITokens(ctx context.Context, operatorID string) ([]*APIToken, error)
	RevokeAPIToken(ctx context.Context, id string, at time.Time) error
}
