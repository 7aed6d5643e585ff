package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/scan/inventory"
)

// Caps on a docker save tarball's table of contents.
const (
	maxArchiveEntries = 100_000
	maxLinkHops       = 8
)

// archive is a docker save tarball indexed once: every regular file's data
// is a byte range of the file, read in place, so layers stream from disk.
type archive struct {
	f       *os.File
	entries map[string]section
}

type section struct{ off, size int64 }

// open returns the named member as a stream.
func (a *archive) open(name string) (io.ReadCloser, error) {
	s, ok := a.entries[cleanName(name)]
	if !ok {
		return nil, fmt.Errorf("%s not in the archive: %w", name, ErrNotFound)
	}
	return io.NopCloser(io.NewSectionReader(a.f, s.off, s.size)), nil
}

func (a *archive) fetch(_ context.Context, d descriptor) (io.ReadCloser, error) {
	if err := checkDigest(d.Digest); err != nil {
		return nil, err
	}
	return a.open(path.Join("blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()))
}

func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func openArchive(ctx context.Context, file string, opts Options) (*Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("opening docker archive: %w", err)
	}
	im, err := readArchive(ctx, f, opts)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("docker archive %s: %w", file, err)
	}
	im.closer = f
	return im, nil
}

func readArchive(ctx context.Context, f *os.File, opts Options) (*Image, error) {
	var magic [2]byte
	if _, err := f.ReadAt(magic[:], 0); err == nil && magic == [2]byte{0x1f, 0x8b} {
		return nil, errors.New("the tarball is gzip-compressed; decompress it first (docker save | gzip was used)")
	}
	a, err := indexArchive(f)
	if err != nil {
		return nil, err
	}
	if _, ok := a.entries["manifest.json"]; ok {
		return dockerImage(ctx, a)
	}
	if _, ok := a.entries["index.json"]; ok {
		idx, err := a.open("index.json")
		if err != nil {
			return nil, err
		}
		return openLayout(ctx, a, idx, "", opts)
	}
	return nil, errors.New("neither manifest.json nor index.json found: not a docker save or OCI layout tarball")
}

// indexArchive records where each regular file's data lies. Symbolic and
// hard links (docker save links repeated layers) are resolved to regular
// members, never to anything outside the tarball.
func indexArchive(f *os.File) (*archive, error) {
	a := &archive{f: f, entries: map[string]section{}}
	links := map[string]string{}
	tr := tar.NewReader(f)
	for n := 0; ; n++ {
		if n >= maxArchiveEntries {
			return nil, fmt.Errorf("more than %d entries", maxArchiveEntries)
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading tar: %w", err)
		}
		name := cleanName(h.Name)
		switch h.Typeflag {
		case tar.TypeReg:
			// tar.Reader seeks over data it skips and never reads ahead,
			// so the file offset is where this entry's data starts.
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, fmt.Errorf("reading tar: %w", err)
			}
			a.entries[name] = section{off: off, size: h.Size}
		case tar.TypeSymlink:
			links[name] = cleanName(path.Join(path.Dir(name), h.Linkname))
		case tar.TypeLink:
			links[name] = cleanName(h.Linkname)
		}
	}
	for name, target := range links {
		for hop := 0; hop < maxLinkHops; hop++ {
			if s, ok := a.entries[target]; ok {
				a.entries[name] = s
				break
			}
			next, ok := links[target]
			if !ok {
				break
			}
			target = next
		}
	}
	return a, nil
}

// dockerManifest is one entry of a docker save manifest.json.
type dockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

func dockerImage(_ context.Context, a *archive) (*Image, error) {
	rc, err := a.open("manifest.json")
	if err != nil {
		return nil, err
	}
	var ms []dockerManifest
	if _, err := readJSON(rc, "manifest.json", &ms); err != nil {
		return nil, err
	}
	if len(ms) != 1 {
		return nil, fmt.Errorf("manifest.json lists %d images; scanning one image per archive is supported", len(ms))
	}
	m := ms[0]
	cd := memberDigest(m.Config)
	rc, err = a.open(m.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var cfg config
	if _, err := readJSON(verified(rc, cd, 0), "config "+m.Config, &cfg); err != nil {
		return nil, err
	}
	im := &Image{ConfigDigest: cd, Platform: cfg.Platform}
	for i, name := range m.Layers {
		if _, ok := a.entries[cleanName(name)]; !ok {
			return nil, fmt.Errorf("layer %s not in the archive: %w", name, ErrNotFound)
		}
		l := &archiveLayer{a: a, name: name, d: memberDigest(name), verify: true}
		if l.d == "" && i < len(cfg.RootFS.DiffIDs) {
			// A legacy <id>/layer.tar is named by no digest; its diff ID
			// names the uncompressed bytes, which it normally is, but
			// nothing guarantees that, so it is not verified.
			l.d, l.verify = cfg.RootFS.DiffIDs[i], false
		}
		im.Layers = append(im.Layers, l)
	}
	return im, nil
}

// memberDigest is the digest a member's name gives it: blobs/sha256/HEX
// (docker 25+, OCI-style) or HEX.json (older docker's config); else empty.
func memberDigest(name string) digest.Digest {
	base := strings.TrimSuffix(path.Base(name), ".json")
	alg := path.Base(path.Dir(cleanName(name)))
	if alg == "." || alg == "" || !strings.HasPrefix(cleanName(name), "blobs/") {
		alg = "sha256"
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), base)
	if d.Validate() != nil {
		return ""
	}
	return d
}

// archiveLayer is a layer stored as a member of a docker save tarball.
type archiveLayer struct {
	a      *archive
	name   string
	d      digest.Digest
	verify bool
}

var _ inventory.Layer = (*archiveLayer)(nil)

func (l *archiveLayer) MediaType() string     { return "application/vnd.docker.image.rootfs.diff.tar" }
func (l *archiveLayer) Digest() digest.Digest { return l.d }
func (l *archiveLayer) Open(context.Context) (io.ReadCloser, error) {
	rc, err := l.a.open(l.name)
	if err != nil || !l.verify {
		return rc, err
	}
	return struct {
		io.Reader
		io.Closer
	}{verified(rc, l.d, 0), rc}, nil
}
