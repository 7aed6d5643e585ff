package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/storage"
)

func TestParseRoute(t *testing.T) {
	const dig = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		path string
		want route
		code oci.Code // expected error code, "" for success
	}{
		{path: "/v2/", want: route{kind: routeBase}},
		{path: "/v2", want: route{kind: routeBase}},
		{path: "/v2/_catalog", want: route{kind: routeCatalog}},
		{path: "/v2/a/tags/list", want: route{kind: routeTags, name: "a"}},
		{path: "/v2/a/b/c/tags/list", want: route{kind: routeTags, name: "a/b/c"}},
		{path: "/v2/a/manifests/latest", want: route{kind: routeManifest, name: "a", ref: "latest"}},
		{path: "/v2/a/b/manifests/" + dig, want: route{kind: routeManifest, name: "a/b", ref: dig}},
		{path: "/v2/a/blobs/" + dig, want: route{kind: routeBlob, name: "a", ref: dig}},
		{path: "/v2/a/blobs/uploads/", want: route{kind: routeUploadStart, name: "a"}},
		{path: "/v2/a/blobs/uploads", want: route{kind: routeUploadStart, name: "a"}},
		{path: "/v2/a/blobs/uploads/abc-123", want: route{kind: routeUpload, name: "a", ref: "abc-123"}},
		{path: "/v2/a/referrers/" + dig, want: route{kind: routeReferrers, name: "a", ref: dig}},
		// Names may contain the words of the API: the right-most match wins.
		{path: "/v2/blobs/manifests/x", want: route{kind: routeManifest, name: "blobs", ref: "x"}},
		{path: "/v2/a/manifests/b/manifests/x", want: route{kind: routeManifest, name: "a/manifests/b", ref: "x"}},
		{path: "/v2/a/blobs/uploads/blobs/" + dig, want: route{kind: routeBlob, name: "a/blobs/uploads", ref: dig}},
		{path: "/v2/tags/tags/list", want: route{kind: routeTags, name: "tags"}},
		{path: "/v2/A/manifests/x", code: oci.CodeNameInvalid},
		{path: "/v2/a//b/manifests/x", code: oci.CodeNameInvalid},
		{path: "/v2/a/manifests/", code: oci.CodeNameUnknown},
		{path: "/v2/a/blobs/", code: oci.CodeNameUnknown},
		{path: "/v2/manifests/x", code: oci.CodeNameUnknown},
		{path: "/v2/a", code: oci.CodeNameUnknown},
		{path: "/v2/a/unknown/x", code: oci.CodeNameUnknown},
		{path: "/other", code: oci.CodeNameUnknown},
		{path: "/v2/" + strings.Repeat("a/", 600) + "tags/list", code: oci.CodeNameUnknown},
		{path: "/v2/" + strings.Repeat("a", 256) + "/tags/list", code: oci.CodeNameInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.path[:min(len(tt.path), 60)], func(t *testing.T) {
			got, err := parseRoute(tt.path)
			if tt.code != "" {
				if err == nil {
					t.Fatalf("parseRoute(%q) = %+v, want error %s", tt.path, got, tt.code)
				}
				if e := toOCI(err); e.Code != tt.code || e.Status() >= 500 {
					t.Fatalf("parseRoute(%q) error = %v (status %d), want %s", tt.path, err, e.Status(), tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRoute(%q): %v", tt.path, err)
			}
			if got != tt.want {
				t.Fatalf("parseRoute(%q) = %+v, want %+v", tt.path, got, tt.want)
			}
		})
	}
}

func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/v2/", "/v2/_catalog", "/v2/a/b/tags/list", "/v2/a/manifests/latest",
		"/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/x", "/v2/a/referrers/sha256:00", "/v2/a/blobs/sha256:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, err := parseRoute(path)
		if err != nil {
			if s := toOCI(err).Status(); s >= 500 || s < 400 {
				t.Fatalf("parseRoute(%q): status %d for bad input", path, s)
			}
			return
		}
		switch rt.kind {
		case routeBase, routeCatalog:
			return
		}
		if !oci.ValidName(rt.name) {
			t.Fatalf("parseRoute(%q) accepted invalid name %q", path, rt.name)
		}
		if !strings.HasPrefix(path, "/v2/"+rt.name+"/") {
			t.Fatalf("parseRoute(%q): name %q is not the path's prefix", path, rt.name)
		}
		if rt.ref != "" && !strings.HasSuffix(path, "/"+rt.ref) {
			t.Fatalf("parseRoute(%q): ref %q is not the path's last segment", path, rt.ref)
		}
		if strings.Contains(rt.ref, "/") {
			t.Fatalf("parseRoute(%q): ref %q contains a slash", path, rt.ref)
		}
	})
}

func TestMethodNotAllowed(t *testing.T) {
	env := newEnv(t, Options{})
	r := env.do(http.MethodPost, "/v2/a/tags/list", nil)
	if r.status != http.StatusMethodNotAllowed || errCode(t, r.body) != string(oci.CodeUnsupported) {
		t.Fatalf("POST tags/list: status %d body %s, want 405 UNSUPPORTED", r.status, r.body)
	}
	if r.header.Get("Allow") == "" {
		t.Fatal("405 without an Allow header")
	}
}

func TestToOCI(t *testing.T) {
	tests := []struct {
		err    error
		code   oci.Code
		status int
	}{
		{fmt.Errorf("x: %w", storage.ErrUploadUnknown), oci.CodeBlobUploadUnknown, 404},
		{fmt.Errorf("x: %w", storage.ErrDigestMismatch), oci.CodeDigestInvalid, 400},
		{fmt.Errorf("x: %w", storage.ErrSizeMismatch), oci.CodeSizeInvalid, 400},
		{fmt.Errorf("x: %w", storage.ErrOffset), oci.CodeRangeInvalid, 416},
		{fmt.Errorf("x: %w", metadata.ErrRepoNotFound), oci.CodeNameUnknown, 404},
		{fmt.Errorf("x: %w", io.ErrUnexpectedEOF), oci.CodeBlobUploadInvalid, 400},
		{missing(fmt.Errorf("x: %w", metadata.ErrNotFound), oci.CodeManifestUnknown, "manifest"), oci.CodeManifestUnknown, 404},
		{missing(fmt.Errorf("x: %w", storage.ErrNotFound), oci.CodeBlobUnknown, "blob"), oci.CodeBlobUnknown, 404},
		{fmt.Errorf("x: %w", &metadata.MissingRefError{Digest: "sha256:00"}), oci.CodeManifestBlobUnknown, 400},
		{&http.MaxBytesError{Limit: 1}, oci.CodeManifestInvalid, 413},
		{errors.New("disk on fire"), oci.CodeInternal, 500},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			e := toOCI(tt.err)
			if e.Code != tt.code || e.Status() != tt.status {
				t.Fatalf("toOCI(%v) = %s/%d, want %s/%d", tt.err, e.Code, e.Status(), tt.code, tt.status)
			}
			if tt.code == oci.CodeInternal && strings.Contains(e.Message, "fire") {
				t.Fatalf("internal cause leaked to the client: %q", e.Message)
			}
		})
	}
}
