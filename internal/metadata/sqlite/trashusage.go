package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

var _ metadata.TrashUsage = (*Store)(nil)

// trashBlobsSQL lists (repository, blob, size) for every blob a trashed
// manifest references and no live manifest, in any repository, does:
// what garbage collection would take once the bin is emptied. The size
// comes from the repository's link, which a trashed manifest keeps.
const trashBlobsSQL = `SELECT DISTINCT r.name, mb.blob, COALESCE(rb.size, 0)
FROM manifest_blobs mb
JOIN manifests m ON m.repo_id = mb.repo_id AND m.digest = mb.manifest AND m.trashed_at <> 0
JOIN repositories r ON r.id = mb.repo_id
LEFT JOIN repo_blobs rb ON rb.repo_id = mb.repo_id AND rb.digest = mb.blob
WHERE NOT EXISTS (SELECT 1 FROM manifest_blobs lb
	JOIN manifests lm ON lm.repo_id = lb.repo_id AND lm.digest = lb.manifest AND lm.trashed_at = 0
	WHERE lb.blob = mb.blob)
ORDER BY r.name`

// TrashUsage measures the recycle bin in two queries: the trashed
// manifests per repository, then the blobs only they reference.
func (s *Store) TrashUsage(ctx context.Context) (metadata.TrashReport, error) {
	rep := metadata.TrashReport{Repositories: []metadata.RepoTrash{}}
	rows, err := s.r.QueryContext(ctx, `SELECT r.name, COUNT(*), SUM(m.size) FROM manifests m
		JOIN repositories r ON r.id = m.repo_id WHERE m.trashed_at <> 0 GROUP BY r.name ORDER BY r.name`)
	if err != nil {
		return rep, fmt.Errorf("measuring the recycle bin: %w", err)
	}
	index := map[string]int{}
	for rows.Next() {
		var rt metadata.RepoTrash
		if err := rows.Scan(&rt.Name, &rt.Manifests, &rt.Bytes); err != nil {
			rows.Close()
			return rep, fmt.Errorf("measuring the recycle bin: %w", err)
		}
		index[rt.Name] = len(rep.Repositories)
		rep.Repositories = append(rep.Repositories, rt)
		rep.Manifests += rt.Manifests
		rep.Bytes += rt.Bytes
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("measuring the recycle bin: %w", err)
	}
	rows, err = s.r.QueryContext(ctx, trashBlobsSQL)
	if err != nil {
		return rep, fmt.Errorf("measuring blobs of the recycle bin: %w", err)
	}
	defer rows.Close()
	counted := map[string]bool{}
	for rows.Next() {
		var (
			repo, blob string
			size       int64
		)
		if err := rows.Scan(&repo, &blob, &size); err != nil {
			return rep, fmt.Errorf("measuring blobs of the recycle bin: %w", err)
		}
		if i, ok := index[repo]; ok {
			rep.Repositories[i].Bytes += size
		}
		if !counted[blob] {
			counted[blob] = true
			rep.Bytes += size
		}
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("measuring blobs of the recycle bin: %w", err)
	}
	return rep, nil
}

var _ metadata.LinkTotals = (*Store)(nil)

// linkTotalsSQL groups links by digest on repo_blobs_by_digest and asks
// manifest_blobs_by_blob whether anything references each: one index
// pass, where a walk of the blob store stats every file. Its liveness
// rule is gc's (liveBlobSQL) with cutoff bound once.
const linkTotalsSQL = `SELECT COUNT(*), COALESCE(SUM(size), 0),
	COALESCE(SUM(dead), 0), COALESCE(SUM(dead * size), 0)
FROM (SELECT MAX(size) AS size,
	(MAX(linked_at) < ? AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.blob = rb.digest)
		AND rb.digest NOT IN (` + lockedLinksSQL + `)) AS dead
	FROM repo_blobs rb GROUP BY digest)`

// LinkTotals sums distinct linked blobs and those gc would free.
func (s *Store) LinkTotals(ctx context.Context, cutoff time.Time) (metadata.LinkCount, error) {
	var t metadata.LinkCount
	if err := s.r.QueryRowContext(ctx, linkTotalsSQL, nanos(cutoff)).Scan(&t.Blobs, &t.Bytes, &t.Unreferenced, &t.UnreferencedBytes); err != nil {
		return t, fmt.Errorf("summing linked blobs: %w", err)
	}
	return t, nil
}
