// Package api serves Berth's management REST API under /api/v1: JSON views
// of what the registry holds that the OCI Distribution API cannot express,
// such as tags ordered by push time with their sizes and last pulls.
//
// Errors use the OCI envelope {"errors":[{"code","message"}]} so that one
// client decoder serves both APIs.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1/"

const (
	reposPrefix     = "repositories/"
	tagsSuffix      = "/tags"
	manifestsSuffix = "/manifests"
)

// Store is what the API reads; metadata.Store satisfies it.
type Store interface {
	RepoSummaries(ctx context.Context, p metadata.Page) ([]metadata.RepoSummary, error)
	TagDetails(ctx context.Context, repo string, order metadata.Order, p metadata.Page) ([]metadata.TagInfo, error)
	ListManifests(ctx context.Context, repo string, p metadata.Page) ([]metadata.ManifestInfo, error)
}

// Options configure an API.
type Options struct {
	// MaxPageSize caps the n parameter; 0 means 1000. It is also the
	// default page size when n is absent.
	MaxPageSize int
	// Logger receives errors the client only sees as INTERNAL_ERROR.
	Logger *slog.Logger
}

// API is the http.Handler of /api/v1/.
type API struct {
	store Store
	opts  Options
}

// New returns an API reading from store.
func New(store Store, opts Options) (*API, error) {
	if store == nil {
		return nil, errors.New("api: store is required")
	}
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{store: store, opts: opts}, nil
}

// ServeHTTP routes /api/v1/ requests. Repository names contain slashes, so
// the tags and manifests routes are recognised by their suffix rather than
// by a pattern: the last path component decides.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		a.fail(w, r, notFound(r.URL.Path))
		return
	}
	var h func(http.ResponseWriter, *http.Request) error
	switch {
	case rest == "repositories":
		h = a.listRepositories
	case len(rest) >= len(reposPrefix)+len(tagsSuffix) &&
		strings.HasPrefix(rest, reposPrefix) && strings.HasSuffix(rest, tagsSuffix):
		// The length check keeps "repositories/tags" from reading as the
		// tags of a repository named "tags".
		name := rest[len(reposPrefix) : len(rest)-len(tagsSuffix)]
		h = func(w http.ResponseWriter, r *http.Request) error { return a.listTags(w, r, name) }
	case len(rest) >= len(reposPrefix)+len(manifestsSuffix) &&
		strings.HasPrefix(rest, reposPrefix) && strings.HasSuffix(rest, manifestsSuffix):
		name := rest[len(reposPrefix) : len(rest)-len(manifestsSuffix)]
		h = func(w http.ResponseWriter, r *http.Request) error { return a.listManifests(w, r, name) }
	default:
		a.fail(w, r, notFound(r.URL.Path))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		a.fail(w, r, oci.Errorf(oci.CodeUnsupported, "method %s not allowed", r.Method))
		return
	}
	if err := h(w, r); err != nil {
		a.fail(w, r, err)
	}
}

func notFound(path string) *oci.Error {
	return oci.Errorf(oci.CodeUnsupported, "no API endpoint at %s", path).WithStatus(http.StatusNotFound)
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e := oci.AsError(err); e.Code == oci.CodeInternal {
		a.opts.Logger.ErrorContext(r.Context(), "api request failed", "path", r.URL.Path, "err", err)
	}
	oci.WriteError(w, err)
}

// Repository is one entry of GET /api/v1/repositories.
type Repository struct {
	Name          string    `json:"name"`
	TagCount      int       `json:"tagCount"`
	ManifestCount int       `json:"manifestCount"`
	Size          int64     `json:"size"`
	Updated       time.Time `json:"updated"`
}

// RepositoryList is the body of GET /api/v1/repositories.
type RepositoryList struct {
	Repositories []Repository `json:"repositories"`
	// Next is the URL of the next page, or "" on the last page.
	Next string `json:"next,omitempty"`
}

func (a *API) listRepositories(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	n, err := a.pageSize(q)
	if err != nil {
		return err
	}
	last := q.Get("last")
	if last != "" && !oci.ValidName(last) {
		return oci.Errorf(oci.CodeNameInvalid, "last: invalid repository name")
	}
	// One extra entry tells whether another page follows without a second query.
	sums, err := a.store.RepoSummaries(r.Context(), metadata.Page{Last: last, N: n + 1})
	if err != nil {
		return oci.AsError(err)
	}
	out := RepositoryList{Repositories: make([]Repository, 0, min(len(sums), n))}
	for i, s := range sums {
		if i == n {
			out.Next = nextURL(r.URL, n, out.Repositories[n-1].Name)
			break
		}
		out.Repositories = append(out.Repositories, Repository{
			Name: s.Name, TagCount: s.TagCount, ManifestCount: s.Manifests, Size: s.Size, Updated: s.Updated.UTC(),
		})
	}
	return writeJSON(w, r, out)
}

