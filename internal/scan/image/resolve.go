package image

import (
	"context"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/scan/inventory"
)

// maxIndexDepth bounds indexes nested in indexes (a layout's index.json
// pointing at an image index is depth 2).
const maxIndexDepth = 4

// fetcher returns a blob by its descriptor: from a directory, a tarball or
// a registry. The caller verifies what it reads.
type fetcher interface {
	fetch(ctx context.Context, d descriptor) (io.ReadCloser, error)
}

// resolve follows d (a manifest or an index) down to one image manifest
// for the platform and returns that image.
func resolve(ctx context.Context, f fetcher, d descriptor, p Platform) (*Image, error) {
	for range maxIndexDepth {
		m, err := fetchManifest(ctx, f, d)
		if err != nil {
			return nil, err
		}
		if !m.isIndex() {
			return imageOf(ctx, f, d.Digest, m)
		}
		if d, err = pick(m, p); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("indexes nested deeper than %d", maxIndexDepth)
}

func fetchManifest(ctx context.Context, f fetcher, d descriptor) (*manifest, error) {
	if err := checkDigest(d.Digest); err != nil {
		return nil, err
	}
	rc, err := f.fetch(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var m manifest
	b, err := readJSON(rc, "manifest "+d.Digest.String(), &m)
	if err != nil {
		return nil, err
	}
	if got := d.Digest.Algorithm().FromBytes(b); got != d.Digest {
		return nil, fmt.Errorf("manifest %s: content has digest %s", d.Digest, got)
	}
	return &m, nil
}

// imageOf reads the config of manifest m and makes its layers.
func imageOf(ctx context.Context, f fetcher, md digest.Digest, m *manifest) (*Image, error) {
	if err := checkDigest(m.Config.Digest); err != nil {
		return nil, fmt.Errorf("manifest %s config: %w", md, err)
	}
	rc, err := f.fetch(ctx, m.Config)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	defer rc.Close()
	var cfg config
	if _, err := readJSON(verified(rc, m.Config.Digest, m.Config.Size), "config "+m.Config.Digest.String(), &cfg); err != nil {
		return nil, err
	}
	im := &Image{Digest: md, ConfigDigest: m.Config.Digest, Platform: cfg.Platform}
	for _, l := range m.Layers {
		if err := checkDigest(l.Digest); err != nil {
			return nil, fmt.Errorf("manifest %s layer: %w", md, err)
		}
		im.Layers = append(im.Layers, &blobLayer{f: f, d: l})
	}
	return im, nil
}

// blobLayer is a layer addressed by its digest.
type blobLayer struct {
	f fetcher
	d descriptor
}

var _ inventory.Layer = (*blobLayer)(nil)

func (l *blobLayer) MediaType() string     { return l.d.MediaType }
func (l *blobLayer) Digest() digest.Digest { return l.d.Digest }
func (l *blobLayer) Open(ctx context.Context) (io.ReadCloser, error) {
	rc, err := l.f.fetch(ctx, l.d)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.d.Digest, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{verified(rc, l.d.Digest, l.d.Size), rc}, nil
}

// verified cuts r at size (when known) and fails at its end if the bytes
// do not have digest d, so a corrupt or substituted blob makes the read
// fail instead of being inventoried as the image.
func verified(r io.Reader, d digest.Digest, size int64) io.Reader {
	v := &verifier{r: r, d: d, size: size}
	if d.Validate() == nil {
		v.h = d.Algorithm().Hash()
	}
	return v
}

type verifier struct {
	r    io.Reader
	d    digest.Digest
	h    hash.Hash
	size int64
	n    int64
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.size > 0 && int64(len(p)) > v.size-v.n+1 {
		p = p[:v.size-v.n+1]
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	if v.h != nil {
		v.h.Write(p[:n])
	}
	if v.size > 0 && v.n > v.size {
		return n, fmt.Errorf("blob %s: more than its declared %d bytes", v.d, v.size)
	}
	if err == io.EOF {
		if v.size > 0 && v.n != v.size {
			return n, fmt.Errorf("blob %s: %d bytes, declared %d", v.d, v.n, v.size)
		}
		if v.h != nil {
			if got := digest.NewDigest(v.d.Algorithm(), v.h); got != v.d {
				return n, fmt.Errorf("blob %s: content has digest %s", v.d, got)
			}
		}
	}
	return n, err
}
