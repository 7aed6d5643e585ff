package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// LifecycleStore is what the recycle bin and lock endpoints need;
// metadata.Store satisfies it.
type LifecycleStore interface {
	metadata.Trash
	metadata.Locks
	metadata.ImmutableRules
}

// Lifecycle serves /api/v1/trash, /api/v1/locks and
// /api/v1/immutable-rules (docs/lifecycle.md).
type Lifecycle struct {
	store LifecycleStore
	api   *API // for fail and page sizes
}

// NewLifecycle returns the lifecycle endpoints over store.
func NewLifecycle(store LifecycleStore, a *API) *Lifecycle {
	return &Lifecycle{store: store, api: a}
}

// WithLifecycle routes the lifecycle endpoints to lc and the rest to next.
func WithLifecycle(next http.Handler, lc *Lifecycle) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch strings.TrimPrefix(r.URL.Path, Prefix) {
		case "trash", "trash/restore", "trash/empty", "locks", "immutable-rules":
			lc.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// maxBody bounds a request body of these endpoints.
const maxBody = 64 << 10

func (lc *Lifecycle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	type route struct{ path, method string }
	handlers := map[route]func(http.ResponseWriter, *http.Request) error{
		{"trash", http.MethodGet}:              lc.listTrash,
		{"trash/restore", http.MethodPost}:     lc.restore,
		{"trash/empty", http.MethodPost}:       lc.empty,
		{"locks", http.MethodGet}:              lc.listLocks,
		{"locks", http.MethodPut}:              lc.setLock,
		{"locks", http.MethodDelete}:           lc.clearLock,
		{"immutable-rules", http.MethodGet}:    lc.listRules,
		{"immutable-rules", http.MethodPost}:   lc.addRule,
		{"immutable-rules", http.MethodDelete}: lc.deleteRule,
	}
	h := handlers[route{strings.TrimPrefix(r.URL.Path, Prefix), r.Method}]
	if h == nil {
		lc.api.fail(w, r, oci.Errorf(oci.CodeUnsupported, "method %s not allowed on %s", r.Method, r.URL.Path).WithStatus(http.StatusMethodNotAllowed))
		return
	}
	if err := h(w, r); err != nil {
		lc.api.fail(w, r, lifecycleError(err))
	}
}

// lifecycleError maps the store's sentinels to API errors.
func lifecycleError(err error) error {
	var oe *oci.Error
	switch {
	case errors.As(err, &oe):
		return oe
	case errors.Is(err, metadata.ErrConflict):
		return oci.Errorf(oci.CodeDenied, "%s", err.Error()).WithStatus(http.StatusConflict).Wrap(err)
	case errors.Is(err, metadata.ErrNotFound):
		return oci.Errorf(oci.CodeNameUnknown, "%s", err.Error()).WithStatus(http.StatusNotFound).Wrap(err)
	}
	return oci.AsError(err)
}

func badRequest(format string, args ...any) error {
	return oci.Errorf(oci.CodeUnsupported, format, args...).WithStatus(http.StatusBadRequest)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid request body: %v", err)
	}
	return nil
}

func writeJSONBody(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// TrashList is the body of GET /api/v1/trash.
type TrashList struct {
	Entries []metadata.TrashEntry `json:"entries"`
}

func (lc *Lifecycle) listTrash(w http.ResponseWriter, r *http.Request) error {
	repo := r.URL.Query().Get("repository")
	var out TrashList
	p := metadata.Page{N: lc.api.opts.MaxPageSize}
	// The bin is bounded by its retention period; it is listed whole.
	for range 1000 {
		page, err := lc.store.ListTrash(r.Context(), repo, p)
		if err != nil {
			return err
		}
		out.Entries = append(out.Entries, page...)
		if len(page) < p.N {
			break
		}
		p.Last = strconv.FormatInt(page[len(page)-1].ID, 10)
	}
	if out.Entries == nil {
		out.Entries = []metadata.TrashEntry{}
	}
	return writeJSONBody(w, http.StatusOK, out)
}

// RestoreRequest is the body of POST /api/v1/trash/restore: a tag or a
// digest of a repository.
type RestoreRequest struct {
	Repository string        `json:"repository"`
	Tag        string        `json:"tag,omitempty"`
	Digest     digest.Digest `json:"digest,omitempty"`
	Force      bool          `json:"force,omitempty"`
}

func (lc *Lifecycle) restore(w http.ResponseWriter, r *http.Request) error {
	var req RestoreRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if !oci.ValidName(req.Repository) || (req.Tag == "") == (req.Digest == "") {
		return badRequest("want a valid repository and exactly one of tag or digest")
	}
	if req.Digest != "" && req.Digest.Validate() != nil {
		return badRequest("invalid digest %.100q", req.Digest)
	}
	e, err := lc.store.Restore(r.Context(), req.Repository, req.Tag, req.Digest, req.Force)
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, e)
}

