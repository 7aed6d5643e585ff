package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

var _ metadata.ManifestGraph = (*Store)(nil)

// ListManifestGraph reads a repository's manifests, blob references and
// children in four scans of the repository's key range, joined in
// memory: a 100,000-manifest plan cannot afford listManifestsSQL's three
// correlated lookups per manifest.
func (s *Store) ListManifestGraph(ctx context.Context, repo string) ([]metadata.ManifestInfo, error) {
	out, err := s.listManifestGraph(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("listing manifests of %s: %w", repo, err)
	}
	return out, nil
}

func (s *Store) listManifestGraph(ctx context.Context, repo string) ([]metadata.ManifestInfo, error) {
	// One read transaction: the scans see the same snapshot.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var id int64
	if err := tx.QueryRowContext(ctx, selectRepoSQL, repo).Scan(&id); errors.Is(err, sql.ErrNoRows) {
		return nil, metadata.ErrRepoNotFound
	} else if err != nil {
		return nil, err
	}
	out := []metadata.ManifestInfo{}
	at := make(map[string]int)
	err = scanRows(ctx, tx, `SELECT digest, media_type, artifact_type, size, subject, pushed_at, last_pulled_at
		FROM manifests WHERE repo_id = ? AND trashed_at = 0 ORDER BY digest`, []any{id}, func(rows *sql.Rows) error {
		var (
			mi             metadata.ManifestInfo
			dgst, subject  string
			pushed, pulled int64
		)
		if err := rows.Scan(&dgst, &mi.MediaType, &mi.ArtifactType, &mi.Size, &subject, &pushed, &pulled); err != nil {
			return err
		}
		mi.Repo, mi.Digest, mi.Subject = repo, digest.Digest(dgst), digest.Digest(subject)
		mi.PushedAt, mi.LastPulledAt = fromNanos(pushed), fromNanos(pulled)
		at[dgst] = len(out)
		out = append(out, mi)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Blob sizes come from the repository's links, read in one scan: a
	// lookup per reference would cost as much as the rest of the graph.
	sizes := make(map[string]int64)
	err = scanRows(ctx, tx, `SELECT digest, size FROM repo_blobs WHERE repo_id = ?`, []any{id}, func(rows *sql.Rows) error {
		var d string
		var n int64
		if err := rows.Scan(&d, &n); err != nil {
			return err
		}
		sizes[d] = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Rows come in (manifest, blob) and (parent, child) key order, so
	// each manifest's lists are in digest order as ManifestInfo promises.
	// A reference whose link is gone counts as size 0, as in ListManifests.
	err = scanRows(ctx, tx, `SELECT manifest, blob FROM manifest_blobs WHERE repo_id = ? ORDER BY manifest, blob`, []any{id},
		func(rows *sql.Rows) error {
			var m, b string
			if err := rows.Scan(&m, &b); err != nil {
				return err
			}
			if i, ok := at[m]; ok {
				out[i].Blobs = append(out[i].Blobs, metadata.BlobRef{Digest: digest.Digest(b), Size: sizes[b]})
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = scanRows(ctx, tx, `SELECT parent, child FROM manifest_children WHERE repo_id = ? ORDER BY parent, child`, []any{id},
		func(rows *sql.Rows) error {
			var p, c string
			if err := rows.Scan(&p, &c); err != nil {
				return err
			}
			if i, ok := at[p]; ok {
				out[i].Children = append(out[i].Children, digest.Digest(c))
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func scanRows(ctx context.Context, tx *sql.Tx, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
