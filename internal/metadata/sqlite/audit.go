package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

var _ metadata.AuditLog = (*Store)(nil)

// The audit table is drawn in cursors.go (relaySchema).

// RecordAudit appends r, ignoring a repeated EventID.
func (s *Store) RecordAudit(ctx context.Context, r metadata.AuditRecord) (int64, error) {
	at := r.At
	if at.IsZero() {
		at = s.now()
	}
	var id int64
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO audit
	(at, actor, client_ip, user_agent, action, repo, reference, result, detail, event_id)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			nanos(at), r.Actor, r.ClientIP, r.UserAgent, r.Action, r.Repo, r.Reference, r.Result, string(r.Detail), r.EventID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("recording audit %s: %w", r.Action, err)
	}
	return id, nil
}

// RecordAudits appends rs in one transaction; their EventIDs are ignored.
func (s *Store) RecordAudits(ctx context.Context, rs []metadata.AuditRecord) ([]int64, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	now := s.now()
	ids := make([]int64, len(rs))
	err := s.write(ctx, func(tx *wtx) error {
		for i, r := range rs {
			at := r.At
			if at.IsZero() {
				at = now
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO audit
	(at, actor, client_ip, user_agent, action, repo, reference, result, detail, event_id)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
				nanos(at), r.Actor, r.ClientIP, r.UserAgent, r.Action, r.Repo, r.Reference, r.Result, string(r.Detail))
			if err != nil {
				return err
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recording %d audit records: %w", len(rs), err)
	}
	return ids, nil
}

// AuditRecords returns the records matching q, newest first.
func (s *Store) AuditRecords(ctx context.Context, q metadata.AuditQuery) ([]metadata.AuditRecord, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if !q.Since.IsZero() {
		add("at >= ?", nanos(q.Since))
	}
	if q.Repo != "" {
		add("repo = ?", q.Repo)
	}
	if q.Actor != "" {
		add("actor = ?", q.Actor)
	}
	if q.Action != "" {
		add("action = ?", q.Action)
	}
	if q.Last > 0 {
		add("id < ?", q.Last)
	}
	sqlq := `SELECT id, at, actor, client_ip, user_agent, action, repo, reference, result, detail, event_id FROM audit`
	if len(where) > 0 {
		// Only fixed conditions are joined; every value is a parameter.
		sqlq += " WHERE " + strings.Join(where, " AND ")
	}
	sqlq += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit(metadata.Page{N: q.N}))
	rows, err := s.r.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("reading audit log: %w", err)
	}
	defer rows.Close()
	out := []metadata.AuditRecord{}
	for rows.Next() {
		var (
			r      metadata.AuditRecord
			at     int64
			detail string
		)
		if err := rows.Scan(&r.ID, &at, &r.Actor, &r.ClientIP, &r.UserAgent, &r.Action, &r.Repo, &r.Reference, &r.Result, &detail, &r.EventID); err != nil {
			return nil, fmt.Errorf("reading audit log: %w", err)
		}
		r.At = fromNanos(at)
		if detail != "" {
			r.Detail = []byte(detail)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading audit log: %w", err)
	}
	return out, nil
}

// PruneAudit deletes records older than before.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE at < ?`, nanos(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pruning audit log: %w", err)
	}
	return int(n), nil
}
