package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// LinkBlob records that repo holds d, creating the repository if needed.
// Linking again keeps the first size and renews the link time, which the
// garbage collector's grace period counts from. A blob condemned by the
// collector is refused in this transaction (see gc.go).
func (s *Store) LinkBlob(ctx context.Context, repo string, d digest.Digest, size int64) error {
	if repo == "" || d == "" || size < 0 {
		return fmt.Errorf("linking blob %q in %q: repository, digest and a size >= 0 are required", d, repo)
	}
	err := s.write(ctx, func(tx *wtx) error {
		if err := checkTombstone(ctx, tx, d); err != nil {
			return err
		}
		at := s.now()
		id, err := ensureRepo(ctx, tx, repo, at)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, linkBlobSQL, id, d.String(), size, nanos(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("linking blob %s in %s: %w", d, repo, err)
	}
	return nil
}

// StatBlob returns the size of d in repo, or ErrNotFound.
func (s *Store) StatBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	var size int64
	err := s.r.QueryRowContext(ctx, `SELECT b.size FROM repositories r JOIN repo_blobs b ON b.repo_id = r.id
		WHERE r.name = ? AND b.digest = ?`, repo, d.String()).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		err = metadata.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("looking up blob %s in %s: %w", d, repo, err)
	}
	return size, nil
}

// UnlinkBlob removes d from repo and announces it, or returns ErrNotFound.
// Manifests that reference d keep their reference rows: deciding whether
// the unlink was safe is the garbage collector's job.
func (s *Store) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	err := s.write(ctx, func(tx *wtx) error {
		var size int64
		err := tx.QueryRowContext(ctx, `DELETE FROM repo_blobs
			WHERE repo_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?
			RETURNING size`, repo, d.String()).Scan(&size)
		if errors.Is(err, sql.ErrNoRows) {
			return metadata.ErrNotFound
		}
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventBlobDeleted, Repo: repo, Digest: d,
			Size: size, Actor: metadata.ActorFrom(ctx), At: s.now()})
	})
	if err != nil {
		return fmt.Errorf("unlinking blob %s from %s: %w", d, repo, err)
	}
	return nil
}

const findBlobSQL = `SELECT size FROM repo_blobs WHERE digest = ? LIMIT 1`

// FindBlob returns the size of d if any repository holds it, or ErrNotFound.
func (s *Store) FindBlob(ctx context.Context, d digest.Digest) (int64, error) {
	var size int64
	err := s.r.QueryRowContext(ctx, findBlobSQL, d.String()).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		err = metadata.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("finding blob %s: %w", d, err)
	}
	return size, nil
}
