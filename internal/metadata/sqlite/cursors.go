package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/berth-registry/berth/internal/metadata"
)

var _ metadata.Cursors = (*Store)(nil)

// relaySchema adds the relay's subscriber cursors and the audit log:
//
//	relay_cursors  name PK │ event_id │ updated
//	audit          id PK │ at │ actor │ client_ip │ user_agent │ action │ repo │ reference │ result │ detail JSON │ event_id
//
// audit.event_id is the outbox event a record was made from (0 for direct
// records); it is unique so that redelivering an event records it once.
const relaySchema = `
CREATE TABLE relay_cursors (
	name     TEXT   PRIMARY KEY,
	event_id BIGINT NOT NULL,
	updated  BIGINT NOT NULL
);
CREATE TABLE audit (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	at         BIGINT  NOT NULL,
	actor      TEXT    NOT NULL DEFAULT '',
	client_ip  TEXT    NOT NULL DEFAULT '',
	user_agent TEXT    NOT NULL DEFAULT '',
	action     TEXT    NOT NULL,
	repo       TEXT    NOT NULL DEFAULT '',
	reference  TEXT    NOT NULL DEFAULT '',
	result     TEXT    NOT NULL DEFAULT '',
	detail     TEXT    NOT NULL DEFAULT '',
	event_id   BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX audit_by_time  ON audit (at);
CREATE INDEX audit_by_repo  ON audit (repo, id);
CREATE INDEX audit_by_actor ON audit (actor, id);
CREATE UNIQUE INDEX audit_by_event ON audit (event_id) WHERE event_id <> 0;
`

// LoadCursor returns the last event ID recorded for name, or 0.
func (s *Store) LoadCursor(ctx context.Context, name string) (int64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, `SELECT event_id FROM relay_cursors WHERE name = ?`, name).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("loading relay cursor %q: %w", name, err)
	}
	return id, nil
}

// SaveCursor records that name has handled every event up to id.
func (s *Store) SaveCursor(ctx context.Context, name string, id int64) error {
	return s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO relay_cursors (name, event_id, updated) VALUES (?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET event_id = excluded.event_id, updated = excluded.updated`,
			name, id, nanos(s.now())); err != nil {
			return fmt.Errorf("saving relay cursor %q: %w", name, err)
		}
		return nil
	})
}
