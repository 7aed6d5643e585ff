package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// Stored retention policies and their runs:
//
//	retention_policies  one row per policy; policy is the engine's JSON.
//	retention_runs      one row per run, newest last; deleted with the
//	                    policy.
const policySchema = `
CREATE TABLE retention_policies (
	name     TEXT    PRIMARY KEY,
	policy   TEXT    NOT NULL,
	schedule TEXT    NOT NULL DEFAULT '',
	enabled  BOOLEAN NOT NULL,
	updated  BIGINT  NOT NULL,
	actor    TEXT    NOT NULL DEFAULT ''
);
CREATE TABLE retention_runs (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	policy            TEXT    NOT NULL,
	started           BIGINT  NOT NULL,
	finished          BIGINT  NOT NULL,
	dry_run           BOOLEAN NOT NULL,
	tags_deleted      INTEGER NOT NULL,
	tags_kept         INTEGER NOT NULL,
	manifests_deleted INTEGER NOT NULL,
	manifests_kept    INTEGER NOT NULL,
	skipped           INTEGER NOT NULL,
	failed            INTEGER NOT NULL,
	bytes_freed       BIGINT  NOT NULL,
	error             TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX retention_runs_by_policy ON retention_runs (policy, id);
`

var (
	_ metadata.RetentionPolicies = (*Store)(nil)
	_ metadata.RetentionRuns     = (*Store)(nil)
	_ metadata.TagTimes          = (*Store)(nil)
)

// PutRetentionPolicy creates or replaces a policy and announces it.
func (s *Store) PutRetentionPolicy(ctx context.Context, p metadata.RetentionPolicy) error {
	now := s.now()
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO retention_policies (name, policy, schedule, enabled, updated, actor)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET policy = excluded.policy, schedule = excluded.schedule,
				enabled = excluded.enabled, updated = excluded.updated, actor = excluded.actor`,
			p.Name, string(p.Policy), p.Schedule, p.Enabled, nanos(now), metadata.ActorFrom(ctx)); err != nil {
			return err
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventPolicySet, Tag: p.Name,
			Actor: metadata.ActorFrom(ctx), At: now, Detail: p.Policy})
	})
	if err != nil {
		return fmt.Errorf("storing retention policy %q: %w", p.Name, err)
	}
	return nil
}

const policyColumns = `name, policy, schedule, enabled, updated, actor`

func scanPolicy(row interface{ Scan(...any) error }) (metadata.RetentionPolicy, error) {
	var (
		p       metadata.RetentionPolicy
		body    string
		updated int64
	)
	if err := row.Scan(&p.Name, &body, &p.Schedule, &p.Enabled, &updated, &p.Actor); err != nil {
		return p, err
	}
	p.Policy, p.Updated = json.RawMessage(body), fromNanos(updated)
	return p, nil
}

// RetentionPolicy returns one policy, or ErrNotFound.
func (s *Store) RetentionPolicy(ctx context.Context, name string) (*metadata.RetentionPolicy, error) {
	p, err := scanPolicy(s.r.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM retention_policies WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("retention policy %q: %w", name, metadata.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading retention policy %q: %w", name, err)
	}
	return &p, nil
}

// ListRetentionPolicies returns every policy in name order.
func (s *Store) ListRetentionPolicies(ctx context.Context) ([]metadata.RetentionPolicy, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+policyColumns+` FROM retention_policies ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing retention policies: %w", err)
	}
	defer rows.Close()
	out := []metadata.RetentionPolicy{}
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("listing retention policies: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing retention policies: %w", err)
	}
	return out, nil
}

