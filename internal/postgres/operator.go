package postgres

import (
	"context"
	"fmt"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlbuild"

	"github.com/jackc/pgx/v5"
)

// OperatorService stores operators, sessions and API tokens in PostgreSQL.
type OperatorService struct {
	db *DB
}

var _ slokeeper.OperatorService = (*OperatorService)(nil)

// NewOperatorService returns an OperatorService on db.
func NewOperatorService(db *DB) *OperatorService { return &OperatorService{db: db} }

// CreateOperator stores o.
func (s *OperatorService) CreateOperator(ctx context.Context, o *slokeeper.Operator) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o.CreatedAt = o.CreatedAt.UTC().Truncate(time.Microsecond)
	_, err := s.db.pool.Exec(ctx, `
		INSERT INTO operators (id, name, role, email, password_hash, totp_secret, must_change_password, must_enrol_totp, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		o.ID, o.Name, o.Role, o.Email, o.PasswordHash, o.TOTPSecret, o.MustChangePassword, o.MustEnrolTOTP, o.CreatedAt)
	if err != nil {
		return fmt.Errorf("create operator: %w", interpretError(err))
	}
	return nil
}

// FindOperators returns matching operators by name.
func (s *OperatorService) FindOperators(ctx context.Context, f slokeeper.OperatorFilter) ([]*slokeeper.Operator, error) {
	where := sqlbuild.Dollar().Eq("id", f.ID).Eq("name", f.Name)
	if !f.IncludeDisabled {
		where.Raw("disabled_at IS NULL")
	}
	rows, err := s.db.pool.Query(ctx, `
		SELECT id, name, role, email, password_hash, totp_secret, last_totp_step, must_change_password, must_enrol_totp, created_at, disabled_at
		FROM operators WHERE `+where.String()+` ORDER BY name`, where.Args()...)
	if err != nil {
		return nil, fmt.Errorf("find operators: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.Operator, error) {
		var o slokeeper.Operator
		var disabled *time.Time
		err := row.Scan(&o.ID, &o.Name, &o.Role, &o.Email, &o.PasswordHash, &o.TOTPSecret, &o.LastTOTPStep, &o.MustChangePassword, &o.MustEnrolTOTP, &o.CreatedAt, &disabled)
		o.CreatedAt, o.DisabledAt = o.CreatedAt.UTC(), fromNull(disabled)
		return &o, err
	})
	if err != nil {
		return nil, fmt.Errorf("find operators: %w", err)
	}
	return out, nil
}

// UpdateOperator changes an operator.
func (s *OperatorService) UpdateOperator(ctx context.Context, id string, upd slokeeper.OperatorUpdate) error {
	set := sqlbuild.Dollar()
	if upd.Role != nil {
		if err := slokeeper.ValidRole(*upd.Role); err != nil {
			return err
		}
		set.Add("role = ?", *upd.Role)
	}
	if upd.PasswordHash != nil {
		set.Add("password_hash = ?", *upd.PasswordHash)
	}
	if upd.TOTPSecret != nil {
		// An empty secret turns two-factor sign-in off: NULL, not a
		// zero-length blob that would read back as "on".
		var secret any
		if len(*upd.TOTPSecret) > 0 {
			secret = *upd.TOTPSecret
		}
		set.Add("totp_secret = ?", secret)
	}
	if upd.LastTOTPStep != nil {
		set.Add("last_totp_step = ?", *upd.LastTOTPStep)
	}
	if upd.MustChangePassword != nil {
		set.Add("must_change_password = ?", *upd.MustChangePassword)
	}
	if upd.MustEnrolTOTP != nil {
		set.Add("must_enrol_totp = ?", *upd.MustEnrolTOTP)
	}
	if upd.DisabledAt != nil {
		set.Add("disabled_at = ?", nullTime(*upd.DisabledAt))
	}
	if set.Len() == 0 {
		return nil
	}
	tag, err := s.db.pool.Exec(ctx, `UPDATE operators SET `+set.Set()+` WHERE id = `+set.Arg(id), set.Args()...)
	if err != nil {
		return fmt.Errorf("update operator: %w", interpretError(err))
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No operator %q.", id)
	}
	return nil
}

// CountOperators counts operators that are not disabled.
func (s *OperatorService) CountOperators(ctx context.Context) (int, error) {
	var n int
	err := s.db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM operators WHERE disabled_at IS NULL`).Scan(&n)
	return n, err
}

