package remote

import (
	"context"
	"fmt"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// maxPushBytes bounds what PushBlob sends in one request: the monolithic
// upload suits configs and small layers, not images.
const maxPushBytes = maxBody

// PushBlob uploads b to repo in one request (POST with ?digest=) and
// returns its digest.
func (c *Client) PushBlob(ctx context.Context, repo string, b []byte) (digest.Digest, error) {
	if !oci.ValidName(repo) {
		return "", fmt.Errorf("invalid repository name %q", repo)
	}
	if len(b) > maxPushBytes {
		return "", fmt.Errorf("pushing blob to %s: %d bytes is over the %d-byte monolithic limit", repo, len(b), maxPushBytes)
	}
	d := digest.FromBytes(b)
	_, err := c.send(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(),
		http.Header{"Content-Type": {"application/octet-stream"}}, b)
	if err != nil {
		return "", fmt.Errorf("pushing blob %s to %s: %w", d, repo, err)
	}
	return d, nil
}

// PushManifest puts body as the manifest ref (a tag or its digest) of repo
// and returns its digest.
func (c *Client) PushManifest(ctx context.Context, repo, ref, mediaType string, body []byte) (digest.Digest, error) {
	p, err := manifestPath(repo, ref)
	if err != nil {
		return "", err
	}
	if len(body) > maxPushBytes {
		return "", fmt.Errorf("pushing manifest to %s: %d bytes is too large", repo, len(body))
	}
	if _, err := c.send(ctx, http.MethodPut, p, http.Header{"Content-Type": {mediaType}}, body); err != nil {
		return "", fmt.Errorf("pushing manifest %s:%s: %w", repo, ref, err)
	}
	return digest.FromBytes(body), nil
}
