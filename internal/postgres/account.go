package postgres

import (
	"context"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"

	"github.com/jackc/pgx/v5"
)

// AccountService stores accounts, their encrypted data and access grants
// in PostgreSQL.
type AccountService struct {
	db *DB
}

var (
	_ slokeeper.AccountService = (*AccountService)(nil)
	_ slokeeper.GrantService   = (*AccountService)(nil)
)

// NewAccountService returns an AccountService on db.
func NewAccountService(db *DB) *AccountService { return &AccountService{db: db} }

// CreateAccount stores a.
func (s *AccountService) CreateAccount(ctx context.Context, a *slokeeper.Account) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if a.Status == "" {
		a.Status = slokeeper.AccountActive
	}
	a.CreatedAt = a.CreatedAt.UTC().Truncate(time.Microsecond)
	if _, err := s.db.pool.Exec(ctx, `INSERT INTO accounts (id, name, status, created_at) VALUES ($1, $2, $3, $4)`,
		a.ID, a.Name, a.Status, a.CreatedAt); err != nil {
		return fmt.Errorf("create account: %w", interpretError(err))
	}
	return nil
}

// FindAccounts returns matching accounts by ID.
func (s *AccountService) FindAccounts(ctx context.Context, f slokeeper.AccountFilter) ([]*slokeeper.Account, error) {
	where := sqlbuild.Dollar().Eq("id", f.ID).Eq("status", f.Status)
	if !f.DueBy.IsZero() {
		where.Add("status = 'deleting' AND deletion_due_at <= ?", f.DueBy)
	}
	rows, err := s.db.pool.Query(ctx, `SELECT id, name, status, created_at, deletion_requested_at, deletion_due_at, deleted_at
		FROM accounts WHERE `+where.String()+` ORDER BY id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find accounts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.Account, error) {
		var a slokeeper.Account
		var req, due, del *time.Time
		err := row.Scan(&a.ID, &a.Name, &a.Status, &a.CreatedAt, &req, &due, &del)
		a.CreatedAt, a.DeletionRequestedAt, a.DeletionDueAt, a.DeletedAt = a.CreatedAt.UTC(), fromNull(req), fromNull(due), fromNull(del)
		return &a, err
	})
	if err != nil {
		return nil, fmt.Errorf("find accounts: %w", err)
	}
	return out, nil
}

// UpdateAccount changes an account.
func (s *AccountService) UpdateAccount(ctx context.Context, id string, upd slokeeper.AccountUpdate) error {
	set := sqlbuild.Dollar()
	if upd.Status != nil {
		set.Add("status = ?", *upd.Status)
	}
	for _, p := range []struct {
		col string
		v   *time.Time
	}{{"deletion_requested_at", upd.DeletionRequestedAt}, {"deletion_due_at", upd.DeletionDueAt}, {"deleted_at", upd.DeletedAt}} {
		if p.v != nil {
			set.Add(p.col+" = ?", nullTime(*p.v))
		}
	}
	if set.Len() == 0 {
		return nil
	}
	tag, err := s.db.pool.Exec(ctx, `UPDATE accounts SET `+set.Set()+` WHERE id = `+set.Arg(id), set.Args()...)
	if err != nil {
		return fmt.Errorf("update account: %w", interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No account %q.", id)
	}
	return nil
}

// PutAccountItem stores or replaces an item.
func (s *AccountService) PutAccountItem(ctx context.Context, it *slokeeper.AccountItem) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO account_items (account, kind, key, ciphertext, size, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (account, kind, key) DO UPDATE SET ciphertext = excluded.ciphertext, size = excluded.size, updated_at = excluded.updated_at`,
		it.Account, it.Kind, it.Key, it.Ciphertext, it.Size, it.UpdatedAt)
	if err != nil {
		return fmt.Errorf("put account item: %w", interpretError(err))
	}
	return nil
}

// GetAccountItem returns one item with its ciphertext.
func (s *AccountService) GetAccountItem(ctx context.Context, account, kind, key string) (*slokeeper.AccountItem, error) {
	var it slokeeper.AccountItem
	err := s.db.pool.QueryRow(ctx, `SELECT account, kind, key, size, updated_at, ciphertext FROM account_items
		WHERE account = $1 AND kind = $2 AND key = $3`, account, kind, key).Scan(&it.Account, &it.Kind, &it.Key, &it.Size, &it.UpdatedAt, &it.Ciphertext)
	if err != nil {
		return nil, interpretError(err)
	}
	it.UpdatedAt = it.UpdatedAt.UTC()
	return &it, nil
}

// FindAccountItems lists an account's items without their ciphertexts.
func (s *AccountService) FindAccountItems(ctx context.Context, account, kind string) ([]*slokeeper.AccountItem, error) {
	q, args := `SELECT account, kind, key, size, updated_at FROM account_items WHERE account = $1`, []any{account}
	if kind != "" {
		q, args = q+` AND kind = $2`, append(args, kind)
	}
	rows, err := s.db.pool.Query(ctx, q+` ORDER BY kind, key`, args...)
	if err != nil {
		return nil, fmt.Errorf("find account items: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.AccountItem, error) {
		var it slokeeper.AccountItem
		err := row.Scan(&it.Account, &it.Kind, &it.Key, &it.Size, &it.UpdatedAt)
		it.UpdatedAt = it.UpdatedAt.UTC()
		return &it, err
	})
	if err != nil {
		return nil, fmt.Errorf("find account items: %w", err)
	}
	return out, nil
}

