package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

var _ metadata.Gates = (*Store)(nil)

// Scan gates (docs/scanning.md#gates):
//
//	gate_policies    pattern PK │ quarantine │ severity │ unscanned │ unknown
//	gate_exceptions  (pattern, vuln_id) PK │ reason │ expires │ created
//	scan_vulns       + finding: the id of the finding a row indexes (its
//	                 own id, or the finding an alias belongs to), so that
//	                 an exception for a CVE covers the GHSA that names it
//
// The tables are small and read whole: the gate caches them in memory.
const gateSchema = `
CREATE TABLE gate_policies (
	pattern    TEXT    PRIMARY KEY,
	quarantine BOOLEAN NOT NULL,
	severity   TEXT    NOT NULL DEFAULT '',
	unscanned  TEXT    NOT NULL DEFAULT '',
	unknown    TEXT    NOT NULL DEFAULT '',
	updated    BIGINT  NOT NULL,
	actor      TEXT    NOT NULL DEFAULT ''
);
CREATE TABLE gate_exceptions (
	pattern TEXT   NOT NULL,
	vuln_id TEXT   NOT NULL,
	reason  TEXT   NOT NULL DEFAULT '',
	expires BIGINT NOT NULL DEFAULT 0,
	created BIGINT NOT NULL,
	actor   TEXT   NOT NULL DEFAULT '',
	PRIMARY KEY (pattern, vuln_id)
);
ALTER TABLE scan_vulns ADD COLUMN finding TEXT NOT NULL DEFAULT '';
`

// PutGate creates or replaces a gate policy and announces it.
func (s *Store) PutGate(ctx context.Context, p metadata.GatePolicy) error {
	now := s.now()
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO gate_policies (pattern, quarantine, severity, unscanned, unknown, updated, actor)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (pattern) DO UPDATE SET quarantine = excluded.quarantine, severity = excluded.severity,
				unscanned = excluded.unscanned, unknown = excluded.unknown, updated = excluded.updated, actor = excluded.actor`,
			p.Pattern, p.Quarantine, p.Severity, p.Unscanned, p.Unknown, nanos(now), metadata.ActorFrom(ctx)); err != nil {
			return err
		}
		detail, err := json.Marshal(p)
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventGateSet, Repo: p.Pattern, At: now, Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("storing gate %q: %w", p.Pattern, err)
	}
	return nil
}

// DeleteGate removes a gate policy and announces it.
func (s *Store) DeleteGate(ctx context.Context, pattern string) error {
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM gate_policies WHERE pattern = ?`, pattern)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, metadata.ErrNotFound)
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventGateDeleted, Repo: pattern, At: s.now()})
	})
	if err != nil {
		return fmt.Errorf("deleting gate %q: %w", pattern, err)
	}
	return nil
}

// ListGates returns every gate policy in pattern order.
func (s *Store) ListGates(ctx context.Context) ([]metadata.GatePolicy, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT pattern, quarantine, severity, unscanned, unknown, updated, actor
		FROM gate_policies ORDER BY pattern`)
	if err != nil {
		return nil, fmt.Errorf("listing gates: %w", err)
	}
	defer rows.Close()
	out := []metadata.GatePolicy{}
	for rows.Next() {
		var (
			p       metadata.GatePolicy
			updated int64
		)
		if err := rows.Scan(&p.Pattern, &p.Quarantine, &p.Severity, &p.Unscanned, &p.Unknown, &updated, &p.Actor); err != nil {
			return nil, fmt.Errorf("listing gates: %w", err)
		}
		p.Updated = fromNanos(updated)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing gates: %w", err)
	}
	return out, nil
}

// PutGateException creates or replaces an exception and announces it.
func (s *Store) PutGateException(ctx context.Context, e metadata.GateException) error {
	e.Created, e.Actor = s.now(), metadata.ActorFrom(ctx)
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO gate_exceptions (pattern, vuln_id, reason, expires, created, actor)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (pattern, vuln_id) DO UPDATE SET reason = excluded.reason, expires = excluded.expires,
				created = excluded.created, actor = excluded.actor`,
			e.Pattern, e.ID, e.Reason, nanos(e.Expires), nanos(e.Created), e.Actor); err != nil {
			return err
		}
		detail, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventGateExceptionAdded, Repo: e.Pattern, Tag: e.ID,
			At: e.Created, Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("storing exception %s for %q: %w", e.ID, e.Pattern, err)
	}
	return nil
}

