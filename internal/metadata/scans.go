package metadata

import (
	"context"
	"encoding/json"
	"time"

	"github.com/opencontainers/go-digest"
)

// Scan statuses (docs/scanning.md). A scan moves pending → scanning →
// complete | partial | failed; skipped means it was not attempted (no
// vulnerability database, or not a container image).
const (
	ScanPending  = "pending"
	ScanScanning = "scanning"
	ScanComplete = "complete"
	ScanPartial  = "partial"
	ScanFailed   = "failed"
	ScanSkipped  = "skipped"
)

// EventScanNewCritical is written, with the rematch that caused it, for
// every image that gains a CRITICAL or HIGH finding when the vulnerability
// database changes. Detail is {"ids":[…],"dbVersion":"…"}.
const EventScanNewCritical = "scan.new_critical"

// EventScanCompleted is written with every finished scan (complete,
// partial, failed or skipped); Detail is the scanner's ScanCompleted.
const EventScanCompleted = "scan.completed"

// ScanRecord is the stored scan of one manifest digest. Scans are keyed by
// digest, not by repository: the same content pushed to two repositories
// is scanned once and shared. Inventory and Findings are JSON owned by the
// scanner (inventory.Inventory and []match.Finding): metadata does not
// depend on the scan packages.
type ScanRecord struct {
	Digest digest.Digest
	// Repo is the repository the scan read the manifest from.
	Repo      string
	MediaType string
	Status    string
	Reason    string
	DBVersion string
	Queued    time.Time
	Started   time.Time
	Finished  time.Time
	// Children are the manifests of an index, whose status is their aggregate.
	Children  []digest.Digest
	Inventory json.RawMessage
	Findings  json.RawMessage
	// Vulns index the findings for AffectedBy: one entry per finding id
	// and alias per package.
	Vulns []ScanVuln
}

// ScanVuln is one indexed finding of a scan.
type ScanVuln struct {
	ID       string `json:"id"`
	Package  string `json:"package"`
	Severity string `json:"severity"`
	// Finding is the id of the finding an alias belongs to; "" when ID
	// is the finding's own.
	Finding string `json:"finding,omitempty"`
}

// AffectedImage is a manifest whose stored scan has a finding.
type AffectedImage struct {
	Repo     string        `json:"repository"`
	Digest   digest.Digest `json:"digest"`
	Package  string        `json:"package"`
	Severity string        `json:"severity"`
	Tags     []string      `json:"tags"`
}

// Scans stores vulnerability scans and their inventories.
type Scans interface {
	// SaveScan replaces the scan of rec.Digest, and writes events in the
	// same transaction.
	SaveScan(ctx context.Context, rec *ScanRecord, events []Event) error
	// Scan returns the scan of d, or ErrNotFound.
	Scan(ctx context.Context, d digest.Digest) (*ScanRecord, error)
	// ListScans returns scans in digest order after p.Last (Vulns unset).
	ListScans(ctx context.Context, p Page) ([]ScanRecord, error)
	// AffectedBy lists the stored manifests, in every repository, whose scan
	// has a finding with id (or alias) id, in repository and digest order
	// after the position p.Last ("repo@digest").
	AffectedBy(ctx context.Context, id string, p Page) ([]AffectedImage, error)
}
