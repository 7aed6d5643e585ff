package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/gc"
	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// GCService runs and lists garbage collections; *gc.Service is one.
type GCService interface {
	Run(ctx context.Context, opts gc.Options) (gc.Result, error)
	Runs(ctx context.Context, n int) ([]metadata.GCRun, error)
	Grace() time.Duration
}

// UsageMeter measures storage usage; quota.Meter is one.
type UsageMeter interface {
	// Usage is the cheap measure, from metadata.
	Usage(ctx context.Context) (quota.Report, error)
	// Exact walks the blob store (GET /api/v1/usage?exact=true).
	Exact(ctx context.Context) (quota.Report, error)
}

// Storage serves POST /api/v1/gc, GET /api/v1/gc/runs and GET
// /api/v1/usage (docs/gc.md).
type Storage struct {
	gc    GCService
	usage UsageMeter
	api   *API // for fail
}

// NewStorage returns the storage endpoints.
func NewStorage(svc GCService, usage UsageMeter, a *API) *Storage {
	return &Storage{gc: svc, usage: usage, api: a}
}

// WithStorage routes the storage endpoints to s and the rest to next.
func WithStorage(next http.Handler, s *Storage) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch strings.TrimPrefix(r.URL.Path, Prefix) {
		case "gc", "gc/runs", "usage":
			s.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *Storage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var (
		h     func(http.ResponseWriter, *http.Request) error
		allow string
	)
	switch path := strings.TrimPrefix(r.URL.Path, Prefix); {
	case path == "gc" && r.Method == http.MethodPost:
		h = s.runGC
	case path == "gc":
		allow = http.MethodPost
	case path == "gc/runs" && r.Method == http.MethodGet:
		h = s.listRuns
	case path == "usage" && r.Method == http.MethodGet:
		h = s.getUsage
	default:
		allow = http.MethodGet
	}
	if h == nil {
		w.Header().Set("Allow", allow)
		s.api.fail(w, r, oci.Errorf(oci.CodeUnsupported, "method %s not allowed", r.Method).WithStatus(http.StatusMethodNotAllowed))
		return
	}
	if err := h(w, r); err != nil {
		s.api.fail(w, r, err)
	}
}

// runGC runs a collection now: ?dry_run=true reports only, ?grace=30m
// overrides the configured grace period.
func (s *Storage) runGC(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	opts := gc.Options{Grace: s.gc.Grace()}
	if v := q.Get("dry_run"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("dry_run: want true or false")
		}
		opts.DryRun = b
	}
	if v := q.Get("grace"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return badRequest("grace: want a duration such as 1h")
		}
		opts.Grace = d
	}
	res, err := s.gc.Run(r.Context(), opts)
	if errors.Is(err, gc.ErrBusy) {
		return oci.Errorf(oci.CodeTooManyRequests, "garbage collection already running").WithStatus(http.StatusConflict)
	}
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, res)
}

// GCRunList is the body of GET /api/v1/gc/runs.
type GCRunList struct {
	Runs []metadata.GCRun `json:"runs"`
}

func (s *Storage) listRuns(w http.ResponseWriter, r *http.Request) error {
	n, err := s.api.pageSize(r.URL.Query())
	if err != nil {
		return err
	}
	runs, err := s.gc.Runs(r.Context(), n)
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, GCRunList{Runs: runs})
}

func (s *Storage) getUsage(w http.ResponseWriter, r *http.Request) error {
	measure := s.usage.Usage
	if v := r.URL.Query().Get("exact"); v != "" {
		exact, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("exact: want true or false")
		}
		if exact {
			measure = s.usage.Exact
		}
	}
	rep, err := measure(r.Context())
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, rep)
}
