package slokeeper

import (
	"context"
	"crypto/sha256"
	"time"
)

// Source is something that sends logs: an agent, a device, a cloud runtime,
// or (kind app) the service's own application. It authenticates with a
// bearer token of which only a hash is stored.
type Source struct {
	ID        string    `json:"id"`
	Account   string    `json:"account,omitempty"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// TokenHash is the SHA-256 of the bearer token. Tokens are 256 random
	// bits, so a fast hash is as safe as a slow one and keeps every
	// ingestion request cheap.
	TokenHash []byte `json:"-"`
}

// Class returns the log class the source's records belong to: app
// sources send system logs, all others execution-environment logs.
func (s *Source) Class() string {
	if s.Kind == SourceApp {
		return LogClassSystem
	}
	return LogClassExec
}

// Validate reports whether s can be stored.
func (s *Source) Validate() error {
	switch s.Kind {
	case SourceCloud, SourceAgent, SourceDevice:
		if s.Account == "" {
			return Errorf(EINVALID, "A %s source needs the account it belongs to.", s.Kind)
		}
	case SourceApp:
	default:
		return Errorf(EINVALID, "Source kind %q is not one of cloud, agent, device, app.", s.Kind)
	}
	switch {
	case s.ID == "":
		return Errorf(EINVALID, "A source needs an ID.")
	case s.Name == "":
		return Errorf(EINVALID, "A source needs a name.")
	case len(s.TokenHash) != 32:
		return Errorf(EINVALID, "A source needs the SHA-256 hash of its token.")
	}
	return nil
}

// SourceFilter selects sources. Zero fields do not filter.
type SourceFilter struct {
	ID             string
	Account        string
	IncludeRevoked bool
}

// SourceService stores log sources.
type SourceService interface {
	CreateSource(ctx context.Context, s *Source) error
	FindSources(ctx context.Context, f SourceFilter) ([]*Source, error)
	// FindSourceByTokenHash returns the live (unrevoked) source with that
	// token hash; ENOTFOUND if none.
	FindSourceByTokenHash(ctx context.Context, hash []byte) (*Source, error)
	// RevokeSource revokes a source at the given time; ENOTFOUND if none.
	RevokeSource(ctx context.Context, id string, at time.Time) error
}

// HashToken returns the hash under which a source's bearer token is stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