// DeleteGateException removes an exception and announces it.
func (s *Store) DeleteGateException(ctx context.Context, pattern, id string) error {
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM gate_exceptions WHERE pattern = ? AND vuln_id = ?`, pattern, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, metadata.ErrNotFound)
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventGateExceptionDeleted, Repo: pattern, Tag: id, At: s.now()})
	})
	if err != nil {
		return fmt.Errorf("deleting exception %s for %q: %w", id, pattern, err)
	}
	return nil
}

// ListGateExceptions returns every exception in pattern and id order.
func (s *Store) ListGateExceptions(ctx context.Context) ([]metadata.GateException, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT pattern, vuln_id, reason, expires, created, actor
		FROM gate_exceptions ORDER BY pattern, vuln_id`)
	if err != nil {
		return nil, fmt.Errorf("listing gate exceptions: %w", err)
	}
	defer rows.Close()
	out := []metadata.GateException{}
	for rows.Next() {
		var (
			e                metadata.GateException
			expires, created int64
		)
		if err := rows.Scan(&e.Pattern, &e.ID, &e.Reason, &expires, &created, &e.Actor); err != nil {
			return nil, fmt.Errorf("listing gate exceptions: %w", err)
		}
		e.Expires, e.Created = fromNanos(expires), fromNanos(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing gate exceptions: %w", err)
	}
	return out, nil
}

// GateScans reads the scan of d and of its children in one statement: the
// scans primary key finds d and, through json_each over its children
// column, each child; scan_vulns' primary key finds their findings.
func (s *Store) GateScans(ctx context.Context, d digest.Digest) ([]metadata.ScanSummary, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT s.digest, s.status, s.reason, s.children,
			COALESCE(v.vuln_id, ''), COALESCE(v.package, ''), COALESCE(v.severity, ''), COALESCE(v.finding, '')
		FROM scans s LEFT JOIN scan_vulns v ON v.digest = s.digest
		WHERE s.digest = ?1 OR s.digest IN (SELECT value FROM json_each(
			(SELECT CASE WHEN children = '' THEN '[]' ELSE children END FROM scans WHERE digest = ?1)))
		ORDER BY s.digest <> ?1, s.digest`, d.String())
	if err != nil {
		return nil, fmt.Errorf("reading scan of %s: %w", d, err)
	}
	defer rows.Close()
	var out []metadata.ScanSummary
	for rows.Next() {
		var (
			sd, status, reason, children string
			v                            metadata.ScanVuln
		)
		if err := rows.Scan(&sd, &status, &reason, &children, &v.ID, &v.Package, &v.Severity, &v.Finding); err != nil {
			return nil, fmt.Errorf("reading scan of %s: %w", d, err)
		}
		if len(out) == 0 || out[len(out)-1].Digest.String() != sd {
			sum := metadata.ScanSummary{Digest: digest.Digest(sd), Status: status, Reason: reason}
			if children != "" {
				if err := json.Unmarshal([]byte(children), &sum.Children); err != nil {
					return nil, fmt.Errorf("decoding children of scan %s: %w", sd, err)
				}
			}
			out = append(out, sum)
		}
		if v.ID != "" {
			last := &out[len(out)-1]
			last.Vulns = append(last.Vulns, v)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading scan of %s: %w", d, err)
	}
	return out, nil
}

// RecordGateDecision writes a gate decision to the outbox.
func (s *Store) RecordGateDecision(ctx context.Context, e metadata.Event) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	err := s.write(ctx, func(tx *wtx) error { return insertEvent(ctx, tx, e) })
	if err != nil {
		return fmt.Errorf("recording %s: %w", e.Type, err)
	}
	return nil
}
