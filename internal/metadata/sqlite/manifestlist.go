package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// listManifestsSQL pages a repository's manifests on the primary key. The
// references and tags come along as space-separated lists, like
// manifestCols, so a page is one query; blobs as "digest size" pairs. A
// blob reference whose link is gone counts as size 0 rather than hiding
// the reference.
const listManifestsSQL = `SELECT m.digest, m.media_type, m.artifact_type, m.size, m.subject,
	m.pushed_at, m.last_pulled_at,
	(SELECT group_concat(b.blob || ' ' || COALESCE(rb.size, 0), ' ') FROM manifest_blobs b
		LEFT JOIN repo_blobs rb ON rb.repo_id = b.repo_id AND rb.digest = b.blob
		WHERE b.repo_id = m.repo_id AND b.manifest = m.digest),
	(SELECT group_concat(c.child, ' ') FROM manifest_children c WHERE c.repo_id = m.repo_id AND c.parent = m.digest),
	(SELECT group_concat(t.name, ' ') FROM tags t WHERE t.repo_id = m.repo_id AND t.digest = m.digest)
FROM manifests m
WHERE m.repo_id = ? AND m.digest > ? AND m.trashed_at = 0
ORDER BY m.digest LIMIT ?`

// ListManifests returns every manifest of repo in digest order after p.Last,
// without content.
func (s *Store) ListManifests(ctx context.Context, repo string, p metadata.Page) ([]metadata.ManifestInfo, error) {
	out, err := s.listManifests(ctx, repo, p)
	if err != nil {
		return nil, fmt.Errorf("listing manifests of %s: %w", repo, err)
	}
	return out, nil
}

func (s *Store) listManifests(ctx context.Context, repo string, p metadata.Page) ([]metadata.ManifestInfo, error) {
	id, err := repoID(ctx, s.r, repo)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, listManifestsSQL, id, p.Last, limit(p))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []metadata.ManifestInfo{}
	for rows.Next() {
		var (
			mi                    metadata.ManifestInfo
			dgst, subject         string
			pushed, pulled        int64
			blobs, children, tags sql.NullString
		)
		if err := rows.Scan(&dgst, &mi.MediaType, &mi.ArtifactType, &mi.Size, &subject,
			&pushed, &pulled, &blobs, &children, &tags); err != nil {
			return nil, err
		}
		mi.Repo, mi.Digest, mi.Subject = repo, digest.Digest(dgst), digest.Digest(subject)
		mi.PushedAt, mi.LastPulledAt = fromNanos(pushed), fromNanos(pulled)
		if mi.Blobs, err = splitBlobRefs(blobs.String); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", dgst, err)
		}
		mi.Children = splitDigests(children.String)
		slices.Sort(mi.Children)
		mi.Tags = []string{}
		if tags.String != "" {
			mi.Tags = strings.Fields(tags.String)
			slices.Sort(mi.Tags)
		}
		out = append(out, mi)
	}
	return out, rows.Err()
}

// splitBlobRefs parses "digest size digest size ..." in digest order.
func splitBlobRefs(s string) ([]metadata.BlobRef, error) {
	f := strings.Fields(s)
	if len(f)%2 != 0 {
		return nil, fmt.Errorf("malformed blob list %q", s)
	}
	out := make([]metadata.BlobRef, 0, len(f)/2)
	for i := 0; i < len(f); i += 2 {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("blob %s size: %w", f[i], err)
		}
		out = append(out, metadata.BlobRef{Digest: digest.Digest(f[i]), Size: n})
	}
	slices.SortFunc(out, func(a, b metadata.BlobRef) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return out, nil
}
