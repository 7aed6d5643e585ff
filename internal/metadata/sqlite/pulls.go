package sqlite

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/metadata"
)

// RecordPulls moves last_pulled_at forward for every pulled manifest in one
// transaction; pulls older than the recorded time and pulls of manifests
// that no longer exist are ignored. A zero At means now.
func (s *Store) RecordPulls(ctx context.Context, pulls []metadata.Pull) error {
	if len(pulls) == 0 {
		return nil
	}
	type key struct{ repo, digest string }
	latest := make(map[key]int64, len(pulls))
	now := s.now()
	for _, p := range pulls {
		at := p.At
		if at.IsZero() {
			at = now
		}
		k := key{p.Repo, p.Digest.String()}
		latest[k] = max(latest[k], nanos(at))
	}
	err := s.write(ctx, func(tx *wtx) error {
		for k, at := range latest {
			if _, err := tx.ExecContext(ctx, recordPullSQL, at, k.repo, k.digest, at); err != nil {
				return fmt.Errorf("updating %s@%s: %w", k.repo, k.digest, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording %d pulls: %w", len(pulls), err)
	}
	return nil
}
