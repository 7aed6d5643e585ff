package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
)

// Layer is one layer of an image, in the order the image applies them.
type Layer interface {
	// MediaType is the layer's media type from the manifest.
	MediaType() string
	// Digest is the digest of the (compressed) layer blob.
	Digest() digest.Digest
	// Open returns the layer blob from its first byte.
	Open(ctx context.Context) (io.ReadCloser, error)
}

// Status says whether the inventory covers the whole image.
type Status string

const (
	// StatusComplete means every layer was read to its end within the caps
	// and every package database parsed.
	StatusComplete Status = "complete"
	// StatusPartial means something was not read or not understood; Reasons
	// says what. The packages listed are still real.
	StatusPartial Status = "partial"
)

// Ecosystem is the packaging system a package belongs to; the values are the
// purl types.
type Ecosystem string

// The ecosystems this package inventories.
const (
	EcosystemDeb    Ecosystem = "deb"
	EcosystemAPK    Ecosystem = "apk"
	EcosystemRPM    Ecosystem = "rpm"
	EcosystemGo     Ecosystem = "golang"
	EcosystemPyPI   Ecosystem = "pypi"
	EcosystemNPM    Ecosystem = "npm"
	EcosystemMaven  Ecosystem = "maven"
	goStdlibPackage           = "stdlib"
)

// OS is the operating system named by os-release(5).
type OS struct {
	ID              string   `json:"id,omitempty"`
	IDLike          []string `json:"idLike,omitempty"`
	VersionID       string   `json:"versionId,omitempty"`
	VersionCodename string   `json:"versionCodename,omitempty"`
	Name            string   `json:"name,omitempty"`
	PrettyName      string   `json:"prettyName,omitempty"`
}

// Package is one installed package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// SourceName and SourceVersion are the source package a binary package
	// was built from (dpkg Source:, apk origin). For dpkg they default to the
	// binary name and version, as dpkg itself does, because Debian advisories
	// are per source package.
	SourceName    string `json:"sourceName,omitempty"`
	SourceVersion string `json:"sourceVersion,omitempty"`
	Arch          string `json:"arch,omitempty"`
	// Vendor is the rpm header's vendor ("Red Hat, Inc.", "Rocky
	// Enterprise Software Foundation"): it tells a rebuilt package from
	// the distribution's own.
	Vendor    string    `json:"vendor,omitempty"`
	Ecosystem Ecosystem `json:"ecosystem"`
	PURL      string    `json:"purl"`
	// Layer is the digest of the layer that introduced the package.
	Layer digest.Digest `json:"layer"`
	// Path is the file the package was found in (its database, metadata
	// file or binary), relative to the image root; inside an archive the
	// members are joined with "!/" (app.jar!/BOOT-INF/lib/x.jar).
	Path string `json:"path"`
}

// Inventory is the result of reading an image.
type Inventory struct {
	OS       OS        `json:"os"`
	Packages []Package `json:"packages"`
	Status   Status    `json:"status"`
	Reasons  []string  `json:"reasons,omitempty"`
}

// Limits bounds the work done on one image. A zero field takes its default.
type Limits struct {
	// MaxUncompressedBytes caps the decompressed tar bytes of all layers.
	MaxUncompressedBytes int64
	// MaxEntries caps the tar entries of all layers.
	MaxEntries int
	// MaxFileSize caps each package database or metadata file read into
	// memory (dpkg status, apk installed, rpm databases, METADATA,
	// package.json, pom.properties).
	MaxFileSize int64
	// MaxBinarySize caps each executable or archive inspected; larger ones
	// are skipped and make the result partial.
	MaxBinarySize int64
	// MaxNestingDepth caps archives within archives (a jar in a jar is 2).
	MaxNestingDepth int
	// MaxPathLength caps the length of an entry name.
	MaxPathLength int
	// Timeout caps the whole read, on top of any deadline of the context.
	Timeout time.Duration
}

// DefaultLimits are sized for real images on a small machine: a large image
// is a few GiB uncompressed and a Debian status file a few MiB.
func DefaultLimits() Limits {
	return Limits{
		MaxUncompressedBytes: 16 << 30,
		MaxEntries:           2_000_000,
		MaxFileSize:          64 << 20,
		MaxBinarySize:        512 << 20,
		MaxNestingDepth:      3,
		MaxPathLength:        4096,
		Timeout:              10 * time.Minute,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxUncompressedBytes <= 0 {
		l.MaxUncompressedBytes = d.MaxUncompressedBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = d.MaxFileSize
	}
	if l.MaxBinarySize <= 0 {
		l.MaxBinarySize = d.MaxBinarySize
	}
	if l.MaxNestingDepth <= 0 {
		l.MaxNestingDepth = d.MaxNestingDepth
	}
	if l.MaxPathLength <= 0 {
		l.MaxPathLength = d.MaxPathLength
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	return l
}

// Options configures Read. The zero value is ready to use.
type Options struct {
	Limits Limits
	// ScratchDir is where a private directory for large executables and
	// archives is created (and always removed); empty means os.TempDir().
	ScratchDir string
}

// Read inventories the image made of layers, lowest first.
//
// Problems with the image's content (caps, corrupt layers, unparsable
// databases, the time limit) do not fail Read: they make the Inventory
// partial. Read returns an error only when the caller cancelled ctx, a layer
// could not be opened, or the scratch directory could not be created.
func Read(ctx context.Context, layers []Layer, opts Options) (*Inventory, error) {
	lim := opts.Limits.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()

	scratch, err := os.MkdirTemp(opts.ScratchDir, "berth-inventory-")
	if err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)

	w := newWalker(lim, scratch)
	for i, l := range layers {
		if err := w.layer(ctx, i, l); err != nil {
			if errors.Is(err, errStop) {
				break
			}
			return nil, err
		}
	}
	return w.inventory(layers), nil
}
