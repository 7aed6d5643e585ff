package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/lifecycle/policy"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// PolicyStore keeps retention policies and their runs; metadata/sqlite's
// Store is one.
type PolicyStore interface {
	metadata.RetentionPolicies
	metadata.RetentionRuns
}

// PolicyRunner runs a stored policy now; *policy.Runner is one.
type PolicyRunner interface {
	Run(ctx context.Context, name string, dryRun bool) (*policy.Report, error)
}

// Policies serves /api/v1/policies (docs/retention.md).
type Policies struct {
	store  PolicyStore
	runner PolicyRunner
	api    *API // for fail and page sizes
}

// NewPolicies returns the policy endpoints.
func NewPolicies(store PolicyStore, runner PolicyRunner, a *API) *Policies {
	return &Policies{store: store, runner: runner, api: a}
}

const policiesPath = "policies"

// WithPolicies routes /api/v1/policies[/…] to p and the rest to next.
func WithPolicies(next http.Handler, p *Policies) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, Prefix)
		if rest == policiesPath || strings.HasPrefix(rest, policiesPath+"/") {
			p.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// PolicyBody is the body of PUT /api/v1/policies/{name} and an entry of
// the listings. Enabled defaults to true on PUT.
type PolicyBody struct {
	Name     string          `json:"name,omitempty"`
	Policy   json.RawMessage `json:"policy"`
	Schedule string          `json:"schedule,omitempty"`
	Enabled  *bool           `json:"enabled,omitempty"`
}

// PolicyList is the body of GET /api/v1/policies.
type PolicyList struct {
	Policies []metadata.RetentionPolicy `json:"policies"`
}

// PolicyRunList is the body of GET /api/v1/policies/{name}/runs.
type PolicyRunList struct {
	Runs []metadata.RetentionRun `json:"runs"`
}

func (p *Policies) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, Prefix), policiesPath)
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	var (
		h     func(http.ResponseWriter, *http.Request) error
		allow string
	)
	switch {
	case rest == "":
		allow = http.MethodGet
		if r.Method == http.MethodGet {
			h = p.list
		}
	case len(parts) == 1 && policy.ValidName(parts[0]):
		allow = "GET, PUT, DELETE"
		switch r.Method {
		case http.MethodGet:
			h = func(w http.ResponseWriter, r *http.Request) error { return p.get(w, r, parts[0]) }
		case http.MethodPut:
			h = func(w http.ResponseWriter, r *http.Request) error { return p.put(w, r, parts[0]) }
		case http.MethodDelete:
			h = func(w http.ResponseWriter, r *http.Request) error { return p.delete(w, r, parts[0]) }
		}
	case len(parts) == 2 && parts[1] == "run" && policy.ValidName(parts[0]):
		allow = http.MethodPost
		if r.Method == http.MethodPost {
			h = func(w http.ResponseWriter, r *http.Request) error { return p.run(w, r, parts[0]) }
		}
	case len(parts) == 2 && parts[1] == "runs" && policy.ValidName(parts[0]):
		allow = http.MethodGet
		if r.Method == http.MethodGet {
			h = func(w http.ResponseWriter, r *http.Request) error { return p.runs(w, r, parts[0]) }
		}
	default:
		p.api.fail(w, r, notFound(r.URL.Path))
		return
	}
	if h == nil {
		w.Header().Set("Allow", allow)
		p.api.fail(w, r, oci.Errorf(oci.CodeUnsupported, "method %s not allowed on %s", r.Method, r.URL.Path).WithStatus(http.StatusMethodNotAllowed))
		return
	}
	if err := h(w, r); err != nil {
		p.api.fail(w, r, lifecycleError(err))
	}
}

func (p *Policies) list(w http.ResponseWriter, r *http.Request) error {
	all, err := p.store.ListRetentionPolicies(r.Context())
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, PolicyList{Policies: all})
}

func (p *Policies) get(w http.ResponseWriter, r *http.Request, name string) error {
	got, err := p.store.RetentionPolicy(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, got)
}

// put creates or replaces a policy after validating its name, schedule
// and rules; the stored JSON is the policy as the engine reads it back.
func (p *Policies) put(w http.ResponseWriter, r *http.Request, name string) error {
	var body PolicyBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Name != "" && body.Name != name {
		return badRequest("name %q in the body differs from %q in the path", body.Name, name)
	}
	if len(body.Policy) == 0 {
		return badRequest("policy: required")
	}
	pol, err := policy.Decode(name, body.Policy)
	if err == nil {
		err = policy.Validate(name, body.Schedule, pol)
	}
	if err != nil {
		return badRequest("%v", err)
	}
	pol.Name = ""
	raw, err := json.Marshal(pol)
	if err != nil {
		return err
	}
	stored := metadata.RetentionPolicy{Name: name, Policy: raw, Schedule: body.Schedule, Enabled: body.Enabled == nil || *body.Enabled}
	if err := p.store.PutRetentionPolicy(r.Context(), stored); err != nil {
		return err
	}
	got, err := p.store.RetentionPolicy(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, got)
}

func (p *Policies) delete(w http.ResponseWriter, r *http.Request, name string) error {
	if err := p.store.DeleteRetentionPolicy(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// run runs a policy now; ?dry_run=true returns the plan and changes
// nothing. The body is the policy.Report, plan included.
func (p *Policies) run(w http.ResponseWriter, r *http.Request, name string) error {
	dry := false
	if v := r.URL.Query().Get("dry_run"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("dry_run: want true or false")
		}
		dry = b
	}
	rep, err := p.runner.Run(r.Context(), name, dry)
	var fe *retention.FieldError
	switch {
	case errors.As(err, &fe):
		return badRequest("stored policy is invalid: %v", err)
	case err != nil && rep == nil:
		return err
	}
	// A run that failed part way still reports what it did; the error is
	// in rep.Run.Error.
	return writeJSONBody(w, http.StatusOK, rep)
}

func (p *Policies) runs(w http.ResponseWriter, r *http.Request, name string) error {
	n, err := p.api.pageSize(r.URL.Query())
	if err != nil {
		return err
	}
	if _, err := p.store.RetentionPolicy(r.Context(), name); err != nil {
		return err
	}
	runs, err := p.store.RetentionRuns(r.Context(), name, n)
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, PolicyRunList{Runs: runs})
}
