package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// Webhook subscriptions and their delivery queue, which is also the
// delivery log:
//
//	webhooks            one row per subscription; secret in clear (it
//	                    keys an HMAC the server must recompute), events
//	                    as a JSON array.
//	webhook_deliveries  one row per (webhook, event): pending until a
//	                    2xx answer (delivered) or the attempts run out
//	                    (failed); the last attempt's outcome is kept on
//	                    the row. event_id is NULL for pings and pulls,
//	                    so the unique index only dedupes outbox events.
const webhookSchema = `
CREATE TABLE webhooks (
	name          TEXT    PRIMARY KEY,
	url           TEXT    NOT NULL,
	secret        TEXT    NOT NULL,
	events        TEXT    NOT NULL,
	repo_regex    TEXT    NOT NULL DEFAULT '',
	tag_regex     TEXT    NOT NULL DEFAULT '',
	include_pulls BOOLEAN NOT NULL,
	enabled       BOOLEAN NOT NULL,
	created       BIGINT  NOT NULL,
	updated       BIGINT  NOT NULL,
	actor         TEXT    NOT NULL DEFAULT ''
);
CREATE TABLE webhook_deliveries (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	webhook     TEXT    NOT NULL,
	event_id    INTEGER,
	event_type  TEXT    NOT NULL,
	payload     BLOB    NOT NULL,
	state       TEXT    NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	created     BIGINT  NOT NULL,
	next_try    BIGINT  NOT NULL DEFAULT 0,
	status_code INTEGER NOT NULL DEFAULT 0,
	duration    BIGINT  NOT NULL DEFAULT 0,
	error       TEXT    NOT NULL DEFAULT '',
	response    TEXT    NOT NULL DEFAULT '',
	finished    BIGINT  NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX webhook_deliveries_event ON webhook_deliveries (webhook, event_id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook, state, next_try);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created);
`

var _ metadata.Webhooks = (*Store)(nil)

// webhookEvent is what a subscription change announces: never the secret.
type webhookEvent struct {
	URL          string   `json:"url,omitempty"`
	Events       []string `json:"events,omitempty"`
	RepoRegex    string   `json:"repositoryRegex,omitempty"`
	TagRegex     string   `json:"tagRegex,omitempty"`
	IncludePulls bool     `json:"includePulls,omitempty"`
	Enabled      bool     `json:"enabled,omitempty"`
}

// PutWebhook creates or replaces a subscription and announces it.
func (s *Store) PutWebhook(ctx context.Context, w metadata.Webhook, create bool) error {
	now := s.now()
	events, err := json.Marshal(nonNilStrings(w.Events))
	if err != nil {
		return fmt.Errorf("encoding webhook events: %w", err)
	}
	detail, _ := json.Marshal(webhookEvent{URL: w.URL, Events: w.Events, RepoRegex: w.RepoRegex,
		TagRegex: w.TagRegex, IncludePulls: w.IncludePulls, Enabled: w.Enabled}) // plain fields
	typ := metadata.EventWebhookUpdated
	err = s.write(ctx, func(tx *wtx) error {
		var exists bool
		switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM webhooks WHERE name = ?`, w.Name).Scan(&exists); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		}
		if create && exists {
			return metadata.ErrExists
		}
		if !create && !exists {
			return metadata.ErrNotFound
		}
		if create {
			typ = metadata.EventWebhookCreated
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhooks
				(name, url, secret, events, repo_regex, tag_regex, include_pulls, enabled, created, updated, actor)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				w.Name, w.URL, w.Secret, string(events), w.RepoRegex, w.TagRegex, w.IncludePulls, w.Enabled,
				nanos(now), nanos(now), metadata.ActorFrom(ctx)); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET url = ?, secret = ?, events = ?,
				repo_regex = ?, tag_regex = ?, include_pulls = ?, enabled = ?, updated = ?, actor = ? WHERE name = ?`,
			w.URL, w.Secret, string(events), w.RepoRegex, w.TagRegex, w.IncludePulls, w.Enabled,
			nanos(now), metadata.ActorFrom(ctx), w.Name); err != nil {
			return err
		}
		return insertEvent(ctx, tx, metadata.Event{Type: typ, Tag: w.Name, At: now, Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("storing webhook %q: %w", w.Name, err)
	}
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const webhookColumns = `name, url, secret, events, repo_regex, tag_regex, include_pulls, enabled, created, updated, actor`

func scanWebhook(row interface{ Scan(...any) error }) (metadata.Webhook, error) {
	var (
		w                metadata.Webhook
		events           string
		created, updated int64
	)
	if err := row.Scan(&w.Name, &w.URL, &w.Secret, &events, &w.RepoRegex, &w.TagRegex, &w.IncludePulls,
		&w.Enabled, &created, &updated, &w.Actor); err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return w, fmt.Errorf("decoding events of webhook %q: %w", w.Name, err)
	}
	w.Created, w.Updated = fromNanos(created), fromNanos(updated)
	return w, nil
}

// Webhook returns one subscription, or ErrNotFound.
func (s *Store) Webhook(ctx context.Context, name string) (*metadata.Webhook, error) {
	w, err := scanWebhook(s.r.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("webhook %q: %w", name, metadata.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading webhook %q: %w", name, err)
	}
	return &w, nil
}

// ListWebhooks returns every subscription in name order.
func (s *Store) ListWebhooks(ctx context.Context) ([]metadata.Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing webhooks: %w", err)
	}
	defer rows.Close()
	out := []metadata.Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("listing webhooks: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing webhooks: %w", err)
	}
	return out, nil
}

// DeleteWebhook removes a subscription with its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = metadata.ErrNotFound
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE webhook = ?`, name); err != nil {
			return err
		}
		return insertEvent(ctx, tx, metadata.Event{Type: metadata.EventWebhookDeleted, Tag: name, At: s.now()})
	})
	if err != nil {
		return fmt.Errorf("deleting webhook %q: %w", name, err)
	}
	return nil
}

// eventID is NULL for deliveries of no outbox event.
func eventID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// EnqueueDeliveries stores pending deliveries, once per (webhook, event).
func (s *Store) EnqueueDeliveries(ctx context.Context, ds []metadata.WebhookDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	now := s.now()
	err := s.write(ctx, func(tx *wtx) error {
		for _, d := range ds {
			created := d.Created
			if created.IsZero() {
				created = now
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries
				(webhook, event_id, event_type, payload, state, created, next_try) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT DO NOTHING`,
				d.Webhook, eventID(d.EventID), d.EventType, d.Payload, metadata.DeliveryPending,
				nanos(created), nanos(d.NextTry)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("enqueueing webhook deliveries: %w", err)
	}
	return nil
}

