package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/berth-registry/berth/internal/metadata"
)

var _ metadata.NetworkRules = (*Store)(nil)

// network_rules (netRulesSchema) holds at most one row (id = 1): the rule
// set as JSON, read and written whole.
const netRulesSchema = `
CREATE TABLE network_rules (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	spec       TEXT    NOT NULL,
	updated    BIGINT  NOT NULL,
	updated_by TEXT    NOT NULL DEFAULT ''
);`

// NetworkRules returns the stored rules, or metadata.ErrNotFound.
func (s *Store) NetworkRules(ctx context.Context) (*metadata.StoredNetworkRules, error) {
	var spec string
	var updated int64
	r := &metadata.StoredNetworkRules{}
	err := s.r.QueryRowContext(ctx, `SELECT spec, updated, updated_by FROM network_rules WHERE id = 1`).
		Scan(&spec, &updated, &r.UpdatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("network rules: %w", metadata.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading network rules: %w", err)
	}
	r.Spec, r.Updated = []byte(spec), fromNanos(updated)
	return r, nil
}

// SetNetworkRules replaces the stored rules.
func (s *Store) SetNetworkRules(ctx context.Context, r metadata.StoredNetworkRules) error {
	at := r.Updated
	if at.IsZero() {
		at = s.now()
	}
	err := s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO network_rules (id, spec, updated, updated_by) VALUES (1, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, updated = excluded.updated, updated_by = excluded.updated_by`,
			string(r.Spec), nanos(at), r.UpdatedBy)
		return err
	})
	if err != nil {
		return fmt.Errorf("storing network rules: %w", err)
	}
	return nil
}

// ClearNetworkRules removes the stored rules, or returns metadata.ErrNotFound.
func (s *Store) ClearNetworkRules(ctx context.Context) error {
	var n int64
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM network_rules WHERE id = 1`)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("clearing network rules: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("network rules: %w", metadata.ErrNotFound)
	}
	return nil
}
