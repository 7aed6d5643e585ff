package remote

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// acrManifest is an image manifest as ACR serves it; its config is never
// fetched when the metadata API gives times.
const acrManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":10},"layers":[]}`

// Recorded shapes of GET /acr/v1/{repo}/_tags pages (docs/fleet.md):
// times with seven fractional digits, changeableAttributes per tag, the
// next page in a Link header relative to the registry.
const (
	acrTagsPage1 = `{"registry":"myreg.azurecr.io","imageName":"team/app","tags":[
 {"name":"v1","digest":"%s","createdTime":"2024-03-01T10:00:00.1234567Z","lastUpdateTime":"2024-03-01T10:00:00.1234567Z","signed":false,
  "changeableAttributes":{"deleteEnabled":true,"writeEnabled":true,"readEnabled":true,"listEnabled":true}},
 {"name":"v2","digest":"%s","createdTime":"2024-03-02T10:00:00Z","lastUpdateTime":"2024-04-05T08:30:00.5Z","signed":false,
  "changeableAttributes":{"deleteEnabled":false,"writeEnabled":true,"readEnabled":true,"listEnabled":true}}]}`
	acrTagsPage2 = `{"registry":"myreg.azurecr.io","imageName":"team/app","tags":[
 {"name":"v3","digest":"%s","createdTime":"2024-05-01T00:00:00Z","lastUpdateTime":"2024-05-01T00:00:00Z","signed":false,
  "changeableAttributes":{"deleteEnabled":true,"writeEnabled":true,"readEnabled":true,"listEnabled":true}}]}`
)

func TestACRMetadataSource(t *testing.T) {
	bodies := map[string]string{}
	var ds []digest.Digest
	for i := range 2 {
		b := fmt.Sprintf(acrManifest, i+1)
		d := digest.FromString(b)
		bodies[d.String()] = b
		ds = append(ds, d)
	}
	var requests, blobReads, tokenPosts, untags atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path == "/oauth2/token" {
			tokenPosts.Add(1)
			_ = r.ParseForm()
			if r.Form.Get("grant_type") != "refresh_token" || r.Form.Get("refresh_token") != "acr-refresh" || r.Form.Get("service") != "myreg.azurecr.io" {
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad grant"}]}`, http.StatusUnauthorized)
				return
			}
			fmt.Fprintf(w, `{"access_token":"acc-%s"}`, r.Form.Get("scope"))
			return
		}
		scope := scopeFor(r.Method, r.URL.Path)
		if r.Header.Get("Authorization") != "Bearer acc-"+scope {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/oauth2/token",service="myreg.azurecr.io",scope="%s"`, srv.URL, scope))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		switch {
		case r.URL.Path == "/acr/v1/team/app/_tags" && r.URL.Query().Get("last") == "":
			if r.URL.Query().Get("n") != "100" {
				t.Errorf("page size %q, want 100", r.URL.Query().Get("n"))
			}
			w.Header().Set("Link", `</acr/v1/team/app/_tags?last=v2&n=100&orderby=>; rel="next"`)
			fmt.Fprintf(w, acrTagsPage1, ds[0], ds[1])
		case r.URL.Path == "/acr/v1/team/app/_tags":
			fmt.Fprintf(w, acrTagsPage2, ds[1])
		case strings.HasPrefix(r.URL.Path, "/v2/team/app/manifests/"):
			ref := strings.TrimPrefix(r.URL.Path, "/v2/team/app/manifests/")
			b, ok := bodies[ref]
			if !ok {
				http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", ref)
			fmt.Fprint(w, b)
		case r.Method == http.MethodDelete && r.URL.Path == "/acr/v1/team/app/_tags/v1":
			untags.Add(1)
			w.WriteHeader(http.StatusAccepted)
		case strings.Contains(r.URL.Path, "/blobs/"):
			blobReads.Add(1)
			http.NotFound(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	c, err := New(srv.URL, Options{Credential: Credential{Username: ACRTokenUser, Password: "acr-refresh"}, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	s := NewRegistrySource(c, DeleteUntag, 2)
	s.UseACRMetadata()
	tags, err := s.Tags(context.Background(), "team/app")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name   string
		d      digest.Digest
		at     string
		locked bool
	}{
		{"v1", ds[0], "2024-03-01T10:00:00.1234567Z", false},
		{"v2", ds[1], "2024-04-05T08:30:00.5Z", true},
		{"v3", ds[1], "2024-05-01T00:00:00Z", false},
	}
	if len(tags) != len(want) {
		t.Fatalf("tags %+v", tags)
	}
	for i, w := range want {
		at, _ := time.Parse(time.RFC3339Nano, w.at)
		if g := tags[i]; g.Name != w.name || g.Digest != w.d || !g.PushedAt.Equal(at) || g.Locked != w.locked {
			t.Errorf("tag %d = %+v, want %+v", i, g, w)
		}
	}
	if blobReads.Load() != 0 {
		t.Errorf("%d config reads; the metadata API gave the times", blobReads.Load())
	}
	if s.TimeSource() != TimesACR || s.Unusable() != 0 {
		t.Errorf("time source %q, unusable %d", s.TimeSource(), s.Unusable())
	}
	ms, err := s.Manifests(context.Background(), "team/app")
	if err != nil || len(ms) != 2 {
		t.Fatalf("manifests %+v, %v", ms, err)
	}
	// Two pages, one manifest read per tag, and one token per scope (the
	// metadata scope and the pull scope) after each first 401.
	if tokenPosts.Load() != 2 {
		t.Errorf("%d token requests, want 2 (metadata_read, pull)", tokenPosts.Load())
	}
	t.Logf("%d requests in all", requests.Load())
	if err := s.DeleteTag(context.Background(), "team/app", "v1"); err != nil || untags.Load() != 1 {
		t.Errorf("untag through /acr/v1: %v, %d calls", err, untags.Load())
	}
}
