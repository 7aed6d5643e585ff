package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// manifestCols reads a whole manifest in one row; the references come along
// as space-separated lists (string_agg in PostgreSQL) so a pull stays one
// query.
const manifestCols = `m.digest, m.media_type, m.artifact_type, m.size, m.subject, m.annotations,
	m.content, m.pushed_at, m.last_pulled_at,
	(SELECT group_concat(b.blob, ' ') FROM manifest_blobs b WHERE b.repo_id = m.repo_id AND b.manifest = m.digest),
	(SELECT group_concat(c.child, ' ') FROM manifest_children c WHERE c.repo_id = m.repo_id AND c.parent = m.digest)`

// The unary + on trashed_at keeps that column out of index selection: the
// browse and pulled indexes lead with (repo_id, trashed_at) and would
// otherwise tie with the lookup's own index and win it.
const manifestByDigestSQL = `SELECT ` + manifestCols + `
FROM repositories r JOIN manifests m ON m.repo_id = r.id
WHERE r.name = ? AND m.digest = ? AND +m.trashed_at = 0`

const manifestByTagSQL = `SELECT ` + manifestCols + `
FROM repositories r
JOIN tags t ON t.repo_id = r.id
JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
WHERE r.name = ? AND t.name = ?`

// referrersSQL repeats subject <> ” so the planner may use the partial
// index, and leaves sorting to Go: an ORDER BY digest lures the planner
// onto the primary key, scanning every manifest of the repository.
const referrersSQL = `SELECT m.media_type, m.artifact_type, m.digest, m.size, m.annotations
FROM repositories r JOIN manifests m ON m.repo_id = r.id
WHERE r.name = ? AND m.subject = ? AND m.subject <> '' AND (? = '' OR m.artifact_type = ?) AND +m.trashed_at = 0
LIMIT ?`

// tagsOfManifestSQL leaves sorting to the caller: an ORDER BY name lures
// the planner onto the primary key, scanning every tag of the repository.
const tagsOfManifestSQL = `SELECT name FROM tags WHERE repo_id = ? AND digest = ?`

// maxReferrers bounds one Referrers answer; the OCI referrers API has no
// paging of its own, and a subject with more referrers than this is abuse.
const maxReferrers = 10000

// PutManifest stores m and points tags at it in one transaction. Blobs and
// Children are sets: their order is not kept. PushedAt, if set, is used as
// the push time (imports keep their history); otherwise now. Re-pushing a
// stored manifest keeps the stored row and its first push time, but still
// moves the tags and announces the push. One manifest.pushed event is
// written per tag, or one without a tag for a push by digest.
func (s *Store) PutManifest(ctx context.Context, m *metadata.Manifest, tags []string) error {
	if m == nil || m.Repo == "" || m.Digest == "" || m.MediaType == "" {
		return errors.New("putting manifest: repository, digest and media type are required")
	}
	for _, t := range tags {
		if t == "" {
			return fmt.Errorf("putting manifest %s: empty tag name", m.Digest)
		}
	}
	ann, err := marshalAnnotations(m.Annotations)
	if err != nil {
		return fmt.Errorf("putting manifest %s: %w", m.Digest, err)
	}
	at := m.PushedAt.UTC()
	if m.PushedAt.IsZero() {
		at = s.now()
	}
	ev := metadata.Event{
		Type: metadata.EventManifestPushed, Repo: m.Repo, Digest: m.Digest,
		MediaType: m.MediaType, Size: m.Size, Actor: metadata.ActorFrom(ctx), At: at,
	}
	err = s.write(ctx, func(tx *wtx) error {
		repoID, err := ensureRepo(ctx, tx, m.Repo, at)
		if err != nil {
			return err
		}
		if err := checkRefs(ctx, tx, repoID, m); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, insertManifestSQL,
			repoID, m.Digest.String(), m.MediaType, m.ArtifactType, m.Size, m.Subject.String(), ann, nonNil(m.Content), nanos(at)); err != nil {
			return fmt.Errorf("inserting manifest: %w", err)
		}
		for _, b := range m.Blobs {
			if _, err := tx.ExecContext(ctx, insertBlobRefSQL, repoID, m.Digest.String(), b.String()); err != nil {
				return fmt.Errorf("inserting blob reference: %w", err)
			}
		}
		for _, c := range m.Children {
			if _, err := tx.ExecContext(ctx, insertChildRefSQL, repoID, m.Digest.String(), c.String()); err != nil {
				return fmt.Errorf("inserting child reference: %w", err)
			}
		}
		for _, t := range tags {
			if _, err := tx.ExecContext(ctx, upsertTagSQL,
				repoID, t, m.Digest.String(), nanos(at), nanos(at)); err != nil {
				return fmt.Errorf("tagging %q: %w", t, err)
			}
			ev.Tag = t
			if err := insertEvent(ctx, tx, ev); err != nil {
				return err
			}
		}
		if len(tags) == 0 {
			return insertEvent(ctx, tx, ev)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("putting manifest %s in %s: %w", m.Digest, m.Repo, err)
	}
	return nil
}

// ensureRepo returns the id of repository name, creating it if needed.
func ensureRepo(ctx context.Context, tx *wtx, name string, at time.Time) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, selectRepoSQL, name).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("looking up repository: %w", err)
	}
	err = tx.QueryRowContext(ctx, insertRepoSQL,
		name, nanos(at)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("creating repository: %w", err)
	}
	return id, nil
}

