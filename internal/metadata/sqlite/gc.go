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

var (
	_ metadata.Collection = (*Store)(nil)
	_ metadata.GCHistory  = (*Store)(nil)
	_ metadata.BlobUsage  = (*Store)(nil)
)

// Garbage collection (see the gc migration):
//
//	gc_tombstones  digest PK │ marked_at — blobs condemned by a run and not
//	               yet deleted; LinkBlob refuses them in its transaction
//	gc_runs        id AUTOINCREMENT │ started │ finished │ dry_run │ grace
//	               │ scanned │ blobs │ bytes │ uploads │ error
//
// Liveness is decided by liveBlobSQL alone, so that whatever else keeps a
// blob (a trashed manifest keeps its manifest_blobs rows) is honoured by
// both the mark and the re-check in CondemnBlobs.

// lockedLinksSQL lists the links of repositories locked against deletion
// (delete- or write-enabled false on the repository itself): the
// collector does not unlink what a DELETE of the blob would be refused.
const lockedLinksSQL = `SELECT rb.digest FROM locks l
	JOIN repositories r ON r.name = l.repo
	JOIN repo_blobs rb ON rb.repo_id = r.id
	WHERE l.tag = '' AND l.digest = '' AND (l.delete_enabled = 0 OR l.write_enabled = 0)`

// liveBlobsSQL lists every live digest at a cutoff (nanoseconds).
const liveBlobsSQL = `SELECT blob FROM manifest_blobs
UNION SELECT digest FROM repo_blobs WHERE linked_at >= ?
UNION ` + lockedLinksSQL

// liveBlobSQL re-checks one digest: bound as (digest, digest, cutoff,
// digest).
const liveBlobSQL = `SELECT EXISTS (SELECT 1 FROM manifest_blobs WHERE blob = ?)
	OR EXISTS (SELECT 1 FROM repo_blobs WHERE digest = ? AND linked_at >= ?)
	OR EXISTS (` + lockedLinksSQL + ` AND rb.digest = ?)`

// tombstonedSQL is LinkBlob's check.
const tombstonedSQL = `SELECT 1 FROM gc_tombstones WHERE digest = ?`

// LiveBlobs calls fn for every digest referenced by a manifest or linked
// at or after since.
func (s *Store) LiveBlobs(ctx context.Context, since time.Time, fn func(digest.Digest) error) error {
	rows, err := s.r.QueryContext(ctx, liveBlobsSQL, nanos(since))
	if err != nil {
		return fmt.Errorf("listing live blobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return fmt.Errorf("listing live blobs: %w", err)
		}
		if err := fn(digest.Digest(d)); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing live blobs: %w", err)
	}
	return nil
}

