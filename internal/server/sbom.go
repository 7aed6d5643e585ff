package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/remote"
	scanreport "github.com/berth-registry/berth/internal/scan/report"
	"github.com/berth-registry/berth/internal/scan/scanner"
)

// SBOM artifact types of scan.attach_sbom.
var sbomArtifactTypes = map[string]string{
	"cyclonedx": "application/vnd.cyclonedx+json",
	"spdx":      "application/spdx+json",
}

// sbomAttacher is the relay subscriber of scan.attach_sbom: after a
// complete scan it pushes the image's inventory SBOM as an artifact whose
// subject is the image, into the image's repository, through the registry
// handler in process. It is therefore a push like any other: listed by
// the referrers API, subject to quotas and locks, kept by retention with
// its subject, and announced by manifest.pushed.
type sbomAttacher struct {
	scans *scanning
	reg   func() http.Handler
	meta  interface {
		Manifest(ctx context.Context, repo string, d digest.Digest) (*metadata.Manifest, error)
	}
	format scanreport.Format
	kind   string
	log    *slog.Logger
}

// sbomActor is who pushes the attached SBOMs, in events and the audit log.
const sbomActor = "scanner"

// HandleEvent attaches the SBOM of the image of a complete scan. Refusals
// (a quota, a deleted image) are logged, not retried: the next complete
// scan of the image tries again.
func (a *sbomAttacher) HandleEvent(ctx context.Context, e metadata.Event) error {
	if e.Type != metadata.EventScanCompleted || e.Repo == "" || e.Digest == "" {
		return nil
	}
	var done scanner.ScanCompleted
	if err := json.Unmarshal(e.Detail, &done); err != nil || done.Status != metadata.ScanComplete {
		return nil
	}
	d, err := a.attach(ctx, e.Repo, e.Digest)
	switch {
	case err == nil:
		if d != "" {
			a.log.InfoContext(ctx, "SBOM attached", slog.String("repository", e.Repo), slog.String("subject", e.Digest.String()),
				slog.String("digest", d.String()), slog.String("format", a.kind))
		}
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		a.log.WarnContext(ctx, "SBOM not attached", slog.String("repository", e.Repo), slog.String("subject", e.Digest.String()), slog.Any("err", err))
	}
	return nil
}

// attach pushes the SBOM artifact of repo@subject unless it is there
// already (same inventory, same bytes, same digest); it returns the
// artifact's digest when it pushed one.
func (a *sbomAttacher) attach(ctx context.Context, repo string, subject digest.Digest) (digest.Digest, error) {
	m, err := a.meta.Manifest(ctx, repo, subject)
	if err != nil {
		if errors.Is(err, metadata.ErrNotFound) || errors.Is(err, metadata.ErrRepoNotFound) {
			return "", nil // deleted since the scan
		}
		return "", err
	}
	sbom, err := a.scans.InventorySBOM(ctx, repo, subject, a.format)
	if err != nil {
		if errors.Is(err, scanner.ErrNotScanned) {
			return "", nil // an index: its platform images carry theirs
		}
		return "", err
	}
	body, err := sbomManifest(m, sbomArtifactTypes[a.kind], a.kind, sbom)
	if err != nil {
		return "", err
	}
	d := digest.FromBytes(body)
	if _, err := a.meta.Manifest(ctx, repo, d); err == nil {
		return "", nil
	}
	ctx = authz.WithPrincipal(ctx, &authz.Principal{Name: sbomActor,
		Grants: []metadata.Grant{{Pattern: "*", Role: authz.RoleAdmin}}})
	ctx = metadata.WithActor(ctx, sbomActor)
	c, err := remote.New(importBase, remote.Options{HTTPClient: &http.Client{Transport: inProcess{h: a.reg()}}, Retries: -1})
	if err != nil {
		return "", err
	}
	if _, err := c.PushBlob(ctx, repo, ocispec.DescriptorEmptyJSON.Data); err != nil {
		return "", err
	}
	if _, err := c.PushBlob(ctx, repo, sbom); err != nil {
		return "", err
	}
	if _, err := c.PushManifest(ctx, repo, d.String(), ocispec.MediaTypeImageManifest, body); err != nil {
		return "", err
	}
	return d, nil
}

// sbomManifest is the OCI artifact manifest of an SBOM about subject.
func sbomManifest(subject *metadata.Manifest, artifactType, kind string, sbom []byte) ([]byte, error) {
	title := "sbom.cdx.json"
	if kind == "spdx" {
		title = "sbom.spdx.json"
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers: []ocispec.Descriptor{{MediaType: artifactType, Digest: digest.FromBytes(sbom), Size: int64(len(sbom)),
			Annotations: map[string]string{ocispec.AnnotationTitle: title}}},
		Subject: &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding SBOM manifest: %w", err)
	}
	return b, nil
}
