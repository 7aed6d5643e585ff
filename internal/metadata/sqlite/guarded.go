package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

var _ metadata.GuardedDeleter = (*Store)(nil)

// tagDigestSQL re-reads a tag in the deleting transaction; it runs once
// per tag of a retention apply, so it is one of the prepared writes.
const tagDigestSQL = `SELECT t.digest FROM repositories r JOIN tags t ON t.repo_id = r.id
WHERE r.name = ? AND t.name = ?`

// DeleteTagsIf removes tags of one repository in one transaction that
// also re-reads each tag's digest, the locks and the rules: SetLock and a
// tag push are write transactions too, so they either commit before this
// one (and are seen) or after it (and find the tag gone).
func (s *Store) DeleteTagsIf(ctx context.Context, repo string, tags []metadata.TagDeletion, trash bool, check metadata.DeleteCheck) ([]error, error) {
	now := s.now()
	errs := make([]error, len(tags))
	err := s.write(ctx, func(tx *wtx) error {
		allow, err := txCheck(ctx, tx, repo, check)
		if err != nil {
			return err
		}
		for i, t := range tags {
			var cur string
			err := tx.QueryRowContext(ctx, tagDigestSQL, repo, t.Name).Scan(&cur)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				errs[i] = fmt.Errorf("tag %s:%s: %w", repo, t.Name, metadata.ErrNotFound)
				continue
			case err != nil:
				return fmt.Errorf("reading tag %s: %w", t.Name, err)
			case t.Digest != "" && cur != t.Digest.String():
				errs[i] = fmt.Errorf("tag %s:%s now points at %s: %w", repo, t.Name, cur, metadata.ErrConflict)
				continue
			}
			if err := allow(t.Name, ""); err != nil {
				errs[i] = err
				continue
			}
			if trash {
				err = trashTagTx(ctx, tx, repo, t.Name, now)
			} else {
				err = deleteTagTx(ctx, tx, repo, t.Name, now)
			}
			if err != nil {
				return fmt.Errorf("tag %s: %w", t.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deleting %d tags of %s: %w", len(tags), repo, err)
	}
	return errs, nil
}

// DeleteManifestIf removes an untagged manifest with the tag, lock and
// rule checks in the deleting transaction.
func (s *Store) DeleteManifestIf(ctx context.Context, repo string, d digest.Digest, trash bool, check metadata.DeleteCheck) error {
	now := s.now()
	err := s.write(ctx, func(tx *wtx) error {
		allow, err := txCheck(ctx, tx, repo, check)
		if err != nil {
			return err
		}
		before := func(tags []string) error {
			if len(tags) > 0 {
				return fmt.Errorf("tagged %s: %w", strings.Join(tags, ", "), metadata.ErrConflict)
			}
			return allow("", d)
		}
		if trash {
			_, err = trashManifestTx(ctx, tx, repo, d, before, now)
		} else {
			_, err = deleteManifestTx(ctx, tx, repo, d, before, now)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting manifest %s in %s: %w", d, repo, err)
	}
	return nil
}

// txCheck reads the repository's locks and every rule inside tx and hands
// them to check.
func txCheck(ctx context.Context, tx *wtx, repo string, check metadata.DeleteCheck) (func(string, digest.Digest) error, error) {
	if check == nil {
		return func(string, digest.Digest) error { return nil }, nil
	}
	locks, err := scanLocks(ctx, tx, repo)
	if err != nil {
		return nil, err
	}
	rules, err := scanRules(ctx, tx)
	if err != nil {
		return nil, err
	}
	return check(locks, rules), nil
}

func scanLocks(ctx context.Context, q querier, repo string) ([]metadata.Lock, error) {
	rows, err := q.QueryContext(ctx, `SELECT repo, tag, digest, write_enabled, delete_enabled, read_enabled, updated, actor
		FROM locks WHERE (? = '' OR repo = ?) ORDER BY repo, tag, digest LIMIT ?`, repo, repo, maxLocks)
	if err != nil {
		return nil, fmt.Errorf("listing locks: %w", err)
	}
	defer rows.Close()
	out := []metadata.Lock{}
	for rows.Next() {
		var (
			l       metadata.Lock
			dgst    string
			updated int64
		)
		if err := rows.Scan(&l.Repo, &l.Tag, &dgst, &l.WriteEnabled, &l.DeleteEnabled, &l.ReadEnabled, &updated, &l.Actor); err != nil {
			return nil, fmt.Errorf("listing locks: %w", err)
		}
		l.Digest, l.Updated = digest.Digest(dgst), fromNanos(updated)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing locks: %w", err)
	}
	return out, nil
}

func scanRules(ctx context.Context, q querier) ([]metadata.ImmutableRule, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, repos, tags, created, actor FROM immutable_rules ORDER BY id LIMIT ?`, maxLocks)
	if err != nil {
		return nil, fmt.Errorf("listing immutability rules: %w", err)
	}
	defer rows.Close()
	out := []metadata.ImmutableRule{}
	for rows.Next() {
		var (
			r       metadata.ImmutableRule
			created int64
		)
		if err := rows.Scan(&r.ID, &r.Repos, &r.Tags, &created, &r.Actor); err != nil {
			return nil, fmt.Errorf("listing immutability rules: %w", err)
		}
		r.Created = fromNanos(created)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing immutability rules: %w", err)
	}
	return out, nil
}
