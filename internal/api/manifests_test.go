package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

func TestManifests(t *testing.T) {
	f := newFixture(t, 2)
	ctx := context.Background()
	d1 := f.push(t, "team/app", "v1", 10)
	d2 := f.push(t, "team/app", "v2", 20)
	// An untagged index over both, and a signature of v1.
	idx := []byte(`{"schemaVersion":2,"mediaType":"` + oci.MediaTypeImageIndex + `","manifests":[]}`)
	im := &metadata.Manifest{Repo: "team/app", Digest: digest.FromBytes(idx), MediaType: oci.MediaTypeImageIndex,
		Size: int64(len(idx)), Content: idx, Children: []digest.Digest{d1, d2}}
	if err := f.store.PutManifest(ctx, im, nil); err != nil {
		t.Fatal(err)
	}
	sig := []byte(`{"schemaVersion":2,"sig":true}`)
	sm := &metadata.Manifest{Repo: "team/app", Digest: digest.FromBytes(sig), MediaType: oci.MediaTypeImageManifest,
		ArtifactType: "application/vnd.dev.cosign", Size: int64(len(sig)), Content: sig, Subject: d1}
	if err := f.store.PutManifest(ctx, sm, nil); err != nil {
		t.Fatal(err)
	}
	pulled := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	if err := f.store.RecordPulls(ctx, []metadata.Pull{{Repo: "team/app", Digest: d2, At: pulled}}); err != nil {
		t.Fatal(err)
	}

	var all []Manifest
	next := "/api/v1/repositories/team/app/manifests"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		var page ManifestList
		code, h := f.get(t, next, &page)
		if code != http.StatusOK || page.Repository != "team/app" {
			t.Fatalf("GET %s: status %d, repository %q", next, code, page.Repository)
		}
		if len(page.Manifests) > 2 {
			t.Fatalf("page of %d with n=2", len(page.Manifests))
		}
		if want := page.Next; want != "" && h.Get("Link") != "<"+want+`>; rel="next"` {
			t.Errorf("Link = %q, next %q", h.Get("Link"), want)
		}
		all = append(all, page.Manifests...)
		next = page.Next
	}
	if len(all) != 4 || !slices.IsSortedFunc(all, func(a, b Manifest) int { return strings.Compare(a.Digest, b.Digest) }) {
		t.Fatalf("listed %d manifests, want 4 in digest order: %+v", len(all), all)
	}
	by := map[string]Manifest{}
	for _, m := range all {
		by[m.Digest] = m
	}
	tests := []struct {
		name string
		ok   func() bool
	}{
		{"tagged image has its tag and blobs", func() bool {
			m := by[d1.String()]
			return slices.Equal(m.Tags, []string{"v1"}) && len(m.Blobs) == 1 && m.Blobs[0].Size == 10 && m.LastPulled == nil && !m.Pushed.IsZero()
		}},
		{"pull time", func() bool { m := by[d2.String()]; return m.LastPulled != nil && m.LastPulled.Equal(pulled) }},
		{"untagged index lists children, empty tags", func() bool {
			m := by[im.Digest.String()]
			return m.Tags != nil && len(m.Tags) == 0 && len(m.Children) == 2 && m.MediaType == oci.MediaTypeImageIndex
		}},
		{"referrer has subject and artifact type", func() bool {
			m := by[sm.Digest.String()]
			return m.Subject == d1.String() && m.ArtifactType == "application/vnd.dev.cosign"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok() {
				t.Errorf("got %+v", by)
			}
		})
	}
}

func TestManifestsErrors(t *testing.T) {
	f := newFixture(t, 10)
	f.push(t, "app", "v1", 1)
	f.push(t, "app/tags", "v1", 1)
	tests := []struct {
		path   string
		status int
		code   oci.Code
	}{
		{"/api/v1/repositories/app/manifests?last=nodigest", 400, "PARAMETER_INVALID"},
		{"/api/v1/repositories/app/manifests?n=11", 400, "PARAMETER_INVALID"},
		{"/api/v1/repositories/Bad/manifests", 400, oci.CodeNameInvalid},
		{"/api/v1/repositories/missing/manifests", 404, oci.CodeNameUnknown},
		{"/api/v1/repositories/manifests", 404, oci.CodeUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var got oci.Errors
			code, _ := f.get(t, tt.path, &got)
			if code != tt.status || len(got.Errors) != 1 || got.Errors[0].Code != tt.code {
				t.Errorf("status %d errors %+v, want %d %s", code, got.Errors, tt.status, tt.code)
			}
		})
	}
	t.Run("a repository named tags keeps its manifests route", func(t *testing.T) {
		var got ManifestList
		if code, _ := f.get(t, "/api/v1/repositories/app/tags/manifests", &got); code != 200 || got.Repository != "app/tags" || len(got.Manifests) != 1 {
			t.Errorf("status %d, %+v", code, got)
		}
	})
}
