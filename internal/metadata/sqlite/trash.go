package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// The recycle bin (schema 2):
//
//	manifests.trashed_at  0 for a live manifest; the time it was trashed
//	                      otherwise. Every read of the registry filters
//	                      on it; the row, its references and the blob
//	                      links stay, so GC keeps the blobs.
//	trash                 one row per trashed tag (tag <> '') or manifest
//	                      (tag = '', tags = the tags it had).
//
// A manifest entry is current only while manifests.trashed_at equals its
// own trashed_at: pushing the manifest again clears the column (see
// insertManifestSQL) and so retires the entry without touching it. A tag
// entry is current while its manifest row exists.

const trashListSQL = `SELECT t.id, r.name, t.digest, t.tag, t.tags, m.media_type, m.size, t.trashed_at, t.actor
FROM trash t
JOIN repositories r ON r.id = t.repo_id
JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
WHERE (? = '' OR r.name = ?) AND (t.tag <> '' OR m.trashed_at = t.trashed_at) AND t.id > ?
ORDER BY t.id LIMIT ?`

// TrashTag moves a tag into the bin and announces it.
func (s *Store) TrashTag(ctx context.Context, repo, tag string) error {
	now := s.now()
	err := s.write(ctx, func(tx *wtx) error { return trashTagTx(ctx, tx, repo, tag, now) })
	if err != nil {
		return fmt.Errorf("trashing tag %s:%s: %w", repo, tag, err)
	}
	return nil
}

// trashTagTx moves one tag into the bin inside tx; ErrNotFound comes
// before any write, so a batch can carry on after it (DeleteTags).
func trashTagTx(ctx context.Context, tx *wtx, repo, tag string, now time.Time) error {
	var (
		id              int64
		dgst, mediaType string
		size            int64
	)
	err := tx.QueryRowContext(ctx, trashTagLookupSQL, repo, tag).Scan(&id, &dgst, &mediaType, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return metadata.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("looking up tag: %w", err)
	}
	if _, err := tx.ExecContext(ctx, deleteTagByIDSQL, id, tag); err != nil {
		return fmt.Errorf("removing tag: %w", err)
	}
	if err := insertTrash(ctx, tx, id, dgst, tag, nil, now); err != nil {
		return err
	}
	return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventTagTrashed, Repo: repo, Tag: tag,
		Digest: digest.Digest(dgst), MediaType: mediaType, Size: size, Actor: metadata.ActorFrom(ctx), At: now})
}

func insertTrash(ctx context.Context, tx *wtx, repoID int64, dgst, tag string, tags []string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, insertTrashSQL, repoID, dgst, tag, strings.Join(tags, " "), nanos(at), metadata.ActorFrom(ctx)); err != nil {
		return fmt.Errorf("recording trash entry: %w", err)
	}
	return nil
}

