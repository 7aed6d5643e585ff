// Package image opens a container image for scanning wherever it lives: an
// OCI image layout directory, a `docker save` tarball, or a registry. An
// Image is its layers in order (as inventory.Layer, streamed on demand,
// never held in memory) plus what its config says about the platform.
//
// Every piece of JSON read (index, manifest, config, manifest.json) is read
// through a size cap, and every layer stream is cut at its declared size and
// verified against its digest when the digest addresses the bytes.
package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/scan/inventory"
)

// maxJSON bounds any index, manifest or config read: real ones are a few
// KiB, and the distribution spec lets registries refuse manifests over 4 MiB.
const maxJSON = 8 << 20

// ErrNotFound means the reference names nothing in the source.
var ErrNotFound = errors.New("image not found")

// Platform is an image's operating system and architecture.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform parses os/arch[/variant].
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// matches reports whether an index entry's platform is the one asked for;
// an unset variant in the request accepts any.
func (p Platform) matches(q *Platform) bool {
	return q != nil && q.OS == p.OS && q.Architecture == p.Architecture &&
		(p.Variant == "" || p.Variant == q.Variant)
}

// Options configures Open. The zero value scans linux/amd64 over HTTPS.
type Options struct {
	// Platform picks the image from an index; zero means linux/amd64.
	Platform Platform
	// Insecure allows plain HTTP to any registry; loopback hosts always use
	// plain HTTP.
	Insecure bool
}

func (o Options) platform() Platform {
	if o.Platform.OS == "" {
		return Platform{OS: "linux", Architecture: "amd64"}
	}
	return o.Platform
}

// Image is an opened image. Close releases what Open holds (an open
// tarball); the layers cannot be read after it.
type Image struct {
	// Ref is the image as the user named it.
	Ref string
	// Digest is the manifest's digest; empty for a docker save archive,
	// which carries no manifest.
	Digest digest.Digest
	// ConfigDigest is the config's digest: Docker's image ID.
	ConfigDigest digest.Digest
	Platform     Platform
	Layers       []inventory.Layer
	closer       io.Closer
}

// Close releases the image's resources.
func (im *Image) Close() error {
	if im.closer == nil {
		return nil
	}
	return im.closer.Close()
}

// Open opens ref, which is one of
//
//	oci:DIR[:TAG]           an OCI image layout directory
//	docker-archive:FILE     a docker save tarball
//	DIR                     an existing directory: an OCI layout
//	FILE.tar                an existing file: a docker save tarball
//	HOST[:PORT]/REPO[:TAG|@DIGEST]   a registry (anonymous)
func Open(ctx context.Context, ref string, opts Options) (*Image, error) {
	var (
		im  *Image
		err error
	)
	switch {
	case strings.HasPrefix(ref, "oci:"):
		dir, tag := splitLayoutRef(strings.TrimPrefix(ref, "oci:"))
		im, err = openLayoutDir(ctx, dir, tag, opts)
	case strings.HasPrefix(ref, "docker-archive:"):
		im, err = openArchive(ctx, strings.TrimPrefix(ref, "docker-archive:"), opts)
	default:
		fi, statErr := os.Stat(ref)
		switch {
		case statErr == nil && fi.IsDir():
			im, err = openLayoutDir(ctx, ref, "", opts)
		case statErr == nil && fi.Mode().IsRegular():
			im, err = openArchive(ctx, ref, opts)
		case strings.HasSuffix(ref, ".tar"):
			return nil, fmt.Errorf("opening %s: %w", ref, statErr)
		default:
			im, err = openRegistry(ctx, ref, opts)
		}
	}
	if err != nil {
		return nil, err
	}
	im.Ref = ref
	return im, nil
}

// splitLayoutRef splits DIR[:TAG]; a colon followed by a path separator is
// part of the directory (C:\ on Windows, or a directory named a:b/c).
func splitLayoutRef(s string) (dir, tag string) {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.ContainsAny(s[i+1:], `/\`) {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// descriptor is the part of an OCI descriptor the scanner uses.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      digest.Digest     `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// manifest is an OCI or Docker image manifest or index; which one is
// decided by what it holds, since media types are often missing.
type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
	Manifests     []descriptor `json:"manifests"`
}

func (m *manifest) isIndex() bool {
	return len(m.Manifests) > 0 || strings.Contains(m.MediaType, "index") || strings.Contains(m.MediaType, "list")
}

// config is the part of an image config the scanner uses.
type config struct {
	Platform
	RootFS struct {
		DiffIDs []digest.Digest `json:"diff_ids"`
	} `json:"rootfs"`
}

// readJSON reads at most maxJSON bytes of r into v.
func readJSON(r io.Reader, what string, v any) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxJSON+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if len(b) > maxJSON {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", what, maxJSON)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", what, err)
	}
	return b, nil
}

// pick chooses the entry of an index for the platform.
func pick(idx *manifest, p Platform) (descriptor, error) {
	var seen []string
	for _, d := range idx.Manifests {
		if p.matches(d.Platform) {
			return d, nil
		}
		if d.Platform != nil {
			seen = append(seen, d.Platform.String())
		}
	}
	return descriptor{}, fmt.Errorf("no image for platform %s in the index (it has: %s): %w", p, strings.Join(seen, ", "), ErrNotFound)
}

// checkDigest validates a digest read from untrusted JSON before it is
// used to build a path or a URL.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", d, err)
	}
	return nil
}
