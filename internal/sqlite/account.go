package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"
)

// AccountService stores accounts, their encrypted data and access grants
// in SQLite.
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
	_, err := s.db.write.ExecContext(ctx, `INSERT INTO accounts (id, name, status, created_at) VALUES (?, ?, ?, ?)`,
		a.ID, a.Name, a.Status, formatTime(a.CreatedAt))
	if err != nil {
		return fmt.Errorf("create account: %w", interpretError(err))
	}
	return nil
}

// FindAccounts returns matching accounts by ID.
func (s *AccountService) FindAccounts(ctx context.Context, f slokeeper.AccountFilter) ([]*slokeeper.Account, error) {
	where := sqlbuild.Question().Eq("id", f.ID).Eq("status", f.Status)
	if !f.DueBy.IsZero() {
		where.Add("status = 'deleting' AND deletion_due_at <= ?", formatTime(f.DueBy))
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT id, name, status, created_at, deletion_requested_at, deletion_due_at, deleted_at
		FROM accounts WHERE `+where.String()+` ORDER BY id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find accounts: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Account
	for rows.Next() {
		var a slokeeper.Account
		var created string
		var req, due, del sql.NullString
		if err := rows.Scan(&a.ID, &a.Name, &a.Status, &created, &req, &due, &del); err != nil {
			return nil, fmt.Errorf("find accounts: %w", err)
		}
		if a.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		for _, p := range []struct {
			dst *time.Time
			v   sql.NullString
		}{{&a.DeletionRequestedAt, req}, {&a.DeletionDueAt, due}, {&a.DeletedAt, del}} {
			if *p.dst, err = scanNullTime(p.v); err != nil {
				return nil, err
			}
		}
		out = append(out, &a)
	}
	return out, rows.Err()
}

// UpdateAccount changes an account.
func (s *AccountService) UpdateAccount(ctx context.Context, id string, upd slokeeper.AccountUpdate) error {
	set := sqlbuild.Question()
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
	res, err := s.db.write.ExecContext(ctx, `UPDATE accounts SET `+set.Set()+` WHERE id = `+set.Arg(id), set.Args()...)
	if err != nil {
		return fmt.Errorf("update account: %w", interpretError(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No account %q.", id)
	}
	return nil
}

// PutAccountItem stores or replaces an item.
func (s *AccountService) PutAccountItem(ctx context.Context, it *slokeeper.AccountItem) error {
	_, err := s.db.write.ExecContext(ctx, `INSERT INTO account_items (account, kind, key, ciphertext, size, updated_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (account, kind, key) DO UPDATE SET ciphertext = excluded.ciphertext, size = excluded.size, updated_at = excluded.updated_at`,
		it.Account, it.Kind, it.Key, it.Ciphertext, it.Size, formatTime(it.UpdatedAt))
	if err != nil {
		return fmt.Errorf("put account item: %w", interpretError(err))
	}
	return nil
}

func scanItem(sc interface{ Scan(...any) error }, withCiphertext bool) (*slokeeper.AccountItem, error) {
	var it slokeeper.AccountItem
	var updated string
	dst := []any{&it.Account, &it.Kind, &it.Key, &it.Size, &updated}
	if withCiphertext {
		dst = append(dst, &it.Ciphertext)
	}
	if err := sc.Scan(dst...); err != nil {
		return nil, err
	}
	var err error
	it.UpdatedAt, err = parseTime(updated)
	return &it, err
}

// GetAccountItem returns one item with its ciphertext.
func (s *AccountService) GetAccountItem(ctx context.Context, account, kind, key string) (*slokeeper.AccountItem, error) {
	it, err := scanItem(s.db.read.QueryRowContext(ctx, `SELECT account, kind, key, size, updated_at, ciphertext FROM account_items
		WHERE account = ? AND kind = ? AND key = ?`, account, kind, key), true)
	if err != nil {
		return nil, interpretError(err)
	}
	return it, nil
}

// FindAccountItems lists an account's items without their ciphertexts.
func (s *AccountService) FindAccountItems(ctx context.Context, account, kind string) ([]*slokeeper.AccountItem, error) {
	q, args := `SELECT account, kind, key, size, updated_at FROM account_items WHERE account = ?`, []any{account}
	if kind != "" {
		q, args = q+` AND kind = ?`, append(args, kind)
	}
	rows, err := s.db.read.QueryContext(ctx, q+` ORDER BY kind, key`, args...)
	if err != nil {
		return nil, fmt.Errorf("find account items: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.AccountItem
	for rows.Next() {
		it, err := scanItem(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// SnapshotAccountItems returns all of an account's items with their
// ciphertexts, in one statement: one consistent read.
func (s *AccountService) SnapshotAccountItems(ctx context.Context, account string) ([]*slokeeper.AccountItem, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT account, kind, key, size, updated_at, ciphertext FROM account_items
		WHERE account = ? ORDER BY kind, key`, account)
	if err != nil {
		return nil, fmt.Errorf("snapshot account items: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.AccountItem
	for rows.Next() {
		it, err := scanItem(rows, true)
		if err != nil {
			return nil, fmt.Errorf("snapshot account items: %w", err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// ReplaceAccountItems makes items the account's whole data in one transaction.
func (s *AccountService) ReplaceAccountItems(ctx context.Context, account string, items []*slokeeper.AccountItem) error {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("replace account items: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM account_items WHERE account = ?`, account); err != nil {
		return fmt.Errorf("replace account items: %w", err)
	}
	for _, it := range items {
		if it.Account != account {
			return slokeeper.Errorf(slokeeper.EINVALID, "Item %s/%s belongs to account %s, not %s.", it.Kind, it.Key, it.Account, account)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_items (account, kind, key, ciphertext, size, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			it.Account, it.Kind, it.Key, it.Ciphertext, it.Size, formatTime(it.UpdatedAt)); err != nil {
			return fmt.Errorf("replace account items: %w", interpretError(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("replace account items: %w", err)
	}
	return nil
}

// DeleteAccountItem erases one item.
func (s *AccountService) DeleteAccountItem(ctx context.Context, account, kind, key string) error {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM account_items WHERE account = ? AND kind = ? AND key = ?`, account, kind, key)
	if err != nil {
		return fmt.Errorf("delete account item: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No %s %q in account %s.", kind, key, account)
	}
	return nil
}

// DeleteAccountItems erases all of an account's items.
func (s *AccountService) DeleteAccountItems(ctx context.Context, account string) (int, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM account_items WHERE account = ?`, account)
	if err != nil {
		return 0, fmt.Errorf("delete account items: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// CreateGrant stores a grant request.
func (s *AccountService) CreateGrant(ctx context.Context, g *slokeeper.Grant) error {
	_, err := s.db.write.ExecContext(ctx, `INSERT INTO grants (id, operator_id, account, scope, reason, duration_ns, requested_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		g.ID, g.OperatorID, g.Account, g.Scope, g.Reason, int64(g.Duration), formatTime(g.RequestedAt))
	if err != nil {
		return fmt.Errorf("create grant: %w", interpretError(err))
	}
	return nil
}

// FindGrants returns matching grants, newest first.
func (s *AccountService) FindGrants(ctx context.Context, f slokeeper.GrantFilter) ([]*slokeeper.Grant, error) {
	where := sqlbuild.Question().Eq("id", f.ID).Eq("operator_id", f.OperatorID).Eq("account", f.Account)
	rows, err := s.db.read.QueryContext(ctx, `SELECT id, operator_id, account, scope, reason, duration_ns, requested_at,
		COALESCE(approver_id, ''), approved_at, expires_at, revoked_at FROM grants WHERE `+where.String()+` ORDER BY requested_at DESC, id`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find grants: %w", err)
	}
	defer rows.Close()
	var out []*slokeeper.Grant
	for rows.Next() {
		var g slokeeper.Grant
		var dur int64
		var requested string
		var approved, expires, revoked sql.NullString
		if err := rows.Scan(&g.ID, &g.OperatorID, &g.Account, &g.Scope, &g.Reason, &dur, &requested, &g.ApproverID, &approved, &expires, &revoked); err != nil {
			return nil, fmt.Errorf("find grants: %w", err)
		}
		g.Duration = time.Duration(dur)
		if g.RequestedAt, err = parseTime(requested); err != nil {
			return nil, err
		}
		for _, p := range []struct {
			dst *time.Time
			v   sql.NullString
		}{{&g.ApprovedAt, approved}, {&g.ExpiresAt, expires}, {&g.RevokedAt, revoked}} {
			if *p.dst, err = scanNullTime(p.v); err != nil {
				return nil, err
			}
		}
		out = append(out, &g)
	}
	return out, rows.Err()
}

// UpdateGrant approves or revokes a grant.
func (s *AccountService) UpdateGrant(ctx context.Context, id string, upd slokeeper.GrantUpdate) error {
	set := sqlbuild.Question()
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
	res, err := s.db.write.ExecContext(ctx, `UPDATE grants SET `+set.Set()+` WHERE id = `+set.Arg(id), set.Args()...)
	if err != nil {
		return fmt.Errorf("update grant: %w", interpretError(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No grant %q.", id)
	}
	return nil
}
