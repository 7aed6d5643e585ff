package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/berth-registry/berth/internal/metadata"
)

// maxEvents bounds one PendingEvents answer.
const maxEvents = 10000

// insertEvent appends e to the outbox inside the caller's transaction.
func insertEvent(ctx context.Context, tx *wtx, e metadata.Event) error {
	e.ID = 0
	e.At = e.At.UTC()
	// Every writer gets who and where from the context, so that no event
	// reaches the audit log anonymous because its writer forgot.
	if e.Actor == "" {
		e.Actor = metadata.ActorFrom(ctx)
	}
	if e.ClientIP == "" {
		e.ClientIP = metadata.ClientIPFrom(ctx)
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding %s event: %w", e.Type, err)
	}
	if _, err := tx.ExecContext(ctx, insertEventSQL,
		e.Type, string(payload), nanos(e.At)); err != nil {
		return fmt.Errorf("writing %s event: %w", e.Type, err)
	}
	return nil
}

var _ metadata.EventRecorder = (*Store)(nil)

// RecordEvent writes e to the outbox in a transaction of its own.
func (s *Store) RecordEvent(ctx context.Context, e metadata.Event) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if err := s.write(ctx, func(tx *wtx) error { return insertEvent(ctx, tx, e) }); err != nil {
		return fmt.Errorf("recording %s: %w", e.Type, err)
	}
	return nil
}

// PendingEvents returns up to n events with ID > after, oldest first
// (n <= 0 means a default page; at most 10,000).
func (s *Store) PendingEvents(ctx context.Context, after int64, n int) ([]metadata.Event, error) {
	n = min(limit(metadata.Page{N: n}), maxEvents)
	rows, err := s.r.QueryContext(ctx, `SELECT id, payload, created FROM outbox WHERE id > ? ORDER BY id LIMIT ?`, after, n)
	if err != nil {
		return nil, fmt.Errorf("reading outbox: %w", err)
	}
	defer rows.Close()
	out := []metadata.Event{}
	for rows.Next() {
		var (
			e       metadata.Event
			id, at  int64
			payload string
		)
		if err := rows.Scan(&id, &payload, &at); err != nil {
			return nil, fmt.Errorf("reading outbox: %w", err)
		}
		if err := json.Unmarshal([]byte(payload), &e); err != nil {
			return nil, fmt.Errorf("decoding outbox event %d: %w", id, err)
		}
		e.ID, e.At = id, fromNanos(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading outbox: %w", err)
	}
	return out, nil
}