// DeleteRetentionPolicy removes a policy with its runs and announces it.
func (s *Store) DeleteRetentionPolicy(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM retention_policies WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, metadata.ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM retention_runs WHERE policy = ?`, name); err != nil {
			return err
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventPolicyDeleted, Tag: name,
			Actor: metadata.ActorFrom(ctx), At: s.now()})
	})
	if err != nil {
		return fmt.Errorf("deleting retention policy %q: %w", name, err)
	}
	return nil
}

// RecordRetentionRun stores a run with its retention.run event.
func (s *Store) RecordRetentionRun(ctx context.Context, run metadata.RetentionRun) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx *wtx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO retention_runs
			(policy, started, finished, dry_run, tags_deleted, tags_kept, manifests_deleted, manifests_kept,
			 skipped, failed, bytes_freed, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			run.Policy, nanos(run.Started), nanos(run.Finished), run.DryRun, run.TagsDeleted, run.TagsKept,
			run.ManifestsDeleted, run.ManifestsKept, run.Skipped, run.Failed, run.BytesFreed, run.Error).Scan(&id)
		if err != nil {
			return err
		}
		run.ID = id
		detail, err := json.Marshal(run)
		if err != nil {
			return fmt.Errorf("encoding run summary: %w", err)
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventRetentionRun, Tag: run.Policy,
			Size: run.BytesFreed, Actor: metadata.ActorFrom(ctx), At: s.now(), Detail: detail})
	})
	if err != nil {
		return 0, fmt.Errorf("recording retention run of %q: %w", run.Policy, err)
	}
	return id, nil
}

// RetentionRuns returns up to n runs, newest first.
func (s *Store) RetentionRuns(ctx context.Context, policy string, n int) ([]metadata.RetentionRun, error) {
	if n <= 0 {
		n = defaultPage
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, policy, started, finished, dry_run, tags_deleted, tags_kept,
		manifests_deleted, manifests_kept, skipped, failed, bytes_freed, error
		FROM retention_runs WHERE (? = '' OR policy = ?) ORDER BY id DESC LIMIT ?`, policy, policy, n)
	if err != nil {
		return nil, fmt.Errorf("listing retention runs: %w", err)
	}
	defer rows.Close()
	out := []metadata.RetentionRun{}
	for rows.Next() {
		var (
			r                 metadata.RetentionRun
			started, finished int64
		)
		if err := rows.Scan(&r.ID, &r.Policy, &started, &finished, &r.DryRun, &r.TagsDeleted, &r.TagsKept,
			&r.ManifestsDeleted, &r.ManifestsKept, &r.Skipped, &r.Failed, &r.BytesFreed, &r.Error); err != nil {
			return nil, fmt.Errorf("listing retention runs: %w", err)
		}
		r.Started, r.Finished = fromNanos(started), fromNanos(finished)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing retention runs: %w", err)
	}
	return out, nil
}

const tagTimesSQL = `SELECT t.name, t.digest, m.media_type, t.first_pushed, t.updated, m.last_pulled_at
	FROM tags t JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
	WHERE t.repo_id = ?`

func scanTagTime(row interface{ Scan(...any) error }, repo string) (metadata.TagInfo, error) {
	var (
		ti                     metadata.TagInfo
		dgst                   string
		first, updated, pulled int64
	)
	if err := row.Scan(&ti.Name, &dgst, &ti.MediaType, &first, &updated, &pulled); err != nil {
		return ti, err
	}
	ti.Repo, ti.Digest = repo, digest.Digest(dgst)
	ti.FirstPushed, ti.Updated, ti.LastPulledAt = fromNanos(first), fromNanos(updated), fromNanos(pulled)
	return ti, nil
}

// ListTagTimes returns every tag of repo with its times, without sizes.
func (s *Store) ListTagTimes(ctx context.Context, repo string) ([]metadata.TagInfo, error) {
	id, err := repoID(ctx, s.r, repo)
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	rows, err := s.r.QueryContext(ctx, tagTimesSQL+` ORDER BY t.name`, id)
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	defer rows.Close()
	out := []metadata.TagInfo{}
	for rows.Next() {
		ti, err := scanTagTime(rows, repo)
		if err != nil {
			return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
		}
		out = append(out, ti)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	return out, nil
}

// TagTime returns one tag with its times, or ErrNotFound. One query: the
// engine re-checks every tag it deletes.
func (s *Store) TagTime(ctx context.Context, repo, tag string) (metadata.TagInfo, error) {
	ti, err := scanTagTime(s.r.QueryRowContext(ctx, `SELECT t.name, t.digest, m.media_type, t.first_pushed, t.updated, m.last_pulled_at
		FROM repositories r JOIN tags t ON t.repo_id = r.id JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
		WHERE r.name = ? AND t.name = ?`, repo, tag), repo)
	if errors.Is(err, sql.ErrNoRows) {
		return ti, fmt.Errorf("tag %s:%s: %w", repo, tag, metadata.ErrNotFound)
	}
	if err != nil {
		return ti, fmt.Errorf("reading tag %s:%s: %w", repo, tag, err)
	}
	return ti, nil
}

var _ metadata.TagBatchDeleter = (*Store)(nil)

// DeleteTags removes tags of one repository in one transaction.
func (s *Store) DeleteTags(ctx context.Context, repo string, tags []string, trash bool) ([]error, error) {
	now := s.now()
	errs := make([]error, len(tags))
	err := s.write(ctx, func(tx *wtx) error {
		for i, tag := range tags {
			var err error
			if trash {
				err = trashTagTx(ctx, tx, repo, tag, now)
			} else {
				err = deleteTagTx(ctx, tx, repo, tag, now)
			}
			switch {
			case errors.Is(err, metadata.ErrNotFound):
				errs[i] = fmt.Errorf("tag %s:%s: %w", repo, tag, err)
			case err != nil:
				return fmt.Errorf("tag %s: %w", tag, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deleting %d tags of %s: %w", len(tags), repo, err)
	}
	return errs, nil
}
