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

var _ metadata.ScopedTokens = (*Store)(nil)

// tokenSchema (scoped tokens, see package access/scoped):
//
//	scoped_tokens  name PK │ creator │ grants JSON [{pattern, actions}] │ hash1 │ hash2
//	               │ disabled │ cidrs JSON [prefix] │ expires │ created │ last_used
//
// expires and last_used are UnixNano, 0 for never. The hashes are PHC
// strings; "" marks a password slot with no password.
const tokenSchema = `
CREATE TABLE scoped_tokens (
	name      TEXT    PRIMARY KEY,
	creator   TEXT    NOT NULL,
	grants    TEXT    NOT NULL DEFAULT '[]',
	hash1     TEXT    NOT NULL DEFAULT '',
	hash2     TEXT    NOT NULL DEFAULT '',
	disabled  BOOLEAN NOT NULL DEFAULT 0,
	cidrs     TEXT    NOT NULL DEFAULT '[]',
	expires   BIGINT  NOT NULL DEFAULT 0,
	created   BIGINT  NOT NULL,
	last_used BIGINT  NOT NULL DEFAULT 0
);
`

const tokenColumns = `name, creator, grants, hash1, hash2, disabled, cidrs, expires, created, last_used`

// CreateScopedToken stores t, or returns metadata.ErrExists.
func (s *Store) CreateScopedToken(ctx context.Context, t *metadata.ScopedToken) error {
	grants, cidrs, err := encodeTokenLists(t)
	if err != nil {
		return err
	}
	created := t.Created
	if created.IsZero() {
		created = s.now()
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating token %q: %w", t.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var one int
	switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM scoped_tokens WHERE name = ?`, t.Name).Scan(&one); {
	case err == nil:
		return fmt.Errorf("creating token %q: %w", t.Name, metadata.ErrExists)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("creating token %q: %w", t.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO scoped_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
		t.Name, t.Creator, grants, t.Hash1, t.Hash2, t.Disabled, cidrs, tokenNanos(t.Expires), created.UnixNano()); err != nil {
		return fmt.Errorf("creating token %q: %w", t.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating token %q: %w", t.Name, err)
	}
	return nil
}

// ScopedToken returns the token named name, or metadata.ErrNotFound.
func (s *Store) ScopedToken(ctx context.Context, name string) (*metadata.ScopedToken, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM scoped_tokens WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("token %q: %w", name, metadata.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading token %q: %w", name, err)
	}
	return t, nil
}

// ListScopedTokens returns every token in name order.
func (s *Store) ListScopedTokens(ctx context.Context) ([]metadata.ScopedToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM scoped_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	defer rows.Close()
	out := []metadata.ScopedToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("listing tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	return out, nil
}

// UpdateScopedToken replaces the hashes, disabled flag, grants, CIDRs and
// expiry of the token named t.Name; creator, created and last-used stay.
func (s *Store) UpdateScopedToken(ctx context.Context, t *metadata.ScopedToken) error {
	grants, cidrs, err := encodeTokenLists(t)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE scoped_tokens SET grants = ?, hash1 = ?, hash2 = ?, disabled = ?, cidrs = ?, expires = ? WHERE name = ?`,
		grants, t.Hash1, t.Hash2, t.Disabled, cidrs, tokenNanos(t.Expires), t.Name)
	if err != nil {
		return fmt.Errorf("updating token %q: %w", t.Name, err)
	}
	return tokenOneRow(res, "updating token "+fmt.Sprintf("%q", t.Name))
}

// DeleteScopedToken removes the token named name, or returns ErrNotFound.
func (s *Store) DeleteScopedToken(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM scoped_tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("deleting token %q: %w", name, err)
	}
	return tokenOneRow(res, "deleting token "+fmt.Sprintf("%q", name))
}

// TouchScopedTokens records last-use times in one transaction; a time
// older than the stored one is ignored, and so is a deleted token.
func (s *Store) TouchScopedTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording token use: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for name, at := range used {
		if _, err := tx.ExecContext(ctx, `UPDATE scoped_tokens SET last_used = max(last_used, ?) WHERE name = ?`, at.UnixNano(), name); err != nil {
			return fmt.Errorf("recording token use: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording token use: %w", err)
	}
	return nil
}

func tokenOneRow(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, metadata.ErrNotFound)
	}
	return nil
}

func tokenNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func tokenTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func encodeTokenLists(t *metadata.ScopedToken) (string, string, error) {
	gs, cs := t.Grants, t.CIDRs
	if gs == nil {
		gs = []metadata.TokenGrant{}
	}
	if cs == nil {
		cs = []string{}
	}
	g, err := json.Marshal(gs)
	if err != nil {
		return "", "", fmt.Errorf("encoding token grants: %w", err)
	}
	c, err := json.Marshal(cs)
	if err != nil {
		return "", "", fmt.Errorf("encoding token CIDRs: %w", err)
	}
	return string(g), string(c), nil
}

func scanToken(r rowScanner) (*metadata.ScopedToken, error) {
	var (
		t                          metadata.ScopedToken
		grants, cidrs              string
		expires, created, lastUsed int64
	)
	if err := r.Scan(&t.Name, &t.Creator, &grants, &t.Hash1, &t.Hash2, &t.Disabled, &cidrs, &expires, &created, &lastUsed); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(grants), &t.Grants); err != nil {
		return nil, fmt.Errorf("grants of token %q: %w", t.Name, err)
	}
	if err := json.Unmarshal([]byte(cidrs), &t.CIDRs); err != nil {
		return nil, fmt.Errorf("CIDRs of token %q: %w", t.Name, err)
	}
	if t.Grants == nil {
		t.Grants = []metadata.TokenGrant{}
	}
	if t.CIDRs == nil {
		t.CIDRs = []string{}
	}
	t.Expires, t.Created, t.LastUsed = tokenTime(expires), time.Unix(0, created).UTC(), tokenTime(lastUsed)
	return &t, nil
}