// Tag is one entry of GET /api/v1/repositories/{name}/tags.
type Tag struct {
	Name        string    `json:"name"`
	Digest      string    `json:"digest"`
	MediaType   string    `json:"mediaType"`
	Size        int64     `json:"size"`
	FirstPushed time.Time `json:"firstPushed"`
	Updated     time.Time `json:"updated"`
	// LastPulled is null if the tag's manifest was never pulled.
	LastPulled *time.Time `json:"lastPulled"`
}

// TagList is the body of GET /api/v1/repositories/{name}/tags.
type TagList struct {
	Repository string `json:"repository"`
	OrderBy    string `json:"orderby"`
	Tags       []Tag  `json:"tags"`
	Next       string `json:"next,omitempty"`
}

var orders = map[string]metadata.Order{
	"name":      metadata.OrderName,
	"time_asc":  metadata.OrderTimeAsc,
	"time_desc": metadata.OrderTimeDesc,
}

func (a *API) listTags(w http.ResponseWriter, r *http.Request, name string) error {
	if !oci.ValidName(name) {
		return oci.Errorf(oci.CodeNameInvalid, "invalid repository name")
	}
	q := r.URL.Query()
	n, err := a.pageSize(q)
	if err != nil {
		return err
	}
	orderBy := q.Get("orderby")
	if orderBy == "" {
		orderBy = "name"
	}
	order, ok := orders[orderBy]
	if !ok {
		return badParam("orderby: want name, time_asc or time_desc")
	}
	last := q.Get("last")
	if last != "" && !oci.ValidTag(last) {
		return badParam("last: invalid tag")
	}
	tags, err := a.store.TagDetails(r.Context(), name, order, metadata.Page{Last: last, N: n + 1})
	if errors.Is(err, metadata.ErrRepoNotFound) {
		return oci.Errorf(oci.CodeNameUnknown, "repository %s not known", name).Wrap(err)
	}
	if errors.Is(err, metadata.ErrNotFound) && last != "" {
		return badParam("last: no tag " + last + " in the repository")
	}
	if err != nil {
		return oci.AsError(err)
	}
	out := TagList{Repository: name, OrderBy: orderBy, Tags: make([]Tag, 0, min(len(tags), n))}
	for i, t := range tags {
		if i == n {
			out.Next = nextURL(r.URL, n, out.Tags[n-1].Name)
			break
		}
		tag := Tag{
			Name: t.Name, Digest: t.Digest.String(), MediaType: t.MediaType, Size: t.Size,
			FirstPushed: t.FirstPushed.UTC(), Updated: t.Updated.UTC(),
		}
		if !t.LastPulledAt.IsZero() {
			lp := t.LastPulledAt.UTC()
			tag.LastPulled = &lp
		}
		out.Tags = append(out.Tags, tag)
	}
	return writeJSON(w, r, out)
}

// pageSize reads n: absent means the maximum, anything else must be 1..max.
func (a *API) pageSize(q url.Values) (int, error) {
	s := q.Get("n")
	if s == "" {
		return a.opts.MaxPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > a.opts.MaxPageSize {
		return 0, badParam("n: want an integer from 1 to " + strconv.Itoa(a.opts.MaxPageSize))
	}
	return n, nil
}

func badParam(msg string) *oci.Error {
	// PAGINATION_NUMBER_INVALID and friends are not in the shared table;
	// UNSUPPORTED would say 405, so a 400 with a precise message it is.
	return &oci.Error{Code: "PARAMETER_INVALID", Message: msg, HTTPStatus: http.StatusBadRequest}
}

// nextURL is the link to the page that follows the entry named last.
func nextURL(u *url.URL, n int, last string) string {
	q := u.Query()
	q.Set("n", strconv.Itoa(n))
	q.Set("last", last)
	next := url.URL{Path: u.Path, RawQuery: q.Encode()}
	return next.String()
}

func writeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep & in next links readable
	if err := enc.Encode(v); err != nil {
		return err
	}
	body := buf.Bytes()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if next := nextOf(v); next != "" {
		w.Header().Set("Link", "<"+next+`>; rel="next"`)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return nil
}

func nextOf(v any) string {
	switch v := v.(type) {
	case RepositoryList:
		return v.Next
	case TagList:
		return v.Next
	case ManifestList:
		return v.Next
	}
	return ""
}
