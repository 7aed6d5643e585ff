package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// GetBlob reads a small blob (an image config) of repo and checks its
// digest. Blobs over the listing limit are refused: this is not for layers.
func (c *Client) GetBlob(ctx context.Context, repo string, d digest.Digest) ([]byte, error) {
	if !oci.ValidName(repo) {
		return nil, fmt.Errorf("invalid repository name %q", repo)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("invalid digest %q: %w", d, err)
	}
	resp, err := c.do(ctx, http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil)
	if err != nil {
		return nil, err
	}
	if got := d.Algorithm().FromBytes(resp.body); got != d {
		return nil, fmt.Errorf("blob %s@%s: body digest %s", repo, d, got)
	}
	return resp.body, nil
}

// manifestDoc is what the fleet needs from an image manifest or index.
type manifestDoc struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *descriptorDoc    `json:"config"`
	Layers       []descriptorDoc   `json:"layers"`
	Manifests    []descriptorDoc   `json:"manifests"`
	Subject      *descriptorDoc    `json:"subject"`
	Annotations  map[string]string `json:"annotations"`
}

type descriptorDoc struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	Platform     *json.RawMessage  `json:"platform"`
	Annotations  map[string]string `json:"annotations"`
}

// annotationCreated is the OCI annotation for when an image was built.
const annotationCreated = "org.opencontainers.image.created"

// configCreated reads the created field of an image config.
func configCreated(body []byte) time.Time {
	var cfg struct {
		Created *time.Time `json:"created"`
	}
	if json.Unmarshal(body, &cfg) != nil || cfg.Created == nil {
		return time.Time{}
	}
	return cfg.Created.UTC()
}

// UsableTime reports whether t can order images: reproducible builds set
// created to 1970-01-01 (SOURCE_DATE_EPOCH=0) or leave 0001-01-01.
func UsableTime(t time.Time) bool {
	return t.After(time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC))
}

// referrerTag matches the tags registries without the referrers API carry
// referrers under: the OCI fallback sha256-<hex> and cosign's
// sha256-<hex>.sig, .att and .sbom.
var referrerTag = regexp.MustCompile(`^(sha256)-([0-9a-f]{64})(?:\.(sig|att|sbom))?$`)

// ReferrerSubject returns the subject digest a referrer fallback tag names.
func ReferrerSubject(tag string) (digest.Digest, bool) {
	m := referrerTag.FindStringSubmatch(tag)
	if m == nil {
		return "", false
	}
	return digest.Digest(m[1] + ":" + m[2]), true
}
