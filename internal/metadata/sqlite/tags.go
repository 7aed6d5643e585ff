package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// repoID returns the id of repository name, or ErrRepoNotFound.
func repoID(ctx context.Context, db *sql.DB, name string) (int64, error) {
	var id int64
	err := db.QueryRowContext(ctx, `SELECT id FROM repositories WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, metadata.ErrRepoNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("looking up repository: %w", err)
	}
	return id, nil
}

// ListTags returns tag names of repo in bytewise order after p.Last.
func (s *Store) ListTags(ctx context.Context, repo string, p metadata.Page) ([]string, error) {
	id, err := repoID(ctx, s.r, repo)
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	tags, err := queryStrings(ctx, s.r, `SELECT name FROM tags WHERE repo_id = ? AND name > ?
		ORDER BY name LIMIT ?`, id, p.Last, limit(p))
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	return tags, nil
}

// tagSize is a tag's manifest plus the distinct blobs it and its children
// reference, plus the children themselves (one level: an index of indexes
// is counted to its first level only). IN already makes the blobs distinct,
// so UNION ALL spares a sort; IN (children) rather than a join keeps the
// planner from walking every blob reference of the repository.
const tagSize = `m.size
	+ COALESCE((SELECT SUM(rb.size) FROM repo_blobs rb WHERE rb.repo_id = t.repo_id AND rb.digest IN (
		SELECT b.blob FROM manifest_blobs b WHERE b.repo_id = t.repo_id AND b.manifest = t.digest
		UNION ALL
		SELECT b.blob FROM manifest_blobs b WHERE b.repo_id = t.repo_id AND b.manifest IN (
			SELECT c.child FROM manifest_children c WHERE c.repo_id = t.repo_id AND c.parent = t.digest))), 0)
	+ COALESCE((SELECT SUM(cm.size) FROM manifest_children c
		JOIN manifests cm ON cm.repo_id = c.repo_id AND cm.digest = c.child
		WHERE c.repo_id = t.repo_id AND c.parent = t.digest), 0)`

// TagDetails returns tags with digests, sizes and times. For the time
// orders p.Last is the name of the last tag of the previous page and paging
// continues after that tag's current (updated, name) position, ties broken
// by name; if that tag no longer exists the call fails with ErrNotFound,
// because its position is lost.
func (s *Store) TagDetails(ctx context.Context, repo string, order metadata.Order, p metadata.Page) ([]metadata.TagInfo, error) {
	out, err := s.tagDetails(ctx, repo, order, p)
	if err != nil {
		return nil, fmt.Errorf("listing tag details of %s: %w", repo, err)
	}
	return out, nil
}

func (s *Store) tagDetails(ctx context.Context, repo string, order metadata.Order, p metadata.Page) ([]metadata.TagInfo, error) {
	id, err := repoID(ctx, s.r, repo)
	if err != nil {
		return nil, err
	}
	var (
		where   string
		orderBy string
		args    = []any{id}
	)
	switch order {
	case metadata.OrderName:
		where, orderBy = ` AND t.name > ?`, `t.name`
		args = append(args, p.Last)
	case metadata.OrderTimeAsc, metadata.OrderTimeDesc:
		cmp := ">"
		orderBy = `t.updated, t.name`
		if order == metadata.OrderTimeDesc {
			orderBy, cmp = `t.updated DESC, t.name DESC`, "<"
		}
		if p.Last != "" {
			var u int64
			err := s.r.QueryRowContext(ctx, `SELECT updated FROM tags WHERE repo_id = ? AND name = ?`, id, p.Last).Scan(&u)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("paging after tag %q: %w", p.Last, metadata.ErrNotFound)
			}
			if err != nil {
				return nil, fmt.Errorf("paging after tag %q: %w", p.Last, err)
			}
			where = ` AND (t.updated ` + cmp + ` ? OR (t.updated = ? AND t.name ` + cmp + ` ?))`
			args = append(args, u, u, p.Last)
		}
	default:
		return nil, fmt.Errorf("unknown order %d", order)
	}
	args = append(args, limit(p))
	rows, err := s.r.QueryContext(ctx, `SELECT t.name, t.digest, m.media_type, `+tagSize+`,
		t.first_pushed, t.updated, m.last_pulled_at
		FROM tags t JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
		WHERE t.repo_id = ?`+where+` ORDER BY `+orderBy+` LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []metadata.TagInfo{}
	for rows.Next() {
		var (
			ti                     metadata.TagInfo
			dgst                   string
			first, updated, pulled int64
		)
		if err := rows.Scan(&ti.Name, &dgst, &ti.MediaType, &ti.Size, &first, &updated, &pulled); err != nil {
			return nil, err
		}
		ti.Repo, ti.Digest = repo, digest.Digest(dgst)
		ti.FirstPushed, ti.Updated, ti.LastPulledAt = fromNanos(first), fromNanos(updated), fromNanos(pulled)
		out = append(out, ti)
	}
	return out, rows.Err()
}

// DeleteTag removes a tag and announces it, or returns ErrNotFound.
func (s *Store) DeleteTag(ctx context.Context, repo, tag string) error {
	err := s.write(ctx, func(tx *wtx) error { return deleteTagTx(ctx, tx, repo, tag, s.now()) })
	if err != nil {
		return fmt.Errorf("deleting tag %s:%s: %w", repo, tag, err)
	}
	return nil
}

// deleteTagTx removes one tag inside tx; ErrNotFound comes before any
// write, so a batch can carry on after it (DeleteTags).
func deleteTagTx(ctx context.Context, tx *wtx, repo, tag string, now time.Time) error {
	var (
		dgst, mediaType string
		size            int64
	)
	err := tx.QueryRowContext(ctx, `DELETE FROM tags
		WHERE repo_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?
		RETURNING digest`, repo, tag).Scan(&dgst)
	if errors.Is(err, sql.ErrNoRows) {
		return metadata.ErrNotFound
	}
	if err != nil {
		return err
	}
	// The manifest row must exist: tags reference it by foreign key.
	if err := tx.QueryRowContext(ctx, `SELECT m.media_type, m.size FROM repositories r
		JOIN manifests m ON m.repo_id = r.id WHERE r.name = ? AND m.digest = ?`, repo, dgst).Scan(&mediaType, &size); err != nil {
		return fmt.Errorf("reading tagged manifest: %w", err)
	}
	return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventTagDeleted, Repo: repo, Tag: tag,
		Digest: digest.Digest(dgst), MediaType: mediaType, Size: size, Actor: metadata.ActorFrom(ctx), At: now})
}
