package server

import "strings"

// route is a bounded classification of a request path. Metrics are labelled
// with it instead of the raw path, whose cardinality clients control.
type route uint8

const (
	routeOther route = iota
	routeBase
	routeBlob
	routeBlobUpload
	routeManifest
	routeTags
	routeCatalog
	routeReferrers
	routeAPI
	routeHealth
	routeMetrics
	routeToken
	routeUI
	numRoutes
)

var routeNames = [numRoutes]string{
	routeOther:      "other",
	routeBase:       "base",
	routeBlob:       "blob",
	routeBlobUpload: "blob_upload",
	routeManifest:   "manifest",
	routeTags:       "tags",
	routeCatalog:    "catalog",
	routeReferrers:  "referrers",
	routeAPI:        "api",
	routeHealth:     "health",
	routeMetrics:    "metrics",
	routeToken:      "token",
	routeUI:         "ui",
}

func (r route) String() string { return routeNames[r] }

// registry reports whether the route is served by the /v2/ handler.
func (r route) registry() bool { return r >= routeBase && r <= routeReferrers }

// classify maps a path to its route without allocating. Repository names
// may contain any of the keywords ("blobs", "manifests", ...) as path
// components, so /v2/ paths are read from the right, as the router does.
func classify(path string) route {
	rest, ok := strings.CutPrefix(path, "/v2")
	if !ok {
		switch {
		case strings.HasPrefix(path, "/api/v1/"):
			return routeAPI
		case path == "/healthz" || path == "/readyz":
			return routeHealth
		case path == "/metrics":
			return routeMetrics
		case path == "/token":
			return routeToken
		case path == "/" || path == "/ui" || strings.HasPrefix(path, "/ui/") || strings.HasPrefix(path, "/auth/oidc/"):
			return routeUI
		}
		return routeOther
	}
	if rest == "" || rest == "/" {
		return routeBase
	}
	if rest[0] != '/' {
		return routeOther
	}
	rest = rest[1:]
	if rest == "_catalog" {
		return routeCatalog
	}
	if strings.HasSuffix(rest, "/tags/list") {
		return routeTags
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return routeOther
	}
	head, last := rest[:i], rest[i+1:]
	switch {
	case strings.HasSuffix(head, "/blobs/uploads"):
		return routeBlobUpload
	case strings.HasSuffix(head, "/blobs"):
		if last == "uploads" {
			return routeBlobUpload
		}
		return routeBlob
	case strings.HasSuffix(head, "/manifests"):
		return routeManifest
	case strings.HasSuffix(head, "/referrers"):
		return routeReferrers
	}
	return routeOther
}
