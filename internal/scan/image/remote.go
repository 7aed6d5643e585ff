package image

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/remote"
)

// OpenRemote opens repo:ref (a tag or a digest) through c, a registry
// client with credentials (berth scan REGISTRY/REPO:TAG with the fleet's
// credential lookup, berth scan --all). Open's anonymous client is for
// references without credentials.
func OpenRemote(ctx context.Context, c *remote.Client, repo, ref string, opts Options) (*Image, error) {
	desc, body, err := c.GetManifest(ctx, repo, ref)
	if err != nil {
		if remote.IsNotFound(err) {
			return nil, fmt.Errorf("%s:%s: %w (%w)", repo, ref, ErrNotFound, err)
		}
		return nil, err
	}
	f := &remoteFetcher{c: c, repo: repo, first: desc.Digest, body: body}
	d := descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: int64(len(body))}
	if !oci.IsManifest(d.MediaType) {
		d.MediaType = oci.MediaTypeImageManifest
	}
	im, err := resolve(ctx, f, d, opts.platform())
	if err != nil {
		return nil, fmt.Errorf("%s:%s: %w", repo, ref, err)
	}
	return im, nil
}

// remoteFetcher reads manifests and blobs of one repository through a
// remote.Client; the manifest already fetched by reference is kept.
type remoteFetcher struct {
	c     *remote.Client
	repo  string
	first digest.Digest
	body  []byte
}

func (f *remoteFetcher) fetch(ctx context.Context, d descriptor) (io.ReadCloser, error) {
	if d.Digest == f.first {
		return io.NopCloser(bytes.NewReader(f.body)), nil
	}
	if oci.IsManifest(d.MediaType) {
		_, b, err := f.c.GetManifest(ctx, f.repo, d.Digest.String())
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	return f.c.OpenBlob(ctx, f.repo, d.Digest)
}
