package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// Locks and immutability rules (schema 2) name repositories by name, not
// id, so that a lock can be set before the first push and outlives the
// repository's rows:
//
//	locks            (repo, tag, digest) → write/delete/read enabled
//	immutable_rules  id → repository and tag patterns

// SetLock creates or replaces a lock and announces it.
func (s *Store) SetLock(ctx context.Context, l metadata.Lock) error {
	if l.Repo == "" || (l.Tag != "" && l.Digest != "") {
		return errors.New("setting lock: a repository and at most one of tag or digest are required")
	}
	now := s.now()
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO locks (repo, tag, digest, write_enabled, delete_enabled, read_enabled, updated, actor)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (repo, tag, digest) DO UPDATE SET write_enabled = excluded.write_enabled,
				delete_enabled = excluded.delete_enabled, read_enabled = excluded.read_enabled,
				updated = excluded.updated, actor = excluded.actor`,
			l.Repo, l.Tag, l.Digest.String(), l.WriteEnabled, l.DeleteEnabled, l.ReadEnabled, nanos(now), metadata.ActorFrom(ctx)); err != nil {
			return err
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventLockSet, Repo: l.Repo, Tag: l.Tag, Digest: l.Digest,
			Actor: metadata.ActorFrom(ctx), At: now})
	})
	s.locks.invalidate() // even on error: whether it committed is not known
	if err != nil {
		return fmt.Errorf("setting lock on %s: %w", l.Repo, err)
	}
	return nil
}

// ClearLock removes a lock and announces it.
func (s *Store) ClearLock(ctx context.Context, repo, tag string, d digest.Digest) error {
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE repo = ? AND tag = ? AND digest = ?`, repo, tag, d.String())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return metadata.ErrNotFound
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventLockCleared, Repo: repo, Tag: tag, Digest: d,
			Actor: metadata.ActorFrom(ctx), At: s.now()})
	})
	s.locks.invalidate()
	if err != nil {
		return fmt.Errorf("clearing lock on %s: %w", repo, err)
	}
	return nil
}

// maxLocks bounds one ListLocks answer; locks are set by hand.
const maxLocks = 100000

// ListLocks returns the locks of repo, or of every repository. One
// repository's are served from memory until a lock changes.
func (s *Store) ListLocks(ctx context.Context, repo string) ([]metadata.Lock, error) {
	if repo == "" {
		return scanLocks(ctx, s.r, repo)
	}
	return s.locks.listLocks(ctx, repo, func(ctx context.Context, repo string) ([]metadata.Lock, error) {
		return scanLocks(ctx, s.r, repo)
	})
}

// ManifestTags returns the tags of a manifest in bytewise order.
func (s *Store) ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	tags, err := queryStrings(ctx, s.r, `SELECT t.name FROM repositories r JOIN tags t ON t.repo_id = r.id
		WHERE r.name = ? AND t.digest = ?`, repo, d.String())
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s@%s: %w", repo, d, err)
	}
	slices.Sort(tags)
	return tags, nil
}

// AddImmutableRule stores a rule and announces it.
func (s *Store) AddImmutableRule(ctx context.Context, r metadata.ImmutableRule) (metadata.ImmutableRule, error) {
	if r.Repos == "" || r.Tags == "" {
		return r, errors.New("adding immutability rule: repository and tag patterns are required")
	}
	r.Created, r.Actor = s.now(), metadata.ActorFrom(ctx)
	err := s.write(ctx, func(tx *wtx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO immutable_rules (repos, tags, created, actor) VALUES (?, ?, ?, ?) RETURNING id`,
			r.Repos, r.Tags, nanos(r.Created), r.Actor).Scan(&r.ID); err != nil {
			return err
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventRuleAdded, Repo: r.Repos, Tag: r.Tags, Actor: r.Actor, At: r.Created})
	})
	if err != nil {
		return r, fmt.Errorf("adding immutability rule: %w", err)
	}
	return r, nil
}

// ListImmutableRules returns every rule in ID order.
func (s *Store) ListImmutableRules(ctx context.Context) ([]metadata.ImmutableRule, error) {
	return scanRules(ctx, s.r)
}

// DeleteImmutableRule removes a rule and announces it.
func (s *Store) DeleteImmutableRule(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *wtx) error {
		var repos, tags string
		err := tx.QueryRowContext(ctx, `DELETE FROM immutable_rules WHERE id = ? RETURNING repos, tags`, id).Scan(&repos, &tags)
		if errors.Is(err, sql.ErrNoRows) {
			return metadata.ErrNotFound
		}
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventRuleDeleted, Repo: repos, Tag: tags,
			Actor: metadata.ActorFrom(ctx), At: s.now()})
	})
	if err != nil {
		return fmt.Errorf("deleting immutability rule %d: %w", id, err)
	}
	return nil
}
