package remote

import (
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
)

// ImageRef is an image named as REGISTRY/REPOSITORY[:TAG|@DIGEST], where
// REGISTRY is a URL (http://127.0.0.1:5000) or a host, which means https.
type ImageRef struct {
	// Registry is the base URL, with its scheme.
	Registry string
	Repo     string
	// Ref is the tag or the digest; empty when none was given.
	Ref string
}

// String is the reference as a person writes it.
func (r ImageRef) String() string {
	s := r.Registry + "/" + r.Repo
	switch {
	case r.Ref == "":
	case oci.IsDigest(r.Ref):
		s += "@" + r.Ref
	default:
		s += ":" + r.Ref
	}
	return s
}

// ParseImageRef parses REGISTRY/REPOSITORY[:TAG|@DIGEST].
func ParseImageRef(s string) (ImageRef, error) {
	scheme := "https://"
	rest := s
	if i := strings.Index(rest, "://"); i >= 0 {
		scheme, rest = rest[:i+3], rest[i+3:]
		if scheme != "http://" && scheme != "https://" {
			return ImageRef{}, fmt.Errorf("%q: want an http or https registry", s)
		}
	}
	host, path, ok := strings.Cut(rest, "/")
	path = strings.Trim(path, "/")
	if !ok || host == "" || path == "" || strings.ContainsAny(host, "@?#") {
		return ImageRef{}, fmt.Errorf("%q: want REGISTRY/REPOSITORY[:TAG|@DIGEST]", s)
	}
	r := ImageRef{Registry: scheme + host, Repo: path}
	if i := strings.Index(path, "@"); i >= 0 {
		d, err := oci.ParseDigest(path[i+1:])
		if err != nil {
			return ImageRef{}, fmt.Errorf("%q: %w", s, err)
		}
		r.Repo, r.Ref = path[:i], d.String()
	} else if i := strings.LastIndex(path, ":"); i >= 0 {
		r.Repo, r.Ref = path[:i], path[i+1:]
		if !oci.ValidTag(r.Ref) {
			return ImageRef{}, fmt.Errorf("%q: invalid tag %q", s, r.Ref)
		}
	}
	if !oci.ValidName(r.Repo) {
		return ImageRef{}, fmt.Errorf("%q: invalid repository name %q", s, r.Repo)
	}
	return r, nil
}
