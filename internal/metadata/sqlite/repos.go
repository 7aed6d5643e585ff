package sqlite

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/metadata"
)

// ListRepos returns repository names in bytewise order after p.Last.
func (s *Store) ListRepos(ctx context.Context, p metadata.Page) ([]string, error) {
	names, err := queryStrings(ctx, s.r, `SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?`,
		p.Last, limit(p))
	if err != nil {
		return nil, fmt.Errorf("listing repositories: %w", err)
	}
	return names, nil
}

// RepoSummaries returns repositories with totals in bytewise order after
// p.Last. Updated is the latest manifest push or tag move, zero if nothing
// was ever pushed (MAX(a, b) is GREATEST in PostgreSQL). Trashed manifests
// are not counted (their tags left the tags table with them) but their
// bytes are: the repository still holds them until the bin is emptied.
func (s *Store) RepoSummaries(ctx context.Context, p metadata.Page) ([]metadata.RepoSummary, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT r.name,
		(SELECT COUNT(*) FROM tags t WHERE t.repo_id = r.id),
		(SELECT COUNT(*) FROM manifests m WHERE m.repo_id = r.id AND m.trashed_at = 0),
		COALESCE((SELECT SUM(b.size) FROM repo_blobs b WHERE b.repo_id = r.id), 0)
			+ COALESCE((SELECT SUM(m.size) FROM manifests m WHERE m.repo_id = r.id), 0),
		MAX(COALESCE((SELECT MAX(m.pushed_at) FROM manifests m WHERE m.repo_id = r.id), 0),
			COALESCE((SELECT MAX(t.updated) FROM tags t WHERE t.repo_id = r.id), 0))
		FROM repositories r WHERE r.name > ? ORDER BY r.name LIMIT ?`, p.Last, limit(p))
	if err != nil {
		return nil, fmt.Errorf("summarising repositories: %w", err)
	}
	defer rows.Close()
	out := []metadata.RepoSummary{}
	for rows.Next() {
		var (
			rs      metadata.RepoSummary
			updated int64
		)
		if err := rows.Scan(&rs.Name, &rs.TagCount, &rs.Manifests, &rs.Size, &updated); err != nil {
			return nil, fmt.Errorf("summarising repositories: %w", err)
		}
		rs.Updated = fromNanos(updated)
		out = append(out, rs)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summarising repositories: %w", err)
	}
	return out, nil
}
