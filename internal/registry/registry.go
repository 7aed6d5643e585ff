// Package registry serves the OCI Distribution API under /v2/.
package registry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/storage"
)

// Options configure a Registry. Blobs and Meta are required.
type Options struct {
	Blobs  storage.Store
	Meta   metadata.Store
	Logger *slog.Logger
	// MaxManifestBytes caps a manifest body; 0 means 4 MiB.
	MaxManifestBytes int64
	// MaxPageSize caps the n parameter of tag and catalog listings; 0 means 1000.
	MaxPageSize int
}

// Registry is the http.Handler of the /v2/ API.
type Registry struct {
	opts Options
}

// New returns a Registry.
func New(opts Options) (*Registry, error) {
	if opts.Blobs == nil || opts.Meta == nil {
		return nil, errors.New("registry: Blobs and Meta are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxManifestBytes == 0 {
		opts.MaxManifestBytes = 4 << 20
	}
	if opts.MaxPageSize == 0 {
		opts.MaxPageSize = 1000
	}
	return &Registry{opts: opts}, nil
}

// ServeHTTP serves /v2/ and everything below it.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	http.NotFound(w, req) // replaced by the real router
}

// Close flushes buffered state (pull times) to the metadata store.
func (r *Registry) Close(ctx context.Context) error { return nil }
