package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/match"
	scanreport "github.com/berth-registry/berth/internal/scan/report"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// ErrNotScanned means a manifest has no stored scan.
var ErrNotScanned = errors.New("not scanned")

// Report is the scan of one manifest as the API shows it.
type Report struct {
	Repo      string     `json:"repository"`
	Digest    string     `json:"digest"`
	MediaType string     `json:"mediaType,omitempty"`
	Status    string     `json:"status"`
	Reason    string     `json:"reason,omitempty"`
	DBVersion string     `json:"dbVersion,omitempty"`
	Queued    *time.Time `json:"queued,omitempty"`
	Started   *time.Time `json:"started,omitempty"`
	Finished  *time.Time `json:"finished,omitempty"`
	// Summary counts findings per severity; absent unless the scan
	// finished, so that an unscanned image never reads as clean.
	Summary  map[vulndb.Severity]int `json:"summary,omitempty"`
	Highest  vulndb.Severity         `json:"highest,omitempty"`
	Findings []match.Finding         `json:"findings"`
	// Children are an index's platform images; the index's status and
	// summary are their aggregate, and its findings theirs.
	Children []Report `json:"children,omitempty"`

	inventory *inventory.Inventory
}

// Report returns the stored scan of repo@d. Without a database every scan
// is skipped with ReasonNoDatabase, whatever was stored before.
func (s *Scanner) Report(ctx context.Context, repo string, d digest.Digest) (*Report, error) {
	if _, err := s.store.Manifest(ctx, repo, d); err != nil {
		return nil, err
	}
	return s.report(ctx, repo, d, true)
}

func (s *Scanner) report(ctx context.Context, repo string, d digest.Digest, withChildren bool) (*Report, error) {
	if s.db.Load() == nil {
		return &Report{Repo: repo, Digest: d.String(), Status: metadata.ScanSkipped, Reason: ReasonNoDatabase, Findings: []match.Finding{}}, nil
	}
	rec, err := s.store.Scan(ctx, d)
	if errors.Is(err, metadata.ErrNotFound) {
		return nil, fmt.Errorf("%s@%s: %w", repo, d, ErrNotScanned)
	}
	if err != nil {
		return nil, err
	}
	r := &Report{Repo: repo, Digest: d.String(), MediaType: rec.MediaType, Status: rec.Status, Reason: rec.Reason,
		DBVersion: rec.DBVersion, Queued: timePtr(rec.Queued), Started: timePtr(rec.Started), Finished: timePtr(rec.Finished),
		Findings: []match.Finding{}}
	if len(rec.Findings) > 0 {
		if err := json.Unmarshal(rec.Findings, &r.Findings); err != nil {
			return nil, fmt.Errorf("decoding findings of %s: %w", d, err)
		}
	}
	if len(rec.Inventory) > 0 {
		r.inventory = &inventory.Inventory{}
		if err := json.Unmarshal(rec.Inventory, r.inventory); err != nil {
			return nil, fmt.Errorf("decoding inventory of %s: %w", d, err)
		}
	}
	if withChildren && len(rec.Children) > 0 {
		var statuses []string
		for _, c := range rec.Children {
			cr, err := s.report(ctx, repo, c, false)
			if errors.Is(err, ErrNotScanned) {
				cr = &Report{Repo: repo, Digest: c.String(), Status: metadata.ScanPending, Findings: []match.Finding{}}
			} else if err != nil {
				return nil, err
			}
			statuses = append(statuses, cr.Status)
			r.Findings = append(r.Findings, cr.Findings...)
			cr.Findings = nil
			r.Children = append(r.Children, *cr)
		}
		if r.Status != metadata.ScanPending && r.Status != metadata.ScanScanning {
			r.Status = Aggregate(statuses)
		}
	}
	r.Summary, r.Highest = summary(r.Status, r.Findings)
	return r, nil
}

// summary counts findings per severity for a finished scan.
func summary(status string, fs []match.Finding) (map[vulndb.Severity]int, vulndb.Severity) {
	if status != metadata.ScanComplete && status != metadata.ScanPartial {
		return nil, ""
	}
	c := map[vulndb.Severity]int{}
	for _, sev := range scanreport.Severities {
		c[sev] = 0
	}
	highest := vulndb.Severity("")
	for _, f := range fs {
		c[f.Severity]++
		if highest == "" || f.Severity.Rank() > highest.Rank() {
			highest = f.Severity
		}
	}
	return c, highest
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// WriteSBOM renders the stored inventory of repo@d (an image, not an
// index) in format f: cyclonedx, spdx or json.
func (s *Scanner) WriteSBOM(ctx context.Context, w io.Writer, repo string, d digest.Digest, f scanreport.Format) error {
	r, err := s.Report(ctx, repo, d)
	if err != nil {
		return err
	}
	if r.inventory == nil {
		return fmt.Errorf("%s@%s: no stored inventory (status %s): %w", repo, d, r.Status, ErrNotScanned)
	}
	created := time.Time{}
	if r.Finished != nil {
		created = r.Finished.UTC().Truncate(time.Second)
	}
	return scanreport.Write(w, f, &scanreport.Scan{Image: repo + "@" + d.String(), Digest: d.String(),
		Inventory: r.inventory, DBVersion: r.DBVersion, Findings: r.Findings, Created: created, ToolVersion: "berth"})
}

// TagVulns is one tag's scan summary.
type TagVulns struct {
	Tag     string                  `json:"tag"`
	Digest  string                  `json:"digest"`
	Status  string                  `json:"status"`
	Reason  string                  `json:"reason,omitempty"`
	Highest vulndb.Severity         `json:"highest,omitempty"`
	Summary map[vulndb.Severity]int `json:"summary,omitempty"`
}

// RepoVulns summarises the scan of every tag of repo, in name order after
// p.Last.
func (s *Scanner) RepoVulns(ctx context.Context, repo string, p metadata.Page) ([]TagVulns, error) {
	tags, err := s.store.TagDetails(ctx, repo, metadata.OrderName, p)
	if err != nil {
		return nil, err
	}
	out := make([]TagVulns, 0, len(tags))
	for _, t := range tags {
		tv := TagVulns{Tag: t.Name, Digest: t.Digest.String(), Status: "not-scanned"}
		r, err := s.report(ctx, repo, t.Digest, true)
		switch {
		case errors.Is(err, ErrNotScanned):
		case err != nil:
			return nil, err
		default:
			tv.Status, tv.Reason, tv.Highest, tv.Summary = r.Status, r.Reason, r.Highest, r.Summary
		}
		out = append(out, tv)
	}
	return out, nil
}

// Affected lists the images, across the registry, with a finding id or alias.
func (s *Scanner) Affected(ctx context.Context, id string, p metadata.Page) ([]metadata.AffectedImage, error) {
	return s.store.AffectedBy(ctx, id, p)
}

// Status is the loaded database's status, or nil when none is loaded.
func (s *Scanner) Status() *vulndb.Status {
	db := s.db.Load()
	if db == nil {
		return nil
	}
	st := db.Status()
	return &st
}
