package registry

import (
	"strings"

	"github.com/berth-registry/berth/internal/oci"
)

type routeKind int

const (
	routeBase        routeKind = iota + 1 // /v2/
	routeCatalog                          // /v2/_catalog
	routeTags                             // /v2/<name>/tags/list
	routeManifest                         // /v2/<name>/manifests/<reference>
	routeBlob                             // /v2/<name>/blobs/<digest>
	routeUploadStart                      // /v2/<name>/blobs/uploads/
	routeUpload                           // /v2/<name>/blobs/uploads/<id>
	routeReferrers                        // /v2/<name>/referrers/<digest>
)

// route is a parsed /v2/ path. Ref is the manifest reference, blob or
// subject digest, or upload ID, unvalidated except for the name.
type route struct {
	kind routeKind
	name string
	ref  string
}

// maxPathLen bounds the work done on a path; a name is at most 255 bytes,
// a reference at most a sha512 digest.
const maxPathLen = 1024

// parseRoute parses a path under /v2/. Repository names contain slashes, so
// the path is read from the right: the last one or two segments say what is
// addressed and everything before them is the name.
func parseRoute(path string) (route, error) {
	if path == "/v2" || path == "/v2/" {
		return route{kind: routeBase}, nil
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok || len(path) > maxPathLen {
		return route{}, errNoRoute(path)
	}
	if rest == "_catalog" {
		return route{kind: routeCatalog}, nil
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return route{}, errNoRoute(path)
	}
	head, last := rest[:i], rest[i+1:]
	var rt route
	switch {
	case last == "list" && cutName(head, "/tags", &rt.name):
		rt.kind = routeTags
	case cutName(head, "/manifests", &rt.name):
		rt.kind, rt.ref = routeManifest, last
	case cutName(head, "/referrers", &rt.name):
		rt.kind, rt.ref = routeReferrers, last
	case cutName(head, "/blobs/uploads", &rt.name):
		rt.kind, rt.ref = routeUpload, last
		if last == "" {
			rt.kind = routeUploadStart
		}
	case last == "uploads" && cutName(head, "/blobs", &rt.name):
		rt.kind = routeUploadStart
	case cutName(head, "/blobs", &rt.name):
		rt.kind, rt.ref = routeBlob, last
	default:
		return route{}, errNoRoute(path)
	}
	if rt.kind != routeTags && rt.kind != routeUploadStart && rt.ref == "" {
		return route{}, errNoRoute(path)
	}
	if !oci.ValidName(rt.name) {
		return route{}, oci.Errorf(oci.CodeNameInvalid, "invalid repository name %q", rt.name)
	}
	return rt, nil
}

// cutName stores in name what precedes suffix in s, if s ends with it and
// something precedes it.
func cutName(s, suffix string, name *string) bool {
	n, ok := strings.CutSuffix(s, suffix)
	if !ok || n == "" {
		return false
	}
	*name = n
	return true
}

func errNoRoute(path string) error {
	return oci.Errorf(oci.CodeNameUnknown, "no route for %.128q", path).WithStatus(404)
}
