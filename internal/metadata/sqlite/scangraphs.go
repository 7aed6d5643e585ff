package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

var _ metadata.GraphScanner = (*Store)(nil)

// ScanGraphs reads every repository's tags and manifest graph with one
// scan per table, grouped by repository in memory, on three connections at
// once (manifests and children; tags; blob references and sizes).
// Per-repository range scans cost an index search per row (tags and
// manifests are rowid tables keyed by an index); a table scan reads each
// page once, which halves a 100,000-tag plan's CPU.
func (s *Store) ScanGraphs(ctx context.Context, fn func(metadata.RepoGraph) error) error {
	repos, err := s.scanGraphs(ctx)
	if err != nil {
		return fmt.Errorf("reading repository graphs: %w", err)
	}
	for _, g := range repos {
		if err := fn(g.RepoGraph); err != nil {
			return err
		}
	}
	return nil
}

type repoScan struct {
	metadata.RepoGraph
	at map[string]int // manifest digest → index in Manifests
}

// blobRef is one manifest_blobs row with its blob's size.
type blobRef struct {
	manifest string
	metadata.BlobRef
}

func (s *Store) scanGraphs(ctx context.Context) ([]*repoScan, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	// Tags, and blob references with sizes, are read beside the graph on
	// two more connections, so that the scans share the cores. Retention
	// already tolerates a tag and its manifest read at different moments
	// (a tag pointing at an unknown manifest is kept; deleting a manifest
	// re-checks its tags in the deleting transaction), and blob sizes only
	// estimate bytes freed. Manifests and children, which decide what an
	// index keeps, are read in one transaction.
	tags := make(map[int64][]metadata.TagInfo)
	refs := make(map[int64][]blobRef)
	var (
		tagsErr, refsErr error
		wg               sync.WaitGroup
	)
	wg.Go(func() { tagsErr = s.scanTags(ctx, tags) })
	wg.Go(func() { refsErr = s.scanBlobRefs(ctx, refs) })
	// Every return waits, so that no scan outlives the call.
	defer wg.Wait()
	byID := make(map[int64]*repoScan)
	err = scanRows(ctx, tx, `SELECT id, name FROM repositories`, nil, func(rows *sql.Rows) error {
		var (
			id   int64
			name string
		)
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		byID[id] = &repoScan{RepoGraph: metadata.RepoGraph{Repo: name}, at: map[string]int{}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = scanRows(ctx, tx, `SELECT repo_id, digest, media_type, artifact_type, size, subject, pushed_at, last_pulled_at
		FROM manifests WHERE trashed_at = 0`, nil, func(rows *sql.Rows) error {
		var (
			id             int64
			mi             metadata.ManifestInfo
			dgst, subject  string
			pushed, pulled int64
		)
		if err := rows.Scan(&id, &dgst, &mi.MediaType, &mi.ArtifactType, &mi.Size, &subject, &pushed, &pulled); err != nil {
			return err
		}
		r := byID[id]
		if r == nil {
			return nil
		}
		mi.Repo, mi.Digest, mi.Subject = r.Repo, digest.Digest(dgst), digest.Digest(subject)
		mi.PushedAt, mi.LastPulledAt = fromNanos(pushed), fromNanos(pulled)
		r.Manifests = append(r.Manifests, mi)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range byID {
		slices.SortFunc(r.Manifests, func(a, b metadata.ManifestInfo) int { return cmp.Compare(a.Digest, b.Digest) })
		for i, m := range r.Manifests {
			r.at[string(m.Digest)] = i
		}
	}
	// The primary key's index covers these columns, so key order costs
	// nothing and keeps each manifest's children in digest order.
	err = scanRows(ctx, tx, `SELECT repo_id, parent, child FROM manifest_children ORDER BY repo_id, parent, child`, nil,
		func(rows *sql.Rows) error {
			var (
				id   int64
				p, c string
			)
			if err := rows.Scan(&id, &p, &c); err != nil {
				return err
			}
			if r := byID[id]; r != nil {
				if i, ok := r.at[p]; ok {
					r.Manifests[i].Children = append(r.Manifests[i].Children, digest.Digest(c))
				}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if wg.Wait(); tagsErr != nil || refsErr != nil {
		return nil, cmp.Or(tagsErr, refsErr)
	}
	for id, rs := range refs {
		r := byID[id]
		if r == nil {
			continue
		}
		for _, ref := range rs {
			if i, ok := r.at[ref.manifest]; ok {
				r.Manifests[i].Blobs = append(r.Manifests[i].Blobs, ref.BlobRef)
			}
		}
	}
	for id, ts := range tags {
		r := byID[id]
		if r == nil {
			continue
		}
		for i := range ts {
			t := &ts[i]
			t.Repo = r.Repo
			if j, ok := r.at[string(t.Digest)]; ok {
				t.MediaType, t.LastPulledAt = r.Manifests[j].MediaType, r.Manifests[j].LastPulledAt
			}
		}
		r.Tags = ts
	}
	out := make([]*repoScan, 0, len(byID))
	for _, r := range byID {
		slices.SortFunc(r.Tags, func(a, b metadata.TagInfo) int { return cmp.Compare(a.Name, b.Name) })
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *repoScan) int { return cmp.Compare(a.Repo, b.Repo) })
	return out, nil
}

// scanTags reads every tag into tags by repository id.
func (s *Store) scanTags(ctx context.Context, tags map[int64][]metadata.TagInfo) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	return scanRows(ctx, tx, `SELECT repo_id, name, digest, first_pushed, updated FROM tags`, nil, func(rows *sql.Rows) error {
		var (
			id             int64
			ti             metadata.TagInfo
			dgst           string
			first, updated int64
		)
		if err := rows.Scan(&id, &ti.Name, &dgst, &first, &updated); err != nil {
			return err
		}
		ti.Digest = digest.Digest(dgst)
		ti.FirstPushed, ti.Updated = fromNanos(first), fromNanos(updated)
		tags[id] = append(tags[id], ti)
		return nil
	})
}

// scanBlobRefs reads every manifest's blob references, with the sizes of
// the repository's links, into refs by repository id, in (manifest, blob)
// order. A reference whose link is gone counts as size 0, as in
// ListManifests.
func (s *Store) scanBlobRefs(ctx context.Context, refs map[int64][]blobRef) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	sizes := make(map[int64]map[string]int64)
	err = scanRows(ctx, tx, `SELECT repo_id, digest, size FROM repo_blobs`, nil, func(rows *sql.Rows) error {
		var (
			id   int64
			d    string
			size int64
		)
		if err := rows.Scan(&id, &d, &size); err != nil {
			return err
		}
		if sizes[id] == nil {
			sizes[id] = make(map[string]int64)
		}
		sizes[id][d] = size
		return nil
	})
	if err != nil {
		return err
	}
	// The primary key's index covers these columns, so key order costs
	// nothing and keeps each manifest's blobs in digest order.
	return scanRows(ctx, tx, `SELECT repo_id, manifest, blob FROM manifest_blobs ORDER BY repo_id, manifest, blob`, nil,
		func(rows *sql.Rows) error {
			var (
				id   int64
				m, b string
			)
			if err := rows.Scan(&id, &m, &b); err != nil {
				return err
			}
			refs[id] = append(refs[id], blobRef{m, metadata.BlobRef{Digest: digest.Digest(b), Size: sizes[id][b]}})
			return nil
		})
}