// checkRefs returns *MissingRefError for the first blob or child manifest
// of m that repoID does not hold.
func checkRefs(ctx context.Context, tx *wtx, repoID int64, m *metadata.Manifest) error {
	var one int
	for _, b := range m.Blobs {
		err := tx.QueryRowContext(ctx, blobLinkedSQL, repoID, b.String()).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return &metadata.MissingRefError{Digest: b}
		}
		if err != nil {
			return fmt.Errorf("checking blob %s: %w", b, err)
		}
	}
	for _, c := range m.Children {
		err := tx.QueryRowContext(ctx, manifestExistsSQL, repoID, c.String()).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return &metadata.MissingRefError{Digest: c, Manifest: true}
		}
		if err != nil {
			return fmt.Errorf("checking child manifest %s: %w", c, err)
		}
	}
	return nil
}

// Manifest returns a manifest of repo by digest, or ErrNotFound.
func (s *Store) Manifest(ctx context.Context, repo string, d digest.Digest) (*metadata.Manifest, error) {
	m, err := scanManifest(s.manifestStmt.QueryRowContext(ctx, repo, d.String()))
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s in %s: %w", d, repo, err)
	}
	m.Repo = repo
	return m, nil
}

// TaggedManifest returns the manifest tag points at, or ErrNotFound.
func (s *Store) TaggedManifest(ctx context.Context, repo, tag string) (*metadata.Manifest, error) {
	m, err := scanManifest(s.taggedStmt.QueryRowContext(ctx, repo, tag))
	if err != nil {
		return nil, fmt.Errorf("reading manifest tagged %s:%s: %w", repo, tag, err)
	}
	m.Repo = repo
	return m, nil
}

func scanManifest(row *sql.Row) (*metadata.Manifest, error) {
	var (
		m                  metadata.Manifest
		dgst, subject, ann string
		pushed, pulled     int64
		blobs, children    sql.NullString
	)
	err := row.Scan(&dgst, &m.MediaType, &m.ArtifactType, &m.Size, &subject, &ann,
		&m.Content, &pushed, &pulled, &blobs, &children)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, metadata.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	m.Digest, m.Subject = digest.Digest(dgst), digest.Digest(subject)
	m.PushedAt, m.LastPulledAt = fromNanos(pushed), fromNanos(pulled)
	if m.Annotations, err = unmarshalAnnotations(ann); err != nil {
		return nil, err
	}
	m.Blobs, m.Children = splitDigests(blobs.String), splitDigests(children.String)
	return &m, nil
}

