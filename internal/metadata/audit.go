package metadata

import (
	"context"
	"encoding/json"
	"time"
)

// AuditRecord is one entry of the audit log: who did what, from where, to
// what, and with which result. It never holds a secret.
type AuditRecord struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"time"`
	Actor     string    `json:"actor,omitempty"`
	ClientIP  string    `json:"clientIP,omitempty"`
	UserAgent string    `json:"userAgent,omitempty"`
	// Action is an outbox event type (manifest.pushed, …) or a request
	// action (login, request.denied).
	Action    string `json:"action"`
	Repo      string `json:"repository,omitempty"`
	Reference string `json:"reference,omitempty"` // a tag or a digest
	// Result is ok, failed, denied or error.
	Result string          `json:"result"`
	Detail json.RawMessage `json:"detail,omitempty"`
	// EventID is the outbox event the record was made from, 0 if none.
	EventID int64 `json:"eventID,omitempty"`
}

// Audit results.
const (
	AuditOK     = "ok"
	AuditFailed = "failed"
	AuditDenied = "denied"
	AuditError  = "error"
)

// AuditQuery selects audit records, newest first. Zero fields match all.
type AuditQuery struct {
	Since  time.Time
	Repo   string
	Actor  string
	Action string
	// Last pages: only records with an ID below it.
	Last int64
	// N bounds the answer (0: backend default).
	N int
}

// AuditLog stores the audit log.
type AuditLog interface {
	// RecordAudit appends r; a record whose EventID was recorded
	// before is ignored, so that redelivered events are logged once.
	// It returns the record's ID (0 if ignored).
	RecordAudit(ctx context.Context, r AuditRecord) (int64, error)
	// RecordAudits appends records made without an outbox event (their
	// EventID is ignored) in one transaction and returns their IDs, in
	// order. It is how batched pull records are written.
	RecordAudits(ctx context.Context, rs []AuditRecord) ([]int64, error)
	// AuditRecords returns the records matching q, newest first.
	AuditRecords(ctx context.Context, q AuditQuery) ([]AuditRecord, error)
	// PruneAudit deletes records older than before and returns how many.
	PruneAudit(ctx context.Context, before time.Time) (int, error)
}
