package scanner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/match"
)

// Config media types of container images; anything else (a signature, an
// SBOM, a Helm chart) is an artifact whose layers are not file systems.
var imageConfigTypes = map[string]bool{
	"application/vnd.oci.image.config.v1+json":             true,
	"application/vnd.docker.container.image.v1+json":       true,
	"application/vnd.docker.distribution.manifest.v1+json": true,
}

// parsed is the part of a manifest or index the scanner reads.
type parsed struct {
	MediaType string `json:"mediaType"`
	Config    struct {
		MediaType string `json:"mediaType"`
	} `json:"config"`
	Layers []struct {
		MediaType string        `json:"mediaType"`
		Digest    digest.Digest `json:"digest"`
	} `json:"layers"`
	Manifests []struct {
		MediaType string        `json:"mediaType"`
		Digest    digest.Digest `json:"digest"`
	} `json:"manifests"`
}

// maxChildren bounds the platform manifests of one index that are scanned.
const maxChildren = 64

// scan runs one job: an image, or an index and each of its children.
func (s *Scanner) scan(ctx context.Context, j job) error {
	rec := &metadata.ScanRecord{Digest: j.digest, Repo: j.repo, Status: metadata.ScanScanning, Started: s.now()}
	if prev, err := s.store.Scan(ctx, j.digest); err == nil {
		rec.Queued = prev.Queued
	}
	if err := s.store.SaveScan(ctx, rec, nil); err != nil {
		return err
	}
	m, err := s.store.Manifest(ctx, j.repo, j.digest)
	if err != nil {
		return s.finish(ctx, rec, metadata.ScanFailed, fmt.Sprintf("reading manifest: %v", err))
	}
	rec.MediaType = m.MediaType
	var p parsed
	if err := json.Unmarshal(m.Content, &p); err != nil {
		return s.finish(ctx, rec, metadata.ScanFailed, fmt.Sprintf("parsing manifest: %v", err))
	}
	if len(p.Manifests) > 0 {
		return s.scanIndex(ctx, rec, p)
	}
	if !imageConfigTypes[p.Config.MediaType] {
		return s.finish(ctx, rec, metadata.ScanSkipped, fmt.Sprintf("not a container image (config %s)", p.Config.MediaType))
	}
	return s.scanImage(ctx, rec, p)
}

func (s *Scanner) scanImage(ctx context.Context, rec *metadata.ScanRecord, p parsed) error {
	layers := make([]inventory.Layer, 0, len(p.Layers))
	for _, l := range p.Layers {
		layers = append(layers, &blobLayer{blobs: s.blobs, mediaType: l.MediaType, digest: l.Digest})
	}
	inv, err := inventory.Read(ctx, layers, s.opts.Inventory)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: left scanning, requeued on start
		}
		return s.finish(ctx, rec, metadata.ScanFailed, fmt.Sprintf("reading layers: %v", err))
	}
	invJSON, err := json.Marshal(inv)
	if err != nil {
		return fmt.Errorf("encoding inventory of %s: %w", rec.Digest, err)
	}
	rec.Inventory = invJSON
	s.swap.RLock()
	defer s.swap.RUnlock()
	db := s.db.Load()
	if db == nil {
		return s.finish(ctx, rec, metadata.ScanSkipped, ReasonNoDatabase)
	}
	res := match.New(db).Run(inv)
	if err := setFindings(rec, res.Findings); err != nil {
		return err
	}
	rec.DBVersion = db.Version()
	status := metadata.ScanComplete
	if inv.Status != inventory.StatusComplete {
		status = metadata.ScanPartial
	}
	return s.finish(ctx, rec, status, strings.Join(inv.Reasons, "; "))
}

