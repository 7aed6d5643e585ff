package sqlite

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

var _ metadata.UsageHistory = (*Store)(nil)

// usage_samples (usageSchema) is one row per storage measurement; a few
// a day at most, so a year is a few thousand rows.
const usageSchema = `
CREATE TABLE usage_samples (
	at                BIGINT  PRIMARY KEY,
	stored_bytes      BIGINT  NOT NULL,
	reclaimable_bytes BIGINT  NOT NULL,
	trash_bytes       BIGINT  NOT NULL
);`

// RecordUsage stores a sample; one at the same nanosecond replaces it.
func (s *Store) RecordUsage(ctx context.Context, u metadata.UsageSample) error {
	if u.At.IsZero() {
		u.At = s.now()
	}
	err := s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO usage_samples (at, stored_bytes, reclaimable_bytes, trash_bytes) VALUES (?, ?, ?, ?)`,
			nanos(u.At), u.StoredBytes, u.ReclaimableBytes, u.TrashBytes)
		return err
	})
	if err != nil {
		return fmt.Errorf("recording a usage sample: %w", err)
	}
	return nil
}

// UsageSamples returns the newest n samples since since, oldest first.
func (s *Store) UsageSamples(ctx context.Context, since time.Time, n int) ([]metadata.UsageSample, error) {
	if n <= 0 {
		n = defaultPage
	}
	rows, err := s.r.QueryContext(ctx, `SELECT at, stored_bytes, reclaimable_bytes, trash_bytes FROM usage_samples
	WHERE at >= ? ORDER BY at DESC LIMIT ?`, nanos(since), n)
	if err != nil {
		return nil, fmt.Errorf("reading usage samples: %w", err)
	}
	defer rows.Close()
	var out []metadata.UsageSample
	for rows.Next() {
		var u metadata.UsageSample
		var at int64
		if err := rows.Scan(&at, &u.StoredBytes, &u.ReclaimableBytes, &u.TrashBytes); err != nil {
			return nil, fmt.Errorf("reading usage samples: %w", err)
		}
		u.At = fromNanos(at)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading usage samples: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// PruneUsage deletes samples older than before.
func (s *Store) PruneUsage(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM usage_samples WHERE at < ?`, nanos(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pruning usage samples: %w", err)
	}
	return int(n), nil
}