const deliveryColumns = `id, webhook, COALESCE(event_id, 0), event_type, payload, state, attempts, created, next_try,
	status_code, duration, error, response, finished`

func scanDelivery(row interface{ Scan(...any) error }) (metadata.WebhookDelivery, error) {
	var (
		d                           metadata.WebhookDelivery
		created, next, dur, finishd int64
	)
	err := row.Scan(&d.ID, &d.Webhook, &d.EventID, &d.EventType, &d.Payload, &d.State, &d.Attempts, &created, &next,
		&d.StatusCode, &dur, &d.Error, &d.Response, &finishd)
	d.Created, d.NextTry, d.Duration, d.Finished = fromNanos(created), fromNanos(next), time.Duration(dur), fromNanos(finishd)
	if d.State != metadata.DeliveryPending {
		d.NextTry = time.Time{}
	}
	return d, err
}

func (s *Store) queryDeliveries(ctx context.Context, what, q string, args ...any) ([]metadata.WebhookDelivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries `+q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []metadata.WebhookDelivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// DueDeliveries returns pending deliveries of webhook due at now.
func (s *Store) DueDeliveries(ctx context.Context, webhook string, now time.Time, n int) ([]metadata.WebhookDelivery, error) {
	return s.queryDeliveries(ctx, "reading due webhook deliveries",
		`WHERE webhook = ? AND state = ? AND next_try <= ? ORDER BY next_try, id LIMIT ?`,
		webhook, metadata.DeliveryPending, nanos(now), n)
}

// ListDeliveries returns the newest n deliveries of webhook.
func (s *Store) ListDeliveries(ctx context.Context, webhook string, n int) ([]metadata.WebhookDelivery, error) {
	if n <= 0 {
		n = 100
	}
	return s.queryDeliveries(ctx, "listing webhook deliveries", `WHERE webhook = ? ORDER BY id DESC LIMIT ?`, webhook, n)
}

// FinishAttempt records the outcome of one attempt.
func (s *Store) FinishAttempt(ctx context.Context, id int64, a metadata.WebhookAttempt) error {
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, state = ?, next_try = ?,
			status_code = ?, duration = ?, error = ?, response = ?, finished = ? WHERE id = ?`,
			a.State, nanos(a.NextTry), a.StatusCode, int64(a.Duration), a.Error, a.Response, nanos(a.At), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = metadata.ErrNotFound // the webhook was deleted meanwhile
			}
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording webhook delivery %d: %w", id, err)
	}
	return nil
}

// RecordDelivery stores an already attempted delivery.
func (s *Store) RecordDelivery(ctx context.Context, d metadata.WebhookDelivery) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx *wtx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO webhook_deliveries
			(webhook, event_id, event_type, payload, state, attempts, created, status_code, duration, error, response, finished)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			d.Webhook, eventID(d.EventID), d.EventType, d.Payload, d.State, d.Attempts, nanos(d.Created),
			d.StatusCode, int64(d.Duration), d.Error, d.Response, nanos(d.Finished)).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("recording webhook delivery: %w", err)
	}
	return id, nil
}

// PruneDeliveries deletes finished deliveries created before before.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE created < ? AND state <> ?`,
			nanos(before), metadata.DeliveryPending)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pruning webhook deliveries: %w", err)
	}
	return int(n), nil
}
