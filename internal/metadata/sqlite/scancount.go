package sqlite

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/metadata"
)

// CountStale counts the finished scans with a stored inventory that were
// matched against another database version than version: the work a
// rematch to version has ahead of it, for its progress.
func (s *Store) CountStale(ctx context.Context, version string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM scans WHERE db_version <> ? AND status IN (?, ?) AND inventory <> ''`,
		version, metadata.ScanComplete, metadata.ScanPartial).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting scans to rematch: %w", err)
	}
	return n, nil
}