// EmptyRequest is the body of POST /api/v1/trash/empty.
type EmptyRequest struct {
	Repository string `json:"repository,omitempty"`
	// OlderThan is a Go duration; entries trashed longer ago go.
	OlderThan string `json:"olderThan"`
}

func (lc *Lifecycle) empty(w http.ResponseWriter, r *http.Request) error {
	var req EmptyRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	d, err := time.ParseDuration(req.OlderThan)
	if err != nil || d < 0 {
		return badRequest("olderThan: want a duration such as 0s or 168h")
	}
	n, err := lc.store.PurgeTrash(r.Context(), req.Repository, time.Now().Add(-d))
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, map[string]int{"purged": n})
}

// LockList is the body of GET /api/v1/locks.
type LockList struct {
	Locks []metadata.Lock `json:"locks"`
}

func (lc *Lifecycle) listLocks(w http.ResponseWriter, r *http.Request) error {
	ls, err := lc.store.ListLocks(r.Context(), r.URL.Query().Get("repository"))
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, LockList{Locks: ls})
}

func validLockRef(repo, tag string, d digest.Digest) error {
	if !oci.ValidName(repo) || (tag != "" && !oci.ValidTag(tag)) || (tag != "" && d != "") || (d != "" && d.Validate() != nil) {
		return badRequest("want a valid repository and at most one valid tag or digest")
	}
	return nil
}

func (lc *Lifecycle) setLock(w http.ResponseWriter, r *http.Request) error {
	var l metadata.Lock
	if err := decodeBody(r, &l); err != nil {
		return err
	}
	if err := validLockRef(l.Repo, l.Tag, l.Digest); err != nil {
		return err
	}
	if err := lc.store.SetLock(r.Context(), l); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (lc *Lifecycle) clearLock(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	repo, tag, d := q.Get("repository"), q.Get("tag"), digest.Digest(q.Get("digest"))
	if err := validLockRef(repo, tag, d); err != nil {
		return err
	}
	if err := lc.store.ClearLock(r.Context(), repo, tag, d); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// RuleList is the body of GET /api/v1/immutable-rules.
type RuleList struct {
	Rules []metadata.ImmutableRule `json:"rules"`
}

func (lc *Lifecycle) listRules(w http.ResponseWriter, r *http.Request) error {
	rules, err := lc.store.ListImmutableRules(r.Context())
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusOK, RuleList{Rules: rules})
}

// maxPattern bounds a rule's regular expression.
const maxPattern = 1024

func (lc *Lifecycle) addRule(w http.ResponseWriter, r *http.Request) error {
	var in metadata.ImmutableRule
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	for _, p := range []string{in.Repos, in.Tags} {
		if p == "" || len(p) > maxPattern {
			return badRequest("repositories and tags patterns are required (at most %d bytes)", maxPattern)
		}
		if _, err := regexp.Compile(p); err != nil {
			return badRequest("pattern %.100q: %v", p, err)
		}
	}
	rule, err := lc.store.AddImmutableRule(r.Context(), metadata.ImmutableRule{Repos: in.Repos, Tags: in.Tags})
	if err != nil {
		return err
	}
	return writeJSONBody(w, http.StatusCreated, rule)
}

func (lc *Lifecycle) deleteRule(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
	if err != nil {
		return badRequest("id: want a rule number")
	}
	if err := lc.store.DeleteImmutableRule(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

var _ LifecycleStore = metadata.Store(nil)
