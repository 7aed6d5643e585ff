package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/scan/gate"
)

// GateService changes gates and keeps its cache in step; *gate.Gate is one.
type GateService interface {
	SetPolicy(ctx context.Context, p metadata.GatePolicy) (gate.Policy, error)
	DeletePolicy(ctx context.Context, pattern string) error
	AddException(ctx context.Context, e metadata.GateException) error
	DeleteException(ctx context.Context, pattern, id string) error
}

// Gates serves /api/v1/gates (docs/scanning.md#gates). Patterns hold
// slashes and stars, so they travel in bodies and query parameters, not
// in the path.
type Gates struct {
	store metadata.Gates
	svc   GateService
	api   *API
	now   func() time.Time
}

// NewGates returns the gate endpoints.
func NewGates(store metadata.Gates, svc GateService, a *API) *Gates {
	return &Gates{store: store, svc: svc, api: a, now: time.Now}
}

const (
	gatesPath      = "gates"
	exceptionsPath = "gates/exceptions"
)

// WithGates routes /api/v1/gates[/exceptions] to g and the rest to next.
func WithGates(next http.Handler, g *Gates) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch strings.TrimPrefix(r.URL.Path, Prefix) {
		case gatesPath, exceptionsPath:
			g.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// GateList is the body of GET /api/v1/gates.
type GateList struct {
	Gates []metadata.GatePolicy `json:"gates"`
}

// GateException is an entry of GET /api/v1/gates/exceptions.
type GateException struct {
	metadata.GateException
	// Expired exceptions are kept (for the record) but no longer apply.
	Expired bool `json:"expired"`
}

// GateExceptionList is the body of GET /api/v1/gates/exceptions.
type GateExceptionList struct {
	Exceptions []GateException `json:"exceptions"`
}

func (g *Gates) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var h func(http.ResponseWriter, *http.Request) error
	allow := "GET, PUT, DELETE"
	if strings.TrimPrefix(r.URL.Path, Prefix) == gatesPath {
		switch r.Method {
		case http.MethodGet:
			h = g.list
		case http.MethodPut:
			h = g.put
		case http.MethodDelete:
			h = g.delete
		}
	} else {
		allow = "GET, POST, DELETE"
		switch r.Method {
		case http.MethodGet:
			h = g.listExceptions
		case http.MethodPost:
			h = g.addException
		case http.MethodDelete:
			h = g.deleteException
		}
	}
	if h == nil {
		w.Header().Set("Allow", allow)
		g.api.fail(w, r, oci.Errorf(oci.CodeUnsupported, "method %s not allowed on %s", r.Method, r.URL.Path).WithStatus(http.StatusMethodNotAllowed))
		return
	}
	if err := h(w, r); err != nil {
		var inv *gate.InvalidError
		if errors.As(err, &inv) {
			err = badRequest("%v", inv)
		}
		g.api.fail(w, r, lifecycleError(err))
	}
}

func (g *Gates) list(w http.ResponseWriter, r *http.Request) error {
	all, err := g.store.ListGates(r.Context())
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, GateList{Gates: all})
}

// put creates or replaces the gate of body.pattern.
func (g *Gates) put(w http.ResponseWriter, r *http.Request) error {
	var body metadata.GatePolicy
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	p, err := g.svc.SetPolicy(r.Context(), metadata.GatePolicy{Pattern: body.Pattern, Quarantine: body.Quarantine,
		Severity: body.Severity, Unscanned: body.Unscanned, Unknown: body.Unknown})
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, p.Stored())
}

func (g *Gates) delete(w http.ResponseWriter, r *http.Request) error {
	pattern := r.URL.Query().Get("pattern")
	if pattern == "" {
		return badRequest("pattern: required")
	}
	if err := g.svc.DeletePolicy(r.Context(), pattern); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (g *Gates) listExceptions(w http.ResponseWriter, r *http.Request) error {
	all, err := g.store.ListGateExceptions(r.Context())
	if err != nil {
		return err
	}
	now := g.now()
	out := GateExceptionList{Exceptions: make([]GateException, 0, len(all))}
	for _, e := range all {
		out.Exceptions = append(out.Exceptions, GateException{GateException: e, Expired: !e.Expires.IsZero() && !now.Before(e.Expires)})
	}
	return writeJSONBody(w, http.StatusOK, out)
}

// ExceptionBody is the body of POST /api/v1/gates/exceptions.
type ExceptionBody struct {
	Pattern string    `json:"pattern"`
	ID      string    `json:"id"`
	Reason  string    `json:"reason"`
	Expires time.Time `json:"expires,omitzero"`
}

func (g *Gates) addException(w http.ResponseWriter, r *http.Request) error {
	var body ExceptionBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	e := metadata.GateException{Pattern: body.Pattern, ID: body.ID, Reason: body.Reason, Expires: body.Expires.UTC()}
	if body.Expires.IsZero() {
		e.Expires = time.Time{}
	}
	if err := g.svc.AddException(r.Context(), e); err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusCreated, e)
}

func (g *Gates) deleteException(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("pattern") == "" || q.Get("id") == "" {
		return badRequest("pattern and id: required")
	}
	if err := g.svc.DeleteException(r.Context(), q.Get("pattern"), q.Get("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
