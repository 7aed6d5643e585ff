package metadata

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Event types of scan gates (docs/scanning.md#gates): changes to the
// stored policies and exceptions, and the pulls a gate decided on. A
// decision's Detail is the gate's reasoning (package scan/gate).
const (
	EventGateSet              = "gate.set"
	EventGateDeleted          = "gate.deleted"
	EventGateExceptionAdded   = "gate.exception_added"
	EventGateExceptionDeleted = "gate.exception_deleted"
	// EventGateQuarantined: a pull refused because the image's scan has
	// not finished.
	EventGateQuarantined = "gate.quarantined"
	// EventGateDenied: a pull refused by severity, or an unscanned or
	// failed image refused by a fail-closed gate.
	EventGateDenied = "gate.denied"
	// EventGateExcepted: a pull allowed only because an exception covers
	// the findings that would have refused it.
	EventGateExcepted = "gate.excepted"
)

// GatePolicy is the gate of the repositories matching Pattern. The fields
// are interpreted by package scan/gate; metadata only stores them.
type GatePolicy struct {
	Pattern string `json:"pattern"`
	// Quarantine refuses pulls until the image's scan has finished.
	Quarantine bool `json:"quarantine"`
	// Severity refuses pulls of images with a finding at or above it;
	// "" blocks on no severity.
	Severity string `json:"severity,omitempty"`
	// Unscanned is "allow" (fail open) or "deny" (fail closed) for images
	// whose scan failed or could not run.
	Unscanned string `json:"unscanned"`
	// Unknown is the severity findings rated UNKNOWN count as; "" never
	// reaches a threshold.
	Unknown string    `json:"unknown,omitempty"`
	Updated time.Time `json:"updated"`
	Actor   string    `json:"actor,omitempty"`
}

// GateException lets the finding ID (or an alias of it) through the gates
// of the repositories matching Pattern until Expires (zero: no expiry).
type GateException struct {
	Pattern string    `json:"pattern"`
	ID      string    `json:"id"`
	Reason  string    `json:"reason"`
	Expires time.Time `json:"expires,omitzero"`
	Created time.Time `json:"created"`
	Actor   string    `json:"actor,omitempty"`
}

// ScanSummary is what a gate reads of a scan: its status and indexed
// findings, without the inventory or the findings' JSON.
type ScanSummary struct {
	Digest digest.Digest
	Status string
	Reason string
	// Children are an index's manifests, whose summaries follow its own.
	Children []digest.Digest
	Vulns    []ScanVuln
}

// Gates stores the gate policies and exceptions and reads scans for them.
type Gates interface {
	// PutGate creates or replaces the policy of p.Pattern, stamping
	// Updated and the actor, with an outbox event.
	PutGate(ctx context.Context, p GatePolicy) error
	// DeleteGate removes the policy of pattern, with an outbox event;
	// ErrNotFound if absent.
	DeleteGate(ctx context.Context, pattern string) error
	// ListGates returns every policy in pattern order.
	ListGates(ctx context.Context) ([]GatePolicy, error)
	// PutGateException creates or replaces the exception (e.Pattern,
	// e.ID), stamping Created and the actor, with an outbox event.
	PutGateException(ctx context.Context, e GateException) error
	// DeleteGateException removes an exception, with an outbox event;
	// ErrNotFound if absent.
	DeleteGateException(ctx context.Context, pattern, id string) error
	// ListGateExceptions returns every exception in pattern and id order,
	// expired ones included.
	ListGateExceptions(ctx context.Context) ([]GateException, error)
	// GateScans returns the summary of the scan of d followed by those of
	// its children, in one query; none if d was never scanned. A child
	// that was never scanned has no entry.
	GateScans(ctx context.Context, d digest.Digest) ([]ScanSummary, error)
	// RecordGateDecision writes a decision event to the outbox.
	RecordGateDecision(ctx context.Context, e Event) error
}