// SnapshotAccountItems returns all of an account's items with their
// ciphertexts, in one statement: one consistent read.
func (s *AccountService) SnapshotAccountItems(ctx context.Context, account string) ([]*slokeeper.AccountItem, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT account, kind, key, size, updated_at, ciphertext FROM account_items
		WHERE account = $1 ORDER BY kind, key`, account)
	if err != nil {
		return nil, fmt.Errorf("snapshot account items: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.AccountItem, error) {
		var it slokeeper.AccountItem
		err := row.Scan(&it.Account, &it.Kind, &it.Key, &it.Size, &it.UpdatedAt, &it.Ciphertext)
		it.UpdatedAt = it.UpdatedAt.UTC()
		return &it, err
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot account items: %w", err)
	}
	return out, nil
}

// ReplaceAccountItems makes items the account's whole data in one transaction.
func (s *AccountService) ReplaceAccountItems(ctx context.Context, account string, items []*slokeeper.AccountItem) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM account_items WHERE account = $1`, account); err != nil {
			return err
		}
		for _, it := range items {
			if it.Account != account {
				return slokeeper.Errorf(slokeeper.EINVALID, "Item %s/%s belongs to account %s, not %s.", it.Kind, it.Key, it.Account, account)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO account_items (account, kind, key, ciphertext, size, updated_at) VALUES ($1, $2, $3, $4, $5, $6)`,
				it.Account, it.Kind, it.Key, it.Ciphertext, it.Size, it.UpdatedAt); err != nil {
				return interpretError(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace account items: %w", err)
	}
	return nil
}

// DeleteAccountItem erases one item.
func (s *AccountService) DeleteAccountItem(ctx context.Context, account, kind, key string) error {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM account_items WHERE account = $1 AND kind = $2 AND key = $3`, account, kind, key)
	if err != nil {
		return fmt.Errorf("delete account item: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No %s %q in account %s.", kind, key, account)
	}
	return nil
}

// DeleteAccountItems erases all of an account's items.
func (s *AccountService) DeleteAccountItems(ctx context.Context, account string) (int, error) {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM account_items WHERE account = $1`, account)
	if err != nil {
		return 0, fmt.Errorf("delete account items: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// CreateGrant stores a grant request.
func (s *AccountService) CreateGrant(ctx context.Context, g *slokeeper.Grant) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO grants (id, operator_id, account, scope, reason, duration_ns, requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		g.ID, g.OperatorID, g.Account, g.Scope, g.Reason, int64(g.Duration), g.RequestedAt)
	if err != nil {
		return fmt.Errorf("create grant: %w", interpretError(err))
	}
	return nil
}

// FindGrants returns matching grants, newest first.
func (s *AccountService) FindGrants(ctx context.Context, f slokeeper.GrantFilter) ([]*slokeeper.Grant, error) {
	where := sqlbuild.Dollar().Eq("id", f.ID).Eq("operator_id", f.OperatorID).Eq("account", f.Account)
	rows, err := s.db.pool.Query(ctx, `SELECT id, operator_id, account, scope, reason, duration_ns, requested_at,
		COALESCE(approver_id, ''), approved_at, expires_at, revoked_at FROM grants WHERE `+where.String()+` ORDER BY requested_at DESC, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find grants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.Grant, error) {
		var g slokeeper.Grant
		var dur int64
		var approved, expires, revoked *time.Time
		err := row.Scan(&g.ID, &g.OperatorID, &g.Account, &g.Scope, &g.Reason, &dur, &g.RequestedAt, &g.ApproverID, &approved, &expires, &revoked)
		g.Duration, g.RequestedAt = time.Duration(dur), g.RequestedAt.UTC()
		g.ApprovedAt, g.ExpiresAt, g.RevokedAt = fromNull(approved), fromNull(expires), fromNull(revoked)
		return &g, err
	})
	if err != nil {
		return nil, fmt.Errorf("find grants: %w", err)
	}
	return out, nil
}

// UpdateGrant approves or revokes a grant.
func (s *AccountService) UpdateGrant(ctx context.Context, id string, upd slokeeper.GrantUpdate) error {
	set := sqlbuild.Dollar()
	if upd.ApproverID != nil {
		set.Add("approver_id = ?", *upd.ApproverID)
	}
	for _, p := range []struct {
		col string
		v   *time.Time
	}{{"approved_at", upd.ApprovedAt}, {"expires_at", upd.ExpiresAt}, {"revoked_at", upd.RevokedAt}} {
		if p.v != nil {
			set.Add(p.col+" = ?", nullTime(*p.v))
		}
	}
	if set.Len() == 0 {
		return nil
	}
	tag, err := s.db.pool.Exec(ctx, `UPDATE grants SET `+set.Set()+` WHERE id = `+set.Arg(id), set.Args()...)
	if err != nil {
		return fmt.Errorf("update grant: %w", interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No grant %q.", id)
	}
	return nil
}