// CondemnBlobs re-checks ds in one write transaction, so that no link or
// manifest can slip in between the check and the tombstone.
func (s *Store) CondemnBlobs(ctx context.Context, ds []digest.Digest, since time.Time) ([]digest.Digest, error) {
	var out []digest.Digest
	err := s.write(ctx, func(tx *wtx) error {
		out = out[:0]
		now := nanos(s.now())
		for _, d := range ds {
			var live bool
			if err := tx.QueryRowContext(ctx, liveBlobSQL, d.String(), d.String(), nanos(since), d.String()).Scan(&live); err != nil {
				return fmt.Errorf("checking blob %s: %w", d, err)
			}
			if live {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO gc_tombstones (digest, marked_at) VALUES (?, ?)
				ON CONFLICT (digest) DO NOTHING`, d.String(), now); err != nil {
				return fmt.Errorf("condemning blob %s: %w", d, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM repo_blobs WHERE digest = ?`, d.String()); err != nil {
				return fmt.Errorf("unlinking blob %s: %w", d, err)
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("condemning blobs: %w", err)
	}
	return out, nil
}

// Condemned lists tombstoned digests.
func (s *Store) Condemned(ctx context.Context) ([]digest.Digest, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT digest FROM gc_tombstones ORDER BY digest`)
	if err != nil {
		return nil, fmt.Errorf("listing condemned blobs: %w", err)
	}
	defer rows.Close()
	out := []digest.Digest{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("listing condemned blobs: %w", err)
		}
		out = append(out, digest.Digest(d))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing condemned blobs: %w", err)
	}
	return out, nil
}

// ReleaseBlobs removes tombstones.
func (s *Store) ReleaseBlobs(ctx context.Context, ds []digest.Digest) error {
	err := s.write(ctx, func(tx *wtx) error {
		for _, d := range ds {
			if _, err := tx.ExecContext(ctx, `DELETE FROM gc_tombstones WHERE digest = ?`, d.String()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("releasing blobs: %w", err)
	}
	return nil
}

// checkTombstone is LinkBlob's guard, run in its transaction.
func checkTombstone(ctx context.Context, tx *wtx, d digest.Digest) error {
	var one int
	err := tx.QueryRowContext(ctx, tombstonedSQL, d.String()).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	return metadata.ErrBlobCollecting
}

// RecordGCRun stores run with its outbox event.
func (s *Store) RecordGCRun(ctx context.Context, run metadata.GCRun) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx *wtx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO gc_runs
			(started, finished, dry_run, grace, scanned, blobs, bytes, uploads, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			nanos(run.Started), nanos(run.Finished), run.DryRun, int64(run.Grace), run.Scanned,
			run.Blobs, run.Bytes, run.Uploads, run.Error).Scan(&id)
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventGCCompleted, Size: run.Bytes,
			Actor: metadata.ActorFrom(ctx), At: s.now()})
	})
	if err != nil {
		return 0, fmt.Errorf("recording gc run: %w", err)
	}
	return id, nil
}

// GCRuns returns up to n runs, newest first.
func (s *Store) GCRuns(ctx context.Context, n int) ([]metadata.GCRun, error) {
	if n <= 0 {
		n = defaultPage
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, started, finished, dry_run, grace, scanned, blobs, bytes, uploads, error
		FROM gc_runs ORDER BY id DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("listing gc runs: %w", err)
	}
	defer rows.Close()
	out := []metadata.GCRun{}
	for rows.Next() {
		var (
			r                 metadata.GCRun
			started, finished int64
			grace             int64
		)
		if err := rows.Scan(&r.ID, &started, &finished, &r.DryRun, &grace, &r.Scanned, &r.Blobs, &r.Bytes, &r.Uploads, &r.Error); err != nil {
			return nil, fmt.Errorf("listing gc runs: %w", err)
		}
		r.Started, r.Finished, r.Grace = fromNanos(started), fromNanos(finished), time.Duration(grace)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing gc runs: %w", err)
	}
	return out, nil
}

// RepoBytes is the total size of the blobs repo links.
func (s *Store) RepoBytes(ctx context.Context, repo string) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(b.size), 0) FROM repo_blobs b
		JOIN repositories r ON r.id = b.repo_id WHERE r.name = ?`, repo).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("summing blobs of %s: %w", repo, err)
	}
	return n, nil
}

// LinkedBytes is the total size of distinct linked blobs.
func (s *Store) LinkedBytes(ctx context.Context) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM
		(SELECT MAX(size) AS size FROM repo_blobs GROUP BY digest)`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("summing linked blobs: %w", err)
	}
	return n, nil
}

// RepoLinks calls fn for every link, in repository order.
func (s *Store) RepoLinks(ctx context.Context, fn func(repo string, d digest.Digest, size int64) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT r.name, b.digest, b.size FROM repo_blobs b
		JOIN repositories r ON r.id = b.repo_id ORDER BY r.name, b.digest`)
	if err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			repo, d string
			size    int64
		)
		if err := rows.Scan(&repo, &d, &size); err != nil {
			return fmt.Errorf("listing links: %w", err)
		}
		if err := fn(repo, digest.Digest(d), size); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	return nil
}

// gcSchema is the migration that adds the collector's tables.
const gcSchema = `
CREATE TABLE gc_tombstones (
	digest    TEXT   PRIMARY KEY,
	marked_at BIGINT NOT NULL
);

CREATE TABLE gc_runs (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	started  BIGINT  NOT NULL,
	finished BIGINT  NOT NULL,
	dry_run  BOOLEAN NOT NULL,
	grace    BIGINT  NOT NULL,
	scanned  INTEGER NOT NULL,
	blobs    INTEGER NOT NULL,
	bytes    BIGINT  NOT NULL,
	uploads  INTEGER NOT NULL,
	error    TEXT    NOT NULL DEFAULT ''
);
`

var _ metadata.CheckedLinker = (*Store)(nil)

// LinkBlobChecked is LinkBlob with check run inside the transaction, after
// the tombstone check: the collector deletes bytes between condemning and
// releasing a blob, so a check that the bytes exist, made here, cannot be
// overtaken by a deletion.
func (s *Store) LinkBlobChecked(ctx context.Context, repo string, d digest.Digest, size int64, check func(context.Context) error) error {
	if repo == "" || d == "" || size < 0 {
		return fmt.Errorf("linking blob %q in %q: repository, digest and a size >= 0 are required", d, repo)
	}
	err := s.write(ctx, func(tx *wtx) error {
		if err := checkTombstone(ctx, tx, d); err != nil {
			return err
		}
		if err := check(ctx); err != nil {
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
