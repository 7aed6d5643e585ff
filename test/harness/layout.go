package harness

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Layout writes an OCI image layout (image-spec "oci-layout" + index.json +
// blobs/sha256) so tests can build images without any network access.
type Layout struct {
	Dir   string
	rng   *rand.Rand
	index ocispec.Index
}

// NewLayout creates an empty layout in dir. Content is random but
// reproducible for a given seed.
func NewLayout(dir string, seed uint64) (*Layout, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), b, 0o644); err != nil {
		return nil, err
	}
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return &Layout{
		Dir:   dir,
		rng:   rand.New(rand.NewChaCha8(s)),
		index: ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex},
	}, nil
}

// WriteBlob stores b and returns its descriptor.
func (l *Layout) WriteBlob(mediaType string, b []byte) (ocispec.Descriptor, error) {
	d := digest.FromBytes(b)
	p := filepath.Join(l.Dir, "blobs", d.Algorithm().String(), d.Encoded())
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}, nil
}

// WriteJSON marshals v and stores it as a blob.
func (l *Layout) WriteJSON(mediaType string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return l.WriteBlob(mediaType, b)
}

// RandomLayer writes a gzipped tar holding one file of size random bytes and
// returns the layer descriptor and the diff ID (digest of the uncompressed tar)
// the config must list.
func (l *Layout) RandomLayer(size int) (ocispec.Descriptor, digest.Digest, error) {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(l.rng.Uint32())
	}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	name := fmt.Sprintf("data-%016x.bin", l.rng.Uint64())
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(size), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if _, err := tw.Write(data); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := tw.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	diffID := digest.FromBytes(tarBuf.Bytes())
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := io.Copy(zw, &tarBuf); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := zw.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	d, err := l.WriteBlob(ocispec.MediaTypeImageLayerGzip, gz.Bytes())
	return d, diffID, err
}

// Image writes a single-platform image with random layers of the given sizes
// and returns its manifest descriptor (with Platform set).
func (l *Layout) Image(os_, arch string, layerSizes ...int) (ocispec.Descriptor, error) {
	cfg := ocispec.Image{
		Platform: ocispec.Platform{OS: os_, Architecture: arch},
		RootFS:   ocispec.RootFS{Type: "layers"},
		Config:   ocispec.ImageConfig{Labels: map[string]string{"berth.test/nonce": fmt.Sprintf("%x", l.rng.Uint64())}},
	}
	var layers []ocispec.Descriptor
	for _, n := range layerSizes {
		d, diffID, err := l.RandomLayer(n)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		layers = append(layers, d)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
	}
	cd, err := l.WriteJSON(ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cd,
		Layers:    layers,
	}
	md, err := l.WriteJSON(ocispec.MediaTypeImageManifest, m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	md.Platform = &ocispec.Platform{OS: os_, Architecture: arch}
	return md, nil
}

// MultiPlatform writes a linux/amd64 and a linux/arm64 image and an index
// over both, returning the index descriptor and the two manifests.
func (l *Layout) MultiPlatform(layerSize int) (ocispec.Descriptor, []ocispec.Descriptor, error) {
	var ms []ocispec.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		d, err := l.Image("linux", arch, layerSize)
		if err != nil {
			return ocispec.Descriptor{}, nil, err
		}
		ms = append(ms, d)
	}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: ms}
	d, err := l.WriteJSON(ocispec.MediaTypeImageIndex, idx)
	return d, ms, err
}

// Tag records desc in index.json under name (the org.opencontainers.image.ref.name
// annotation skopeo's oci:DIR:TAG and crane read) and rewrites index.json.
func (l *Layout) Tag(desc ocispec.Descriptor, name string) error {
	desc.Annotations = map[string]string{ocispec.AnnotationRefName: name}
	desc.Platform = nil
	l.index.Manifests = append(l.index.Manifests, desc)
	b, err := json.MarshalIndent(l.index, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.Dir, ocispec.ImageIndexFile), b, 0o644)
}

// ReadIndex returns the index.json of a layout on disk, e.g. one a client
// pulled into.
func ReadIndex(dir string) (ocispec.Index, error) {
	var idx ocispec.Index
	b, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
	if err != nil {
		return idx, err
	}
	err = json.Unmarshal(b, &idx)
	return idx, err
}

// SHA256File returns the sha256 digest of a file, streaming.
func SHA256File(path string) (digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return digest.NewDigest(digest.SHA256, h), nil
}
