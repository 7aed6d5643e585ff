package registry

import (
	"net/http"
)

// Authorizer decides whether a request may act on a repository. It is
// optional: without one every request is allowed.
//
// repo is the repository name and action one of "pull", "push" or
// "delete"; the catalog asks with repo "" and action "catalog", and the
// base endpoint /v2/ with both empty (any authenticated client).
type Authorizer interface {
	// Allowed reports whether r may perform action on repo; it writes
	// nothing.
	Allowed(r *http.Request, repo, action string) bool
	// Refuse answers r, which may not perform action on repo: a 401 with
	// a challenge or a 403, as the Authorizer alone can tell.
	Refuse(w http.ResponseWriter, r *http.Request, repo, action string)
}

// Registry actions, as in registry token scopes.
const (
	actionPull    = "pull"
	actionPush    = "push"
	actionDelete  = "delete"
	actionCatalog = "catalog"
)

// authorize asks the Authorizer about rt. It returns the request to serve
// (a cross-repository mount from a repository the client may not pull
// becomes a plain upload) or nil once the refusal is written.
func (r *Registry) authorize(w http.ResponseWriter, req *http.Request, rt route) *http.Request {
	a := r.opts.Authorizer
	if a == nil {
		return req
	}
	repo, action := rt.name, actionOf(req.Method)
	switch rt.kind {
	case routeBase:
		repo, action = "", ""
	case routeCatalog:
		repo, action = "", actionCatalog
	case routeUploadStart, routeUpload:
		// Every upload step, status and cancel included, is part of a push.
		action = actionPush
	}
	if !a.Allowed(req, repo, action) {
		a.Refuse(w, req, repo, action)
		return nil
	}
	if rt.kind == routeUploadStart {
		q := req.URL.Query()
		if q.Has("mount") && !a.Allowed(req, q.Get("from"), actionPull) {
			// Mounting would copy a blob out of a repository the client
			// may not read; the spec's fallback is a regular upload.
			q.Del("mount")
			q.Del("from")
			req = req.Clone(req.Context())
			req.URL.RawQuery = q.Encode()
		}
	}
	return req
}

func actionOf(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return actionPull
	case http.MethodDelete:
		return actionDelete
	}
	return actionPush
}
