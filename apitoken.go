package slokeeper

import (
	"context"
	"strings"
	"time"
)

// OperatorTokenPrefix begins every operator API token (log source tokens
// begin with "slk_").
const OperatorTokenPrefix = "sko_"

// API token scopes: a read token only reads; a write token also changes.
const (
	TokenScopeRead  = "read"
	TokenScopeWrite = "write"
)

// ValidTokenScope reports whether scope is read or write.
func ValidTokenScope(scope string) error {
	if scope != TokenScopeRead && scope != TokenScopeWrite {
		return Errorf(EINVALID, "Token scope %q is not read or write.", scope)
	}
	return nil
}

// AuthenticateToken is the one rule by which an API token proves who an
// operator is, for the HTTP API's bearer tokens and the command line's
// SLOKEEPER_TOKEN alike: the token's hash names a live token (not revoked,
// not expired at now) whose operator is not disabled. What the token may
// then do is Permits' to say.
func AuthenticateToken(ctx context.Context, ops OperatorService, token string, now time.Time) (*Operator, *APIToken, error) {
	if !strings.HasPrefix(token, OperatorTokenPrefix) {
		return nil, nil, errBadToken
	}
	t, err := ops.FindAPIToken(ctx, HashToken(token), now)
	if ErrorCode(err) == ENOTFOUND {
		return nil, nil, errBadToken
	} else if err != nil {
		return nil, nil, err
	}
	found, err := ops.FindOperators(ctx, OperatorFilter{ID: t.OperatorID})
	if err != nil {
		return nil, nil, err
	}
	if len(found) != 1 {
		return nil, nil, Errorf(EUNAUTHORIZED, "The operator is disabled.")
	}
	return found[0], t, nil
}

var errBadToken = Errorf(EUNAUTHORIZED, "The API token is not valid, has expired or was revoked.")

// Permits reports whether the token may make a request; write says that
// the request changes something. Only a write-scoped token writes.
func (t *APIToken) Permits(write bool) error {
	if write && t.Scope != TokenScopeWrite {
		return Errorf(EFORBIDDEN, "This API token may only read.")
	}
	return nil
}