// TrashManifest hides a live manifest and moves its tags into the bin.
func (s *Store) TrashManifest(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	now := s.now()
	var tags []string
	err := s.write(ctx, func(tx *wtx) (err error) {
		tags, err = trashManifestTx(ctx, tx, repo, d, nil, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("trashing manifest %s in %s: %w", d, repo, err)
	}
	return tags, nil
}

// trashManifestTx trashes manifest d inside tx and returns the tags it took
// along; before, if set, may refuse once the manifest's tags are known.
func trashManifestTx(ctx context.Context, tx *wtx, repo string, d digest.Digest, before func(tags []string) error, now time.Time) ([]string, error) {
	var (
		tags      []string
		id        int64
		mediaType string
		size      int64
	)
	err := tx.QueryRowContext(ctx, `SELECT r.id, m.media_type, m.size
		FROM repositories r JOIN manifests m ON m.repo_id = r.id
		WHERE r.name = ? AND m.digest = ? AND m.trashed_at = 0`, repo, d.String()).Scan(&id, &mediaType, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, metadata.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("looking up manifest: %w", err)
	}
	if tags, err = queryStrings(ctx, tx, tagsOfManifestSQL, id, d.String()); err != nil {
		return nil, fmt.Errorf("listing tags: %w", err)
	}
	slices.Sort(tags)
	if before != nil {
		if err := before(tags); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE repo_id = ? AND digest = ?`, id, d.String()); err != nil {
		return nil, fmt.Errorf("removing tags: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE manifests SET trashed_at = ? WHERE repo_id = ? AND digest = ?`,
		nanos(now), id, d.String()); err != nil {
		return nil, fmt.Errorf("hiding manifest: %w", err)
	}
	if err := insertTrash(ctx, tx, id, d.String(), "", tags, now); err != nil {
		return nil, err
	}
	ev := metadata.Event{Repo: repo, Digest: d, MediaType: mediaType, Size: size, Actor: metadata.ActorFrom(ctx), At: now}
	for _, t := range tags {
		ev.Type, ev.Tag = metadata.EventTagTrashed, t
		if err := insertEvent(ctx, tx, ev); err != nil {
			return nil, err
		}
	}
	ev.Type, ev.Tag = metadata.EventManifestTrashed, ""
	return tags, insertEvent(ctx, tx, ev)
}

// ListTrash returns current bin entries in trash order.
func (s *Store) ListTrash(ctx context.Context, repo string, p metadata.Page) ([]metadata.TrashEntry, error) {
	var after int64
	if p.Last != "" {
		n, err := strconv.ParseInt(p.Last, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("listing trash: page after %q: not an entry id", p.Last)
		}
		after = n
	}
	rows, err := s.r.QueryContext(ctx, trashListSQL, repo, repo, after, limit(p))
	if err != nil {
		return nil, fmt.Errorf("listing trash: %w", err)
	}
	defer rows.Close()
	out := []metadata.TrashEntry{}
	for rows.Next() {
		var (
			e          metadata.TrashEntry
			dgst, tags string
			at         int64
		)
		if err := rows.Scan(&e.ID, &e.Repo, &dgst, &e.Tag, &tags, &e.MediaType, &e.Size, &at, &e.Actor); err != nil {
			return nil, fmt.Errorf("listing trash: %w", err)
		}
		e.Digest, e.TrashedAt = digest.Digest(dgst), fromNanos(at)
		e.Tags = strings.Fields(tags)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing trash: %w", err)
	}
	return out, nil
}

// Restore puts back a tag or a manifest with its tags. Restored tags get
// the restore time as their push time: retention then sees them as new
// rather than deleting them again at once.
func (s *Store) Restore(ctx context.Context, repo, tag string, d digest.Digest, force bool) (*metadata.TrashEntry, error) {
	var out *metadata.TrashEntry
	err := s.write(ctx, func(tx *wtx) error {
		var (
			id  int64
			err error
		)
		if err := tx.QueryRowContext(ctx, selectRepoSQL, repo).Scan(&id); errors.Is(err, sql.ErrNoRows) {
			return metadata.ErrNotFound
		} else if err != nil {
			return fmt.Errorf("looking up repository: %w", err)
		}
		r := restorer{s: s, tx: tx, repo: repo, repoID: id, force: force, now: s.now()}
		if tag != "" {
			out, err = r.tag(ctx, tag)
		} else {
			out, err = r.manifest(ctx, d)
		}
		return err
	})
	if err != nil {
		ref := repo + ":" + tag
		if tag == "" {
			ref = repo + "@" + d.String()
		}
		return nil, fmt.Errorf("restoring %s: %w", ref, err)
	}
	return out, nil
}

type restorer struct {
	s      *Store
	tx     *wtx
	repo   string
	repoID int64
	force  bool
	now    time.Time
}

// entry reads one current trash entry chosen by where.
func (r *restorer) entry(ctx context.Context, where string, args ...any) (*metadata.TrashEntry, int64, error) {
	var (
		e                metadata.TrashEntry
		dgst, tags       string
		at, manifestTime int64
	)
	err := r.tx.QueryRowContext(ctx, `SELECT t.id, t.digest, t.tag, t.tags, m.media_type, m.size, t.trashed_at, t.actor, m.trashed_at
		FROM trash t JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
		WHERE t.repo_id = ? AND (t.tag <> '' OR m.trashed_at = t.trashed_at) AND `+where+`
		ORDER BY t.id DESC LIMIT 1`, append([]any{r.repoID}, args...)...).
		Scan(&e.ID, &dgst, &e.Tag, &tags, &e.MediaType, &e.Size, &at, &e.Actor, &manifestTime)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, metadata.ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading trash entry: %w", err)
	}
	e.Repo, e.Digest, e.TrashedAt, e.Tags = r.repo, digest.Digest(dgst), fromNanos(at), strings.Fields(tags)
	return &e, manifestTime, nil
}

func (r *restorer) tag(ctx context.Context, tag string) (*metadata.TrashEntry, error) {
	e, manifestTrashed, err := r.entry(ctx, `t.tag = ?`, tag)
	if errors.Is(err, metadata.ErrNotFound) {
		// The tag went to the bin with its manifest (a delete by digest):
		// restoring the manifest brings the tag back with it.
		e, _, err = r.entry(ctx, `t.tag = '' AND instr(' ' || t.tags || ' ', ?) > 0`, " "+tag+" ")
		if err != nil {
			return nil, err
		}
		return r.manifest(ctx, e.Digest)
	}
	if err != nil {
		return nil, err
	}
	if manifestTrashed != 0 {
		// The content went to the bin after the tag: it comes back first.
		if _, err := r.manifest(ctx, e.Digest); err != nil {
			return nil, err
		}
	}
	if err := r.retag(ctx, tag, e); err != nil {
		return nil, err
	}
	return e, r.done(ctx, e, metadata.EventTagRestored, tag)
}

func (r *restorer) manifest(ctx context.Context, d digest.Digest) (*metadata.TrashEntry, error) {
	e, _, err := r.entry(ctx, `t.tag = '' AND t.digest = ?`, d.String())
	if err != nil {
		return nil, err
	}
	// Every tag is checked before any moves, so a conflict changes nothing.
	for _, t := range e.Tags {
		if err := r.conflict(ctx, t, e.Digest); err != nil {
			return nil, err
		}
	}
	if _, err := r.tx.ExecContext(ctx, `UPDATE manifests SET trashed_at = 0 WHERE repo_id = ? AND digest = ?`,
		r.repoID, d.String()); err != nil {
		return nil, fmt.Errorf("unhiding manifest: %w", err)
	}
	for _, t := range e.Tags {
		if err := r.retag(ctx, t, e); err != nil {
			return nil, err
		}
	}
	return e, r.done(ctx, e, metadata.EventManifestRestored, "")
}

// conflict returns ErrConflict if tag now points at content other than d
// and the restore is not forced.
func (r *restorer) conflict(ctx context.Context, tag string, d digest.Digest) error {
	var cur string
	err := r.tx.QueryRowContext(ctx, `SELECT digest FROM tags WHERE repo_id = ? AND name = ?`, r.repoID, tag).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (cur == d.String() || r.force)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading tag %s: %w", tag, err)
	}
	return fmt.Errorf("tag %s:%s was pushed again since (now %s); restore with force to move it back: %w",
		r.repo, tag, cur, metadata.ErrConflict)
}