// scanIndex scans each child in turn and stores the index with their
// aggregate status; the API recomputes the aggregate from the children,
// so a later rematch of a child needs no update here.
func (s *Scanner) scanIndex(ctx context.Context, rec *metadata.ScanRecord, p parsed) error {
	rec.Children = rec.Children[:0]
	var statuses []string
	for i, c := range p.Manifests {
		if i == maxChildren {
			statuses = append(statuses, metadata.ScanPartial)
			break
		}
		rec.Children = append(rec.Children, c.Digest)
		child, err := s.store.Scan(ctx, c.Digest)
		if err != nil || !s.current(child) {
			// Platform images are shared between indexes: one scanned
			// with the current database is not read again.
			if err := s.scan(ctx, job{repo: rec.Repo, digest: c.Digest}); err != nil {
				return err
			}
			if child, err = s.store.Scan(ctx, c.Digest); err != nil {
				return err
			}
		}
		statuses = append(statuses, child.Status)
	}
	status := Aggregate(statuses)
	reason := ""
	if len(p.Manifests) > maxChildren {
		reason = fmt.Sprintf("only the first %d of %d manifests were scanned", maxChildren, len(p.Manifests))
	}
	if db := s.db.Load(); db != nil {
		rec.DBVersion = db.Version()
	}
	return s.finish(ctx, rec, status, reason)
}

// Aggregate is the status of an index from its children's: failed over
// partial over complete; still scanning while any child is; skipped only
// when every child was.
func Aggregate(statuses []string) string {
	rank := map[string]int{metadata.ScanSkipped: 0, metadata.ScanComplete: 1, metadata.ScanPartial: 2,
		metadata.ScanFailed: 3, metadata.ScanPending: 4, metadata.ScanScanning: 5}
	out := metadata.ScanSkipped
	for _, st := range statuses {
		if rank[st] > rank[out] {
			out = st
		}
	}
	if out == metadata.ScanPending {
		out = metadata.ScanScanning
	}
	return out
}

func (s *Scanner) finish(ctx context.Context, rec *metadata.ScanRecord, status, reason string) error {
	rec.Status, rec.Reason, rec.Finished = status, reason, s.now()
	if status == metadata.ScanFailed || status == metadata.ScanSkipped {
		// Never leave the findings of another time beside a failure: a
		// failed scan has none, and says so.
		rec.Findings, rec.Vulns, rec.DBVersion = nil, nil, ""
	}
	if err := s.store.SaveScan(context.WithoutCancel(ctx), rec, completedEvent(rec)); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "scanned", "repository", rec.Repo, "digest", rec.Digest.String(),
		"status", status, "reason", reason, "db_version", rec.DBVersion)
	return nil
}

// setFindings stores fs and indexes them by id and alias.
func setFindings(rec *metadata.ScanRecord, fs []match.Finding) error {
	if fs == nil {
		fs = []match.Finding{}
	}
	b, err := json.Marshal(fs)
	if err != nil {
		return fmt.Errorf("encoding findings of %s: %w", rec.Digest, err)
	}
	rec.Findings = b
	rec.Vulns = rec.Vulns[:0]
	for _, f := range fs {
		rec.Vulns = append(rec.Vulns, metadata.ScanVuln{ID: f.ID, Package: f.Package, Severity: string(f.Severity)})
		for _, id := range f.Aliases {
			rec.Vulns = append(rec.Vulns, metadata.ScanVuln{ID: id, Package: f.Package, Severity: string(f.Severity), Finding: f.ID})
		}
	}
	return nil
}

// blobLayer is an image layer read from the blob store.
type blobLayer struct {
	blobs     Blobs
	mediaType string
	digest    digest.Digest
}

func (l *blobLayer) MediaType() string     { return l.mediaType }
func (l *blobLayer) Digest() digest.Digest { return l.digest }
func (l *blobLayer) Open(ctx context.Context) (io.ReadCloser, error) {
	b, err := l.blobs.Open(ctx, l.digest)
	if err != nil {
		return nil, fmt.Errorf("opening layer %s: %w", l.digest, err)
	}
	return b, nil
}

// current reports whether rec is a finished scan made with the loaded
// database.
func (s *Scanner) current(rec *metadata.ScanRecord) bool {
	db := s.db.Load()
	return db != nil && rec.DBVersion == db.Version() &&
		(rec.Status == metadata.ScanComplete || rec.Status == metadata.ScanPartial)
}