// DeleteManifest removes a manifest, its tags and its references, and
// announces the manifest and every removed tag.
func (s *Store) DeleteManifest(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	var tags []string
	err := s.write(ctx, func(tx *wtx) (err error) {
		tags, err = deleteManifestTx(ctx, tx, repo, d, nil, s.now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("deleting manifest %s in %s: %w", d, repo, err)
	}
	return tags, nil
}

// deleteManifestTx is DeleteManifest inside tx; before, if set, may refuse
// once the manifest's tags are known; with before set (the guarded
// path) a manifest in the bin counts as gone.
func deleteManifestTx(ctx context.Context, tx *wtx, repo string, d digest.Digest, before func(tags []string) error, now time.Time) ([]string, error) {
	var (
		tags      []string
		repoID    int64
		mediaType string
		size      int64
	)
	live := ""
	if before != nil {
		live = ` AND m.trashed_at = 0`
	}
	err := tx.QueryRowContext(ctx, `SELECT r.id, m.media_type, m.size
		FROM repositories r JOIN manifests m ON m.repo_id = r.id
		WHERE r.name = ? AND m.digest = ?`+live, repo, d.String()).Scan(&repoID, &mediaType, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, metadata.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("looking up manifest: %w", err)
	}
	if tags, err = queryStrings(ctx, tx, tagsOfManifestSQL,
		repoID, d.String()); err != nil {
		return nil, fmt.Errorf("listing tags: %w", err)
	}
	slices.Sort(tags)
	if before != nil {
		if err := before(tags); err != nil {
			return nil, err
		}
	}
	// Tags and reference rows go with it by ON DELETE CASCADE.
	if _, err := tx.ExecContext(ctx, `DELETE FROM manifests WHERE repo_id = ? AND digest = ?`, repoID, d.String()); err != nil {
		return nil, fmt.Errorf("deleting manifest: %w", err)
	}
	ev := metadata.Event{Repo: repo, Digest: d, MediaType: mediaType, Size: size,
		Actor: metadata.ActorFrom(ctx), At: now}
	for _, t := range tags {
		ev.Type, ev.Tag = metadata.EventTagDeleted, t
		if err := insertEvent(ctx, tx, ev); err != nil {
			return nil, err
		}
	}
	ev.Type, ev.Tag = metadata.EventManifestDeleted, ""
	return tags, insertEvent(ctx, tx, ev)
}

// Referrers lists manifests of repo whose subject is d, in digest order,
// at most maxReferrers of them.
func (s *Store) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]metadata.Descriptor, error) {
	out := []metadata.Descriptor{}
	if d == "" {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, referrersSQL, repo, d.String(), artifactType, artifactType, maxReferrers)
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s in %s: %w", d, repo, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			desc      metadata.Descriptor
			dgst, ann string
		)
		if err := rows.Scan(&desc.MediaType, &desc.ArtifactType, &dgst, &desc.Size, &ann); err != nil {
			return nil, fmt.Errorf("listing referrers of %s in %s: %w", d, repo, err)
		}
		desc.Digest = digest.Digest(dgst)
		if desc.Annotations, err = unmarshalAnnotations(ann); err != nil {
			return nil, fmt.Errorf("listing referrers of %s in %s: %w", d, repo, err)
		}
		out = append(out, desc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing referrers of %s in %s: %w", d, repo, err)
	}
	slices.SortFunc(out, func(a, b metadata.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return out, nil
}

func marshalAnnotations(a map[string]string) (string, error) {
	if len(a) == 0 {
		return "", nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encoding annotations: %w", err)
	}
	return string(b), nil
}

func unmarshalAnnotations(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var a map[string]string
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("decoding annotations: %w", err)
	}
	return a, nil
}

func splitDigests(s string) []digest.Digest {
	if s == "" {
		return nil
	}
	f := strings.Fields(s)
	out := make([]digest.Digest, len(f))
	for i, x := range f {
		out[i] = digest.Digest(x)
	}
	return out
}

// nonNil keeps NOT NULL content columns happy for an empty manifest body.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryStrings returns the single text column of every row.
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
