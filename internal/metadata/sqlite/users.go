package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

var _ metadata.Users = (*Store)(nil)

// users (schema 2):
//
//	users  name PK │ password_hash │ disabled 0/1 │ grants JSON [{pattern, role}] │ created
//
// Grants are a JSON column rather than a table: they are read and written
// whole with the account, and an account has a handful of them.

// CreateUser stores u, or returns metadata.ErrExists. The existence check
// and the insert share the writer's transaction, so two CLI invocations
// racing on one name cannot both succeed.
func (s *Store) CreateUser(ctx context.Context, u *metadata.User) error {
	grants, err := encodeGrants(u.Grants)
	if err != nil {
		return err
	}
	created := u.Created
	if created.IsZero() {
		created = s.now()
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating user %q: %w", u.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var one int
	switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE name = ?`, u.Name).Scan(&one); {
	case err == nil:
		return fmt.Errorf("creating user %q: %w", u.Name, metadata.ErrExists)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("creating user %q: %w", u.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (name, password_hash, disabled, grants, created) VALUES (?, ?, ?, ?, ?)`,
		u.Name, u.PasswordHash, u.Disabled, grants, created.UnixNano()); err != nil {
		return fmt.Errorf("creating user %q: %w", u.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating user %q: %w", u.Name, err)
	}
	return nil
}

// User returns the account named name, or metadata.ErrNotFound.
func (s *Store) User(ctx context.Context, name string) (*metadata.User, error) {
	row := s.r.QueryRowContext(ctx, `SELECT name, password_hash, disabled, grants, created FROM users WHERE name = ?`, name)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %q: %w", name, metadata.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading user %q: %w", name, err)
	}
	return u, nil
}

// ListUsers returns every account in name order.
func (s *Store) ListUsers(ctx context.Context) ([]metadata.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, password_hash, disabled, grants, created FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	defer rows.Close()
	out := []metadata.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("listing users: %w", err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	return out, nil
}

// UpdateUser replaces the mutable fields of the account named u.Name.
func (s *Store) UpdateUser(ctx context.Context, u *metadata.User) error {
	grants, err := encodeGrants(u.Grants)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE users SET password_hash = ?, disabled = ?, grants = ? WHERE name = ?`,
		u.PasswordHash, u.Disabled, grants, u.Name)
	if err != nil {
		return fmt.Errorf("updating user %q: %w", u.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("updating user %q: %w", u.Name, err)
	} else if n == 0 {
		return fmt.Errorf("updating user %q: %w", u.Name, metadata.ErrNotFound)
	}
	return nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanUser(r rowScanner) (*metadata.User, error) {
	var (
		u       metadata.User
		grants  string
		created int64
	)
	if err := r.Scan(&u.Name, &u.PasswordHash, &u.Disabled, &grants, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(grants), &u.Grants); err != nil {
		return nil, fmt.Errorf("grants of user %q: %w", u.Name, err)
	}
	if u.Grants == nil {
		u.Grants = []metadata.Grant{}
	}
	u.Created = time.Unix(0, created).UTC()
	return &u, nil
}

func encodeGrants(gs []metadata.Grant) (string, error) {
	if gs == nil {
		gs = []metadata.Grant{}
	}
	b, err := json.Marshal(gs)
	if err != nil {
		return "", fmt.Errorf("encoding grants: %w", err)
	}
	return string(b), nil
}
