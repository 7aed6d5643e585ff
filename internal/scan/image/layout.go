package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Annotations that name an entry of a layout's index.json.
const (
	annotationRefName    = "org.opencontainers.image.ref.name"
	annotationContainerd = "io.containerd.image.name"
)

// rootFetcher reads blobs from an OCI layout directory through os.Root, so
// a symbolic link planted in blobs/ cannot lead outside the layout.
type rootFetcher struct{ root *os.Root }

func (f rootFetcher) fetch(_ context.Context, d descriptor) (io.ReadCloser, error) {
	if err := checkDigest(d.Digest); err != nil {
		return nil, err
	}
	fh, err := f.root.Open(path.Join("blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, ErrNotFound)
	}
	return fh, err
}

func openLayoutDir(ctx context.Context, dir, tag string, opts Options) (*Image, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening OCI layout %s: %w", dir, err)
	}
	fh, err := root.Open("index.json")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("opening OCI layout %s: %w", dir, err)
	}
	im, err := openLayout(ctx, rootFetcher{root}, fh, tag, opts)
	fh.Close()
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	im.closer = root
	return im, nil
}

// openLayout opens the image tag names in a layout's index.json; with no
// tag, the only entry, or the one for the platform.
func openLayout(ctx context.Context, f fetcher, indexJSON io.Reader, tag string, opts Options) (*Image, error) {
	var idx manifest
	if _, err := readJSON(indexJSON, "index.json", &idx); err != nil {
		return nil, err
	}
	d, err := layoutEntry(&idx, tag, opts.platform())
	if err != nil {
		return nil, err
	}
	return resolve(ctx, f, d, opts.platform())
}

func layoutEntry(idx *manifest, tag string, p Platform) (descriptor, error) {
	if tag != "" {
		var tags []string
		for _, d := range idx.Manifests {
			name := d.Annotations[annotationRefName]
			if name == tag || strings.HasSuffix(d.Annotations[annotationContainerd], ":"+tag) {
				return d, nil
			}
			if name != "" {
				tags = append(tags, name)
			}
		}
		return descriptor{}, fmt.Errorf("no tag %q in index.json (it has: %s): %w", tag, strings.Join(tags, ", "), ErrNotFound)
	}
	switch len(idx.Manifests) {
	case 0:
		return descriptor{}, fmt.Errorf("index.json lists no image: %w", ErrNotFound)
	case 1:
		return idx.Manifests[0], nil
	}
	d, err := pick(idx, p)
	if err != nil {
		return descriptor{}, fmt.Errorf("index.json lists %d entries; name one as oci:DIR:TAG or pick a platform: %w", len(idx.Manifests), err)
	}
	return d, nil
}
