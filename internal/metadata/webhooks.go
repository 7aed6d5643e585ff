package metadata

import (
	"context"
	"time"
)

// Outbox events of webhook subscription changes (the audit log records
// them; the secret is never part of an event).
const (
	EventWebhookCreated = "webhook.created"
	EventWebhookUpdated = "webhook.updated"
	EventWebhookDeleted = "webhook.deleted"
)

// Webhook is one subscription (package webhook, docs/webhooks.md).
type Webhook struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Secret keys the HMAC of every delivery. It is stored in clear: the
	// server must recompute signatures, so it cannot keep only a hash.
	Secret string `json:"-"`
	// Events are event type patterns; empty means every type.
	Events []string `json:"events"`
	// RepoRegex and TagRegex filter repository events (anchored; empty
	// matches all).
	RepoRegex    string    `json:"repositoryRegex,omitempty"`
	TagRegex     string    `json:"tagRegex,omitempty"`
	IncludePulls bool      `json:"includePulls"`
	Enabled      bool      `json:"enabled"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
	Actor        string    `json:"actor,omitempty"`
}

// Webhook delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // given up
)

// WebhookDelivery is one event to send to one webhook, with the outcome
// of its latest attempt.
type WebhookDelivery struct {
	ID      int64  `json:"id"`
	Webhook string `json:"webhook"`
	// EventID is the outbox event delivered; 0 for pings and pulls.
	EventID   int64     `json:"eventID,omitempty"`
	EventType string    `json:"eventType"`
	Payload   []byte    `json:"-"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	Created   time.Time `json:"created"`
	NextTry   time.Time `json:"nextAttempt,omitzero"`
	// The latest attempt.
	StatusCode int           `json:"statusCode,omitempty"`
	Duration   time.Duration `json:"durationNanos,omitempty"`
	Error      string        `json:"error,omitempty"`
	Response   string        `json:"response,omitempty"`
	Finished   time.Time     `json:"lastAttempt,omitzero"`
}

// WebhookAttempt is the outcome of one try, recorded by FinishAttempt.
type WebhookAttempt struct {
	At         time.Time
	StatusCode int
	Duration   time.Duration
	Error      string
	Response   string // truncated by the caller
	// State is the delivery's state after the attempt; NextTry is when a
	// pending delivery is tried again.
	State   string
	NextTry time.Time
}

// Webhooks stores subscriptions and their delivery log.
type Webhooks interface {
	// PutWebhook creates (create true; ErrExists if taken) or replaces
	// (ErrNotFound if absent) a subscription, with an outbox event.
	PutWebhook(ctx context.Context, w Webhook, create bool) error
	// Webhook returns one subscription, or ErrNotFound.
	Webhook(ctx context.Context, name string) (*Webhook, error)
	// ListWebhooks returns every subscription in name order.
	ListWebhooks(ctx context.Context) ([]Webhook, error)
	// DeleteWebhook removes a subscription and its deliveries, with an
	// outbox event, or returns ErrNotFound.
	DeleteWebhook(ctx context.Context, name string) error
	WebhookDeliveries
}

// WebhookDeliveries is the delivery queue and log.
type WebhookDeliveries interface {
	// EnqueueDeliveries stores pending deliveries; one whose (Webhook,
	// EventID) was enqueued before is ignored, so that a redelivered
	// outbox event is sent once.
	EnqueueDeliveries(ctx context.Context, ds []WebhookDelivery) error
	// DueDeliveries returns up to n pending deliveries of webhook whose
	// next attempt is at or before now, oldest first.
	DueDeliveries(ctx context.Context, webhook string, now time.Time, n int) ([]WebhookDelivery, error)
	// FinishAttempt records an attempt of delivery id.
	FinishAttempt(ctx context.Context, id int64, a WebhookAttempt) error
	// RecordDelivery stores a delivery already attempted once (a ping)
	// and returns its ID.
	RecordDelivery(ctx context.Context, d WebhookDelivery) (int64, error)
	// ListDeliveries returns up to n deliveries of webhook, newest first.
	ListDeliveries(ctx context.Context, webhook string, n int) ([]WebhookDelivery, error)
	// PruneDeliveries deletes finished deliveries created before before
	// and returns how many.
	PruneDeliveries(ctx context.Context, before time.Time) (int, error)
}
