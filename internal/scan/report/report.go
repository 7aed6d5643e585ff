// Package report renders the result of scanning one image: a table for a
// CI log, Berth's JSON, SARIF 2.1.0 for code-scanning dashboards, and the
// inventory as a CycloneDX 1.5 or SPDX 2.3 JSON SBOM.
//
// Every format carries the inventory's status: a partial scan is never
// presented as a clean one.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// Format is an output format.
type Format string

// The formats Write renders.
const (
	Table     Format = "table"
	JSON      Format = "json"
	SARIF     Format = "sarif"
	CycloneDX Format = "cyclonedx"
	SPDX      Format = "spdx"
)

// Formats lists every format, in the order help text shows them.
var Formats = []Format{Table, JSON, SARIF, CycloneDX, SPDX}

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(s))
	if slices.Contains(Formats, f) {
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want one of table, json, sarif, cyclonedx, spdx)", s)
}

// Severities is the order severities are shown in, most severe first.
var Severities = []vulndb.Severity{
	vulndb.SeverityCritical, vulndb.SeverityHigh, vulndb.SeverityMedium, vulndb.SeverityLow, vulndb.SeverityUnknown,
}

// Filter says which findings the scan kept, so a report of zero findings
// can say what it was zero of.
type Filter struct {
	// Severities kept; empty means all.
	Severities    []vulndb.Severity `json:"severities,omitempty"`
	IgnoreUnfixed bool              `json:"ignoreUnfixed,omitempty"`
}

// Scan is one image's scan, findings already filtered.
type Scan struct {
	Image        string               `json:"image"`
	Digest       string               `json:"digest,omitempty"`
	ConfigDigest string               `json:"configDigest,omitempty"`
	Platform     string               `json:"platform,omitempty"`
	Inventory    *inventory.Inventory `json:"-"`
	DBVersion    string               `json:"dbVersion"`
	Findings     []match.Finding      `json:"findings"`
	// Notes are the matcher's (versions it could not compare).
	Notes  []string `json:"notes,omitempty"`
	Filter Filter   `json:"filter"`
	// Created and ToolVersion stamp the SBOMs; a fixed Created makes the
	// output reproducible.
	Created     time.Time `json:"created"`
	ToolVersion string    `json:"-"`
}

// Partial reports whether the inventory did not cover the whole image.
func (s *Scan) Partial() bool {
	return s.Inventory == nil || s.Inventory.Status != inventory.StatusComplete
}

// Counts returns the number of findings per severity.
func (s *Scan) Counts() map[vulndb.Severity]int {
	c := map[vulndb.Severity]int{}
	for _, f := range s.Findings {
		c[f.Severity]++
	}
	return c
}

// Write renders s in format f.
func Write(w io.Writer, f Format, s *Scan) error {
	switch f {
	case Table:
		return writeTable(w, s)
	case JSON:
		return writeJSON(w, jsonReport(s))
	case SARIF:
		return writeJSON(w, sarifReport(s))
	case CycloneDX:
		return writeJSON(w, cyclonedxBOM(s))
	case SPDX:
		return writeJSON(w, spdxDocument(s))
	}
	return fmt.Errorf("unknown format %q", f)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// berthJSON is the json format: the scan plus its inventory and a summary.
type berthJSON struct {
	*Scan
	OS       inventory.OS            `json:"os"`
	Status   inventory.Status        `json:"status"`
	Reasons  []string                `json:"reasons,omitempty"`
	Summary  map[vulndb.Severity]int `json:"summary"`
	Packages []inventory.Package     `json:"packages"`
}

func jsonReport(s *Scan) berthJSON {
	r := berthJSON{Scan: s, Summary: map[vulndb.Severity]int{}, Status: inventory.StatusPartial, Packages: []inventory.Package{}}
	for _, sev := range Severities {
		r.Summary[sev] = 0
	}
	for sev, n := range s.Counts() {
		r.Summary[sev] = n
	}
	if s.Inventory != nil {
		r.OS, r.Status, r.Reasons = s.Inventory.OS, s.Inventory.Status, s.Inventory.Reasons
		if s.Inventory.Packages != nil {
			r.Packages = s.Inventory.Packages
		}
	}
	if s.Findings == nil {
		s.Findings = []match.Finding{}
	}
	return r
}

// stableUUID derives a UUID from the scan, so the same scan renders the
// same SBOM (golden files, and diffs between runs that mean something).
func stableUUID(s *Scan) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(s.Image+"\x00"+s.Digest+"\x00"+s.DBVersion+"\x00"+s.Created.UTC().Format(time.RFC3339Nano))).String()
}

func packages(s *Scan) []inventory.Package {
	if s.Inventory == nil {
		return nil
	}
	return s.Inventory.Packages
}

func reasons(s *Scan) []string {
	if s.Inventory == nil {
		return []string{"no inventory"}
	}
	return s.Inventory.Reasons
}

// toolName is the SBOM creator.
func toolName(s *Scan) string {
	if s.ToolVersion == "" {
		return "berth"
	}
	return "berth-" + s.ToolVersion
}