// CreateSession stores a session.
func (s *OperatorService) CreateSession(ctx context.Context, ses *slokeeper.Session) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO operator_sessions (token_hash, operator_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		ses.TokenHash, ses.OperatorID, ses.CreatedAt, ses.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create session: %w", interpretError(err))
	}
	return nil
}

// FindSession returns the unexpired session with that token hash.
func (s *OperatorService) FindSession(ctx context.Context, tokenHash []byte, now time.Time) (*slokeeper.Session, error) {
	var ses slokeeper.Session
	err := s.db.pool.QueryRow(ctx, `SELECT token_hash, operator_id, created_at, expires_at FROM operator_sessions WHERE token_hash = $1 AND expires_at > $2`,
		tokenHash, now).Scan(&ses.TokenHash, &ses.OperatorID, &ses.CreatedAt, &ses.ExpiresAt)
	if err != nil {
		return nil, interpretError(err)
	}
	ses.CreatedAt, ses.ExpiresAt = ses.CreatedAt.UTC(), ses.ExpiresAt.UTC()
	return &ses, nil
}

// DeleteSession signs a session out.
func (s *OperatorService) DeleteSession(ctx context.Context, tokenHash []byte) error {
	_, err := s.db.pool.Exec(ctx, `DELETE FROM operator_sessions WHERE token_hash = $1`, tokenHash)
	return err
}

// DeleteOperatorSessions signs an operator out everywhere.
func (s *OperatorService) DeleteOperatorSessions(ctx context.Context, operatorID string) error {
	_, err := s.db.pool.Exec(ctx, `DELETE FROM operator_sessions WHERE operator_id = $1`, operatorID)
	return err
}

// CreateAPIToken stores a token.
func (s *OperatorService) CreateAPIToken(ctx context.Context, t *slokeeper.APIToken) error {
	if t.Scope != "read" && t.Scope != "write" {
		return slokeeper.Errorf(slokeeper.EINVALID, "Token scope %q is not read or write.", t.Scope)
	}
	_, err := s.db.pool.Exec(ctx, `
		INSERT INTO api_tokens (id, operator_id, name, scope, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ID, t.OperatorID, t.Name, t.Scope, t.TokenHash, t.CreatedAt, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create API token: %w", interpretError(err))
	}
	return nil
}

const tokenColumns = `id, operator_id, name, scope, token_hash, created_at, expires_at, revoked_at`

func scanToken(row pgx.CollectableRow) (*slokeeper.APIToken, error) {
	var t slokeeper.APIToken
	var revoked *time.Time
	err := row.Scan(&t.ID, &t.OperatorID, &t.Name, &t.Scope, &t.TokenHash, &t.CreatedAt, &t.ExpiresAt, &revoked)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC(), fromNull(revoked)
	return &t, err
}

// FindAPIToken returns the live token with that hash.
func (s *OperatorService) FindAPIToken(ctx context.Context, tokenHash []byte, now time.Time) (*slokeeper.APIToken, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2`, tokenHash, now)
	if err != nil {
		return nil, fmt.Errorf("find API token: %w", err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanToken)
	if err != nil {
		return nil, interpretError(err)
	}
	return t, nil
}

// FindAPITokens returns an operator's tokens, revoked ones included.
func (s *OperatorService) FindAPITokens(ctx context.Context, operatorID string) ([]*slokeeper.APIToken, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE operator_id = $1 ORDER BY created_at, id`, operatorID)
	if err != nil {
		return nil, fmt.Errorf("find API tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanToken)
	if err != nil {
		return nil, fmt.Errorf("find API tokens: %w", err)
	}
	return out, nil
}

// RevokeAPIToken revokes a token; revoking twice keeps the first time.
func (s *OperatorService) RevokeAPIToken(ctx context.Context, id string, at time.Time) error {
	tag, err := s.db.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, at, id)
	if err != nil {
		return fmt.Errorf("revoke API token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return slokeeper.Errorf(slokeeper.ENOTFOUND, "No API token %q.", id)
	}
	return nil
}
