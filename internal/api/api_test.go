package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/oci"
)

// fixture is a real sqlite store behind a real HTTP server.
type fixture struct {
	store *sqlite.Store
	srv   *httptest.Server
}

func newFixture(t *testing.T, maxPage int) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "berth.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, err := New(st, Options{MaxPageSize: maxPage})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &fixture{store: st, srv: srv}
}

// push stores a one-layer image manifest in repo under tag.
func (f *fixture) push(t *testing.T, repo, tag string, layerSize int64) digest.Digest {
	t.Helper()
	ctx := context.Background()
	layer := digest.FromString(repo + tag + "layer")
	if err := f.store.LinkBlob(ctx, repo, layer, layerSize); err != nil {
		t.Fatal(err)
	}
	content := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"layers":[{"digest":%q}],"tag":%q}`,
		oci.MediaTypeImageManifest, layer, tag))
	m := &metadata.Manifest{
		Repo: repo, Digest: digest.FromBytes(content), MediaType: oci.MediaTypeImageManifest,
		Size: int64(len(content)), Content: content, Blobs: []digest.Digest{layer},
	}
	if err := f.store.PutManifest(ctx, m, []string{tag}); err != nil {
		t.Fatal(err)
	}
	return m.Digest
}

func (f *fixture) get(t *testing.T, path string, out any) (int, http.Header) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: decoding %q: %v", path, body, err)
	}
	return resp.StatusCode, resp.Header
}

func TestRepositories(t *testing.T) {
	f := newFixture(t, 2)
	f.push(t, "library/alpine", "3.20", 100)
	f.push(t, "library/alpine", "latest", 100)
	f.push(t, "app", "v1", 10)
	f.push(t, "zeta/x", "v1", 10)

	var page1 RepositoryList
	code, h := f.get(t, "/api/v1/repositories", &page1)
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if len(page1.Repositories) != 2 || page1.Repositories[0].Name != "app" || page1.Repositories[1].Name != "library/alpine" {
		t.Fatalf("page 1 = %+v", page1.Repositories)
	}
	alp := page1.Repositories[1]
	if alp.TagCount != 2 || alp.ManifestCount != 2 || alp.Size <= 200 || alp.Updated.IsZero() {
		t.Errorf("library/alpine summary = %+v", alp)
	}
	wantNext := "/api/v1/repositories?last=library%2Falpine&n=2"
	if page1.Next != wantNext || h.Get("Link") != "<"+wantNext+`>; rel="next"` {
		t.Errorf("next = %q, Link = %q", page1.Next, h.Get("Link"))
	}

	var page2 RepositoryList
	f.get(t, page1.Next, &page2)
	if len(page2.Repositories) != 1 || page2.Repositories[0].Name != "zeta/x" || page2.Next != "" {
		t.Errorf("page 2 = %+v", page2)
	}
}

func TestRepositoriesEmpty(t *testing.T) {
	f := newFixture(t, 0)
	var got RepositoryList
	if code, _ := f.get(t, "/api/v1/repositories", &got); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if got.Repositories == nil || len(got.Repositories) != 0 {
		t.Errorf("want an empty list, got %+v", got.Repositories)
	}
}

func TestTagsOrder(t *testing.T) {
	f := newFixture(t, 100)
	dB := f.push(t, "team/app", "b", 1)
	f.push(t, "team/app", "a", 2)
	f.push(t, "team/app", "c", 3)
	if err := f.store.RecordPulls(context.Background(), []metadata.Pull{{Repo: "team/app", Digest: dB, At: time.Now().UTC()}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"a", "b", "c"}},
		{"?orderby=name", []string{"a", "b", "c"}},
		{"?orderby=time_asc", []string{"b", "a", "c"}},
		{"?orderby=time_desc", []string{"c", "a", "b"}},
		{"?orderby=time_asc&n=1&last=b", []string{"a"}},
		{"?orderby=time_desc&n=2", []string{"c", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var got TagList
			if code, _ := f.get(t, "/api/v1/repositories/team/app/tags"+tt.query, &got); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			var names []string
			for _, tag := range got.Tags {
				names = append(names, tag.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Errorf("tags = %v, want %v", names, tt.want)
			}
			if got.Repository != "team/app" {
				t.Errorf("repository = %q", got.Repository)
			}
		})
	}

	var all TagList
	f.get(t, "/api/v1/repositories/team/app/tags", &all)
	for _, tag := range all.Tags {
		if !strings.HasPrefix(tag.Digest, "sha256:") || tag.MediaType != oci.MediaTypeImageManifest || tag.Size <= 0 || tag.FirstPushed.IsZero() {
			t.Errorf("tag %+v incomplete", tag)
		}
		if pulled := tag.LastPulled != nil; pulled != (tag.Name == "b") {
			t.Errorf("tag %s lastPulled = %v", tag.Name, tag.LastPulled)
		}
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t, 10)
	f.push(t, "app", "v1", 1)
	tests := []struct {
		path   string
		status int
		code   oci.Code
	}{
		{"/api/v1/repositories?n=0", 400, "PARAMETER_INVALID"},
		{"/api/v1/repositories?n=11", 400, "PARAMETER_INVALID"},
		{"/api/v1/repositories?n=ten", 400, "PARAMETER_INVALID"},
		{"/api/v1/repositories?last=UPPER", 400, oci.CodeNameInvalid},
		{"/api/v1/repositories/app/tags?orderby=size", 400, "PARAMETER_INVALID"},
		{"/api/v1/repositories/app/tags?n=-1", 400, "PARAMETER_INVALID"},
		{"/api/v1/repositories/app/tags?last=bad:tag", 400, "PARAMETER_INVALID"},
		{"/api/v1/repositories/app/tags?orderby=time_asc&last=nope", 400, "PARAMETER_INVALID"},
		{"/api/v1/repositories/Bad..Name/tags", 400, oci.CodeNameInvalid},
		{"/api/v1/repositories//tags", 400, oci.CodeNameInvalid},
		{"/api/v1/repositories/missing/tags", 404, oci.CodeNameUnknown},
		{"/api/v1/nothing", 404, oci.CodeUnsupported},
		{"/api/v1/repositories/app", 404, oci.CodeUnsupported},
		{"/api/v1/repositories/tags", 404, oci.CodeUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var got oci.Errors
			code, _ := f.get(t, tt.path, &got)
			if code != tt.status {
				t.Errorf("status = %d, want %d", code, tt.status)
			}
			if len(got.Errors) != 1 || got.Errors[0].Code != tt.code || got.Errors[0].Message == "" {
				t.Errorf("errors = %+v, want one %s", got.Errors, tt.code)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t, 10)
	resp, err := http.Post(f.srv.URL+"/api/v1/repositories", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestNewRequiresStore(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestHeadAndRawBody(t *testing.T) {
	f := newFixture(t, 1)
	f.push(t, "a", "v1", 1)
	f.push(t, "b", "v1", 1)
	resp, err := http.Head(f.srv.URL + "/api/v1/repositories")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Link") == "" {
		t.Errorf("HEAD: status %d, %d body bytes, Link %q", resp.StatusCode, len(body), resp.Header.Get("Link"))
	}
	resp, err = http.Get(f.srv.URL + "/api/v1/repositories")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	// The next link is sent as written, not with & escaped as \u0026.
	if !strings.Contains(string(body), `"next":"/api/v1/repositories?last=a&n=1"`) {
		t.Errorf("body = %s", body)
	}
}