func (r *restorer) retag(ctx context.Context, tag string, e *metadata.TrashEntry) error {
	if err := r.conflict(ctx, tag, e.Digest); err != nil {
		return err
	}
	if _, err := r.tx.ExecContext(ctx, upsertTagSQL, r.repoID, tag, e.Digest.String(), nanos(r.now), nanos(r.now)); err != nil {
		return fmt.Errorf("restoring tag %s: %w", tag, err)
	}
	return nil
}

func (r *restorer) done(ctx context.Context, e *metadata.TrashEntry, typ, tag string) error {
	if _, err := r.tx.ExecContext(ctx, `DELETE FROM trash WHERE id = ?`, e.ID); err != nil {
		return fmt.Errorf("removing trash entry: %w", err)
	}
	return insertEvent(ctx, r.tx, metadata.Event{Type: typ, Repo: r.repo, Digest: e.Digest, Tag: tag,
		MediaType: e.MediaType, Size: e.Size, Actor: metadata.ActorFrom(ctx), At: r.now})
}

// PurgeTrash deletes the manifests of expired entries for good (their
// references go by ON DELETE CASCADE, which frees their blobs for GC),
// then the expired entries and those whose content is gone.
func (s *Store) PurgeTrash(ctx context.Context, repo string, cutoff time.Time) (int, error) {
	var n int
	err := s.write(ctx, func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx, `SELECT r.name, m.repo_id, m.digest, m.media_type, m.size
			FROM trash t JOIN repositories r ON r.id = t.repo_id
			JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
			WHERE t.tag = '' AND m.trashed_at = t.trashed_at AND t.trashed_at < ? AND (? = '' OR r.name = ?)`,
			nanos(cutoff), repo, repo)
		if err != nil {
			return fmt.Errorf("finding expired manifests: %w", err)
		}
		var gone []metadata.Event
		var ids []int64
		for rows.Next() {
			var (
				ev   metadata.Event
				id   int64
				dgst string
			)
			if err := rows.Scan(&ev.Repo, &id, &dgst, &ev.MediaType, &ev.Size); err != nil {
				rows.Close()
				return fmt.Errorf("finding expired manifests: %w", err)
			}
			ev.Digest = digest.Digest(dgst)
			gone, ids = append(gone, ev), append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("finding expired manifests: %w", err)
		}
		for i, ev := range gone {
			if _, err := tx.ExecContext(ctx, `DELETE FROM manifests WHERE repo_id = ? AND digest = ? AND trashed_at <> 0`,
				ids[i], ev.Digest.String()); err != nil {
				return fmt.Errorf("deleting manifest %s: %w", ev.Digest, err)
			}
			ev.Type, ev.Actor, ev.At = metadata.EventManifestDeleted, metadata.ActorFrom(ctx), s.now()
			if err := insertEvent(ctx, tx, ev); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM trash WHERE trashed_at < ?
			AND (? = '' OR repo_id = (SELECT id FROM repositories WHERE name = ?))`, nanos(cutoff), repo, repo)
		if err != nil {
			return fmt.Errorf("deleting expired entries: %w", err)
		}
		c, _ := res.RowsAffected()
		n = int(c)
		// Entries whose content was deleted outright are no use to anyone.
		_, err = tx.ExecContext(ctx, `DELETE FROM trash WHERE NOT EXISTS (SELECT 1 FROM manifests m
			WHERE m.repo_id = trash.repo_id AND m.digest = trash.digest)`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("emptying trash: %w", err)
	}
	return n, nil
}

// Statements of trashing a tag, prepared (wtx.go): retention trashes
// thousands of tags in a row.
const (
	trashTagLookupSQL = `SELECT r.id, t.digest, m.media_type, m.size FROM repositories r
	JOIN tags t ON t.repo_id = r.id JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
	WHERE r.name = ? AND t.name = ?`
	deleteTagByIDSQL = `DELETE FROM tags WHERE repo_id = ? AND name = ?`
	insertTrashSQL   = `INSERT INTO trash (repo_id, digest, tag, tags, trashed_at, actor) VALUES (?, ?, ?, ?, ?, ?)`
)
