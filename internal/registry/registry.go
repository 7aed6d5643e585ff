// Package registry serves the OCI Distribution API (specification v1.1)
// under /v2/: blobs, resumable uploads, manifests, tags, the catalog and the
// referrers API.
//
// The package is the HTTP edge of the storage and metadata layers: it parses
// and validates every input, maps the sentinel errors of those layers to OCI
// error codes exactly once (errors.go), and never answers bad input with a
// 500. Blob bytes live in a storage.Store; which repository holds what lives
// in a metadata.Store. A blob is visible in a repository only once metadata
// links it there.
package registry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
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
	// PullFlushInterval is how often recorded pulls are written to metadata;
	// 0 means one second.
	PullFlushInterval time.Duration
	// Authorizer, if set, is asked about every request (see authorize.go).
	Authorizer Authorizer
	// Trash, when set, receives deletions instead of Meta (recycle bin).
	Trash Trasher
	// Locks, when set, are enforced on every push, pull and delete.
	Locks LockReader
	// Limits, when set, admits uploads and manifests (quotas, disk; see limits.go).
	Limits Limiter
	// Gate, when set, may refuse the pull of a manifest (scan gates).
	Gate PullGate
	// PullObserver, when set, is told of every manifest GET served (the
	// audit log). It is called on the request path and must not block.
	PullObserver PullObserver
}

// PullObserver hears of served manifest GETs.
type PullObserver interface {
	// ObservePull notes that r pulled manifest d of repo by ref (a tag or
	// a digest) at at.
	ObservePull(r *http.Request, repo, ref string, d digest.Digest, at time.Time)
}

// PullGate decides manifest pulls by the image's scan (package scan/gate).
type PullGate interface {
	// CheckPull returns nil to serve m, pulled from repo by ref (a tag or
	// a digest), or the error to answer with.
	CheckPull(r *http.Request, repo, ref string, m *metadata.Manifest) error
}

// Registry is the http.Handler of the /v2/ API.
type Registry struct {
	opts  Options
	log   *slog.Logger
	pulls *pullRecorder
}

// New returns a Registry. It starts a goroutine that flushes pull times;
// Close stops it.
func New(opts Options) (*Registry, error) {
	if opts.Blobs == nil || opts.Meta == nil {
		return nil, errors.New("registry: Blobs and Meta are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxManifestBytes <= 0 {
		opts.MaxManifestBytes = 4 << 20
	}
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = 1000
	}
	if opts.PullFlushInterval <= 0 {
		opts.PullFlushInterval = time.Second
	}
	r := &Registry{opts: opts, log: opts.Logger}
	r.pulls = newPullRecorder(opts.Meta, opts.Logger, opts.PullFlushInterval)
	return r, nil
}

// ServeHTTP serves /v2/ and everything below it.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, err := parseRoute(req.URL.Path)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	if req = r.authorize(w, req, rt); req == nil {
		return
	}
	h, allowed := r.handler(rt, req.Method)
	if h == nil {
		w.Header().Set("Allow", allowed)
		r.fail(w, req, oci.Errorf(oci.CodeUnsupported, "method %s not allowed on %s", req.Method, req.URL.Path))
		return
	}
	if err := h(w, req, rt); err != nil {
		r.fail(w, req, err)
	}
}

// handlerFunc serves one route; a returned error has not been written yet.
type handlerFunc func(http.ResponseWriter, *http.Request, route) error

// handler picks the handler for a route and method, or returns nil and the
// methods that are allowed.
func (r *Registry) handler(rt route, method string) (handlerFunc, string) {
	type methods map[string]handlerFunc
	var ms methods
	allow := ""
	switch rt.kind {
	case routeBase:
		ms, allow = methods{http.MethodGet: r.getBase, http.MethodHead: r.getBase}, "GET, HEAD"
	case routeCatalog:
		ms, allow = methods{http.MethodGet: r.getCatalog, http.MethodHead: r.getCatalog}, "GET, HEAD"
	case routeTags:
		ms, allow = methods{http.MethodGet: r.getTags, http.MethodHead: r.getTags}, "GET, HEAD"
	case routeManifest:
		ms = methods{http.MethodGet: r.getManifest, http.MethodHead: r.getManifest,
			http.MethodPut: r.putManifest, http.MethodDelete: r.deleteManifest}
		allow = "GET, HEAD, PUT, DELETE"
	case routeBlob:
		ms = methods{http.MethodGet: r.getBlob, http.MethodHead: r.getBlob, http.MethodDelete: r.deleteBlob}
		allow = "GET, HEAD, DELETE"
	case routeUploadStart:
		ms, allow = methods{http.MethodPost: r.startUpload}, "POST"
	case routeUpload:
		ms = methods{http.MethodGet: r.uploadStatus, http.MethodPatch: r.patchUpload,
			http.MethodPut: r.putUpload, http.MethodDelete: r.cancelUpload}
		allow = "GET, PATCH, PUT, DELETE"
	case routeReferrers:
		ms, allow = methods{http.MethodGet: r.getReferrers, http.MethodHead: r.getReferrers}, "GET, HEAD"
	}
	return ms[method], allow
}

func (r *Registry) getBase(w http.ResponseWriter, req *http.Request, _ route) error {
	writeJSON(w, req, http.StatusOK, "application/json", []byte("{}"))
	return nil
}

// fail writes err as an OCI error and logs the ones that are the server's
// fault, since the client only sees a generic message for those.
func (r *Registry) fail(w http.ResponseWriter, req *http.Request, err error) {
	e := toOCI(err)
	if e.Status() >= 500 {
		r.log.ErrorContext(req.Context(), "registry request failed",
			slog.String("method", req.Method), slog.String("path", req.URL.Path), slog.Any("err", err))
	}
	oci.WriteError(w, e)
}

// Close flushes buffered state (pull times) to the metadata store and stops
// the background flusher. It is safe to call more than once.
func (r *Registry) Close(ctx context.Context) error { return r.pulls.close(ctx) }
