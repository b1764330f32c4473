package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"slokeeper"
)

// An account's state on the target: whether it exists, and where its
// deletion stands, so that a catalog rebuilt from the target alone (the
// database lost) knows every account and never brings a deleted one back.
// One object per account and state, "accounts/ID/FINGERPRINT.json", the
// fingerprint a hash of the state's fields: listing the target tells
// which accounts' states are on it without reading one. The account's
// name is sealed under the account's own key, so it is shredded with the
// account like the rest of its data; a deleted account's state has none.
const accountStatePrefix = "accounts/"

// AccountState is an account's state as the target holds it.
type AccountState struct {
	Version             int       `json:"version"`
	ID                  string    `json:"id"`
	Status              string    `json:"status"`
	Created             time.Time `json:"created"`
	DeletionRequestedAt time.Time `json:"deletion_requested_at,omitzero"`
	DeletionDueAt       time.Time `json:"deletion_due_at,omitzero"`
	DeletedAt           time.Time `json:"deleted_at,omitzero"`
	// Written is when the state was written: of two states of an account
	// on the target (a crash between writing one and removing the other),
	// the later one holds.
	Written    time.Time `json:"written"`
	SealedName string    `json:"sealed_name,omitempty"` // the name under the account's key
}

// StateFingerprint names an account's state on the target: it changes
// when the state does (the name, which never changes, aside).
func StateFingerprint(a *slokeeper.Account) string {
	h := sha256.New()
	for _, t := range []time.Time{a.CreatedAt, a.DeletionRequestedAt, a.DeletionDueAt, a.DeletedAt} {
		fmt.Fprintf(h, "%d\x00", t.UnixMicro())
	}
	fmt.Fprintf(h, "%s\x00%s", a.ID, a.Status)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func stateKey(id, fingerprint string) string {
	return accountStatePrefix + id + "/" + fingerprint + ".json"
}

func nameAD(id string) []byte { return []byte("slokeeper account name\x00" + id) }

// AccountStateKeys lists the account states on the target without reading
// them: account → fingerprint → key.
func (b *Backups) AccountStateKeys(ctx context.Context) (map[string]map[string]string, error) {
	objs, err := b.cfg.Target.List(ctx, accountStatePrefix)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, accountStatePrefix)
		id, file, ok := strings.Cut(rest, "/")
		fp, isJSON := strings.CutSuffix(file, ".json")
		if !ok || !isJSON || strings.Contains(file, "/") {
			continue // not a state of slokeeper's
		}
		if out[id] == nil {
			out[id] = map[string]string{}
		}
		out[id][fp] = o.Key
	}
	return out, nil
}

// PutAccountState writes an account's current state to the target and
// then removes the states it replaces (old: fingerprint → key, from
// AccountStateKeys). The name is sealed only with sealName: encrypting
// under an account's key creates the key if it is gone, so the caller
// says when the key is there and cannot be destroyed meanwhile.
func (b *Backups) PutAccountState(ctx context.Context, a *slokeeper.Account, old map[string]string, sealName bool) error {
	fp := StateFingerprint(a)
	st := AccountState{Version: 1, ID: a.ID, Status: a.Status, Created: a.CreatedAt, DeletionRequestedAt: a.DeletionRequestedAt,
		DeletionDueAt: a.DeletionDueAt, DeletedAt: a.DeletedAt, Written: b.cfg.Clock.Now().UTC()}
	if sealName {
		sealed, err := b.cfg.Crypto.Encrypt(ctx, a.ID, []byte(a.Name), nameAD(a.ID))
		if err != nil {
			return fmt.Errorf("account %s state: %w", a.ID, err)
		}
		st.SealedName = base64.StdEncoding.EncodeToString(sealed)
	}
	if _, ok := old[fp]; !ok {
		body, _ := json.MarshalIndent(st, "", "  ")
		if _, err := b.cfg.Target.Put(ctx, stateKey(a.ID, fp), bytes.NewReader(body)); err != nil {
			return fmt.Errorf("account %s state: %w", a.ID, err)
		}
	}
	for ofp, key := range old {
		if ofp != fp {
			if err := b.cfg.Target.Delete(ctx, key); err != nil {
				return fmt.Errorf("account %s state: remove the one replaced: %w", a.ID, err)
			}
		}
	}
	return nil
}

// AccountStates reads the state of every account on the target (the
// latest written where there are several) and returns them as accounts.
// A name that no longer opens (the account's key destroyed) is the
// account's ID.
func (b *Backups) AccountStates(ctx context.Context) ([]*slokeeper.Account, error) {
	keys, err := b.AccountStateKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []*slokeeper.Account
	for id, fps := range keys {
		var best *AccountState
		for _, key := range fps {
			st, err := b.readAccountState(ctx, key)
			if err != nil {
				return nil, err
			}
			if st.ID != id {
				return nil, slokeeper.Errorf(slokeeper.EINVALID, "Account state %s is of account %q.", key, st.ID)
			}
			if best == nil || st.Written.After(best.Written) {
				best = st
			}
		}
		a := &slokeeper.Account{ID: id, Name: id, Status: best.Status, CreatedAt: best.Created, DeletionRequestedAt: best.DeletionRequestedAt,
			DeletionDueAt: best.DeletionDueAt, DeletedAt: best.DeletedAt}
		if sealed, err := base64.StdEncoding.DecodeString(best.SealedName); err == nil && len(sealed) > 0 {
			if name, err := b.cfg.Crypto.Decrypt(ctx, id, sealed, nameAD(id)); err == nil && len(name) > 0 {
				a.Name = string(name)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

func (b *Backups) readAccountState(ctx context.Context, key string) (*AccountState, error) {
	r, err := b.cfg.Target.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var st AccountState
	if err := json.NewDecoder(io.LimitReader(r, 64<<10)).Decode(&st); err != nil {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "Account state %s is not one: %v.", path.Base(key), err)
	}
	return &st, nil
}
