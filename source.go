package slokeeper

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"strings"
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

// NewSource makes a source of kind for account, with a new ID and a
// bearer token of 256 random bits (returned once; only its hash is in
// the source), under the rule every way of adding one follows: an app
// source belongs to no account, any other to an account that exists and
// is not being deleted (its logs would belong to no one, or outlive the
// account's erasure).
func NewSource(ctx context.Context, accounts AccountService, kind, account, name string, now time.Time) (*Source, string, error) {
	if err := checkSourceAccount(ctx, accounts, kind, account); err != nil {
		return nil, "", err
	}
	var idb [5]byte
	var tb [32]byte
	rand.Read(idb[:])
	rand.Read(tb[:])
	id := "src_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(idb[:]))
	token := "slk_" + base64.RawURLEncoding.EncodeToString(tb[:])
	src := &Source{ID: id, Account: account, Kind: kind, Name: name, CreatedAt: now, TokenHash: HashToken(token)}
	if err := src.Validate(); err != nil {
		return nil, "", err
	}
	return src, token, nil
}

func checkSourceAccount(ctx context.Context, accounts AccountService, kind, account string) error {
	if kind == SourceApp {
		if account != "" {
			return Errorf(EINVALID, "An app source sends the service's own system logs and belongs to no account: leave out --account.\n"+
				"app のソースはサービス自身のシステムログを送るもので、アカウントには属しません。--account を外してください。")
		}
		return nil
	}
	if account == "" {
		return nil // Validate says the account is needed
	}
	as, err := accounts.FindAccounts(ctx, AccountFilter{ID: account})
	if err != nil {
		return err
	}
	if len(as) == 0 {
		return Errorf(EINVALID, "There is no account %q: create it first (slokeeper account create), or check the ID with slokeeper account list.\n"+
			"アカウント「%s」はありません。先に作成するか（slokeeper account create）、slokeeper account list で ID をご確認ください。", account, account)
	}
	if st := as[0].Status; st != AccountActive {
		return Errorf(EINVALID, "Account %q is %s: it takes no new sources.\n"+
			"アカウント「%s」は削除中または削除済みのため、新しいソースを追加できません。", account, st, account)
	}
	return nil
}
