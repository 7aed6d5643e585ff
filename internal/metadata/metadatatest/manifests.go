package metadatatest

import (
	"errors"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

func sortedDigests(ds []digest.Digest) []digest.Digest {
	out := slices.Clone(ds)
	slices.Sort(out)
	return slices.Compact(out)
}

// sameManifest reports how got differs from want, or "".
func sameManifest(t *testing.T, got, want *metadata.Manifest) {
	t.Helper()
	switch {
	case got.Repo != want.Repo:
		t.Errorf("Repo = %q, want %q", got.Repo, want.Repo)
	case got.Digest != want.Digest:
		t.Errorf("Digest = %s, want %s", got.Digest, want.Digest)
	case got.MediaType != want.MediaType || got.ArtifactType != want.ArtifactType:
		t.Errorf("types = %q/%q, want %q/%q", got.MediaType, got.ArtifactType, want.MediaType, want.ArtifactType)
	case got.Size != want.Size:
		t.Errorf("Size = %d, want %d", got.Size, want.Size)
	case got.Subject != want.Subject:
		t.Errorf("Subject = %q, want %q", got.Subject, want.Subject)
	case string(got.Content) != string(want.Content):
		t.Errorf("Content = %q, want %q", got.Content, want.Content)
	case len(got.Annotations) != len(want.Annotations):
		t.Errorf("Annotations = %v, want %v", got.Annotations, want.Annotations)
	case !slices.Equal(sortedDigests(got.Blobs), sortedDigests(want.Blobs)):
		t.Errorf("Blobs = %v, want %v", got.Blobs, want.Blobs)
	case !slices.Equal(sortedDigests(got.Children), sortedDigests(want.Children)):
		t.Errorf("Children = %v, want %v", got.Children, want.Children)
	case !want.PushedAt.IsZero() && !got.PushedAt.Equal(want.PushedAt):
		t.Errorf("PushedAt = %v, want %v", got.PushedAt, want.PushedAt)
	case got.PushedAt.IsZero():
		t.Errorf("PushedAt is zero")
	}
	for k, v := range want.Annotations {
		if got.Annotations[k] != v {
			t.Errorf("Annotations[%q] = %q, want %q", k, got.Annotations[k], v)
		}
	}
}

func testPutAndGet(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	img := manifest("lib/app", "one", f.blob("lib/app", "c", 10), f.blob("lib/app", "l", 20))
	img.ArtifactType = "application/vnd.example"
	img.Annotations = map[string]string{"org.opencontainers.image.title": "one", "x": ""}
	img.PushedAt = at(1)
	f.put(img, "v1", "latest")
	sig := manifest("lib/app", "sig")
	sig.Subject = img.Digest
	f.put(sig)
	idx := index("lib/app", "idx", img)
	f.put(idx, "multi")

	tests := []struct {
		name string
		get  func() (*metadata.Manifest, error)
		want *metadata.Manifest
	}{
		{"by digest", func() (*metadata.Manifest, error) { return f.s.Manifest(f.ctx, "lib/app", img.Digest) }, img},
		{"by tag", func() (*metadata.Manifest, error) { return f.s.TaggedManifest(f.ctx, "lib/app", "v1") }, img},
		{"by second tag", func() (*metadata.Manifest, error) { return f.s.TaggedManifest(f.ctx, "lib/app", "latest") }, img},
		{"with subject", func() (*metadata.Manifest, error) { return f.s.Manifest(f.ctx, "lib/app", sig.Digest) }, sig},
		{"index", func() (*metadata.Manifest, error) { return f.s.TaggedManifest(f.ctx, "lib/app", "multi") }, idx},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			if err != nil {
				t.Fatal(err)
			}
			sameManifest(t, got, tt.want)
			if !got.LastPulledAt.IsZero() {
				t.Errorf("LastPulledAt = %v, want zero", got.LastPulledAt)
			}
		})
	}

	missing := []struct {
		name string
		get  func() (*metadata.Manifest, error)
	}{
		{"unknown digest", func() (*metadata.Manifest, error) { return f.s.Manifest(f.ctx, "lib/app", digest.FromString("nope")) }},
		{"unknown repo by digest", func() (*metadata.Manifest, error) { return f.s.Manifest(f.ctx, "lib/other", img.Digest) }},
		{"unknown tag", func() (*metadata.Manifest, error) { return f.s.TaggedManifest(f.ctx, "lib/app", "v2") }},
		{"unknown repo by tag", func() (*metadata.Manifest, error) { return f.s.TaggedManifest(f.ctx, "lib/other", "v1") }},
		{"tag case matters", func() (*metadata.Manifest, error) { return f.s.TaggedManifest(f.ctx, "lib/app", "V1") }},
		{"repo prefix", func() (*metadata.Manifest, error) { return f.s.Manifest(f.ctx, "lib", img.Digest) }},
	}
	for _, tt := range missing {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.get()
			if !errors.Is(err, metadata.ErrNotFound) {
				t.Fatalf("got %v, %v; want ErrNotFound", m, err)
			}
		})
	}
}

func testInvalidPut(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	valid := func(edit func(m *metadata.Manifest)) *metadata.Manifest {
		m := manifest("r", "x")
		edit(m)
		return m
	}
	tests := []struct {
		name string
		m    *metadata.Manifest
		tags []string
	}{
		{"nil manifest", nil, nil},
		{"no repository", valid(func(m *metadata.Manifest) { m.Repo = "" }), nil},
		{"no digest", valid(func(m *metadata.Manifest) { m.Digest = "" }), nil},
		{"no media type", valid(func(m *metadata.Manifest) { m.MediaType = "" }), nil},
		{"empty tag", valid(func(*metadata.Manifest) {}), []string{"ok", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.s.PutManifest(f.ctx, tt.m, tt.tags); err == nil {
				t.Fatal("PutManifest succeeded")
			}
		})
	}
	if repos, err := f.s.ListRepos(f.ctx, metadata.Page{}); err != nil || len(repos) != 0 {
		t.Errorf("ListRepos after invalid puts = %q, %v; want none", repos, err)
	}
	if evs := f.events(); len(evs) != 0 {
		t.Errorf("%d events after invalid puts, want none", len(evs))
	}
}

func testMissingRefs(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	base := f.image("have", "base", at(0), "v1")
	elsewhere := f.blob("other", "only-in-other", 5)
	before := len(f.events())

	tests := []struct {
		name         string
		m            *metadata.Manifest
		wantDigest   digest.Digest
		wantManifest bool
	}{
		{"unlinked blob in new repo", manifest("fresh", "a", digest.FromString("absent")), digest.FromString("absent"), false},
		{"blob of another repo", manifest("fresh", "b", elsewhere), elsewhere, false},
		{"second blob missing", manifest("have", "c", base.Blobs[0], digest.FromString("absent2")), digest.FromString("absent2"), false},
		{"child missing", index("have", "d", manifest("have", "ghost")), manifest("have", "ghost").Digest, true},
		{"child in another repo", index("fresh", "e", base), base.Digest, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.s.PutManifest(f.ctx, tt.m, []string{"v1", "new"})
			var mr *metadata.MissingRefError
			if !errors.As(err, &mr) {
				t.Fatalf("PutManifest = %v, want *MissingRefError", err)
			}
			if mr.Digest != tt.wantDigest || mr.Manifest != tt.wantManifest {
				t.Errorf("MissingRefError = %+v, want digest %s manifest %v", mr, tt.wantDigest, tt.wantManifest)
			}
			// Nothing written: no manifest, no tag moved, no event, no repo.
			if _, err := f.s.Manifest(f.ctx, tt.m.Repo, tt.m.Digest); !errors.Is(err, metadata.ErrNotFound) {
				t.Errorf("manifest after failed put: %v, want ErrNotFound", err)
			}
			if got := len(f.events()); got != before {
				t.Errorf("events = %d, want %d", got, before)
			}
			if _, err := f.s.ListTags(f.ctx, "fresh", metadata.Page{}); !errors.Is(err, metadata.ErrRepoNotFound) {
				t.Errorf("ListTags(fresh) = %v, want ErrRepoNotFound: the failed put created the repository", err)
			}
			if m, err := f.s.TaggedManifest(f.ctx, "have", "v1"); err != nil || m.Digest != base.Digest {
				t.Errorf("have:v1 after failed put = %v, %v; want %s", m, err, base.Digest)
			}
			if tags := f.tags("have"); !slices.Equal(tags, []string{"v1"}) {
				t.Errorf("tags of have = %v, want [v1]", tags)
			}
		})
	}
	repos, err := f.s.ListRepos(f.ctx, metadata.Page{})
	if err != nil || !slices.Equal(repos, []string{"have", "other"}) {
		t.Errorf("ListRepos = %v, %v; want [have other]", repos, err)
	}
}

func testRepush(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	img := f.image("r", "a", at(0), "v1")
	again := manifest("r", "a", img.Blobs...)
	again.PushedAt = at(5)
	f.put(again, "v1", "v2")
	got, err := f.s.TaggedManifest(f.ctx, "r", "v2")
	if err != nil {
		t.Fatal(err)
	}
	sameManifest(t, got, &metadata.Manifest{Repo: "r", Digest: img.Digest, MediaType: img.MediaType,
		Size: img.Size, Content: img.Content, Blobs: img.Blobs})
	sums, err := f.s.RepoSummaries(f.ctx, metadata.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].Manifests != 1 || sums[0].TagCount != 2 {
		t.Errorf("RepoSummaries after re-push = %+v, want 1 manifest and 2 tags", sums)
	}
	if tags := f.tags("r"); !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Errorf("tags = %v, want [v1 v2]", tags)
	}
}

func testTagMove(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	a := f.image("r", "a", at(1), "v1", "stable")
	b := f.image("r", "b", at(7), "v1")

	got, err := f.s.TaggedManifest(f.ctx, "r", "v1")
	if err != nil || got.Digest != b.Digest {
		t.Fatalf("r:v1 = %v, %v; want %s", got, err, b.Digest)
	}
	if got, err := f.s.TaggedManifest(f.ctx, "r", "stable"); err != nil || got.Digest != a.Digest {
		t.Fatalf("r:stable = %v, %v; want %s", got, err, a.Digest)
	}
	// The old manifest stays, untagged by v1, still addressable by digest.
	if _, err := f.s.Manifest(f.ctx, "r", a.Digest); err != nil {
		t.Fatalf("old manifest after move: %v", err)
	}
	infos, err := f.s.TagDetails(f.ctx, "r", metadata.OrderName, metadata.Page{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		d              digest.Digest
		first, updated int
	}{"stable": {a.Digest, 1, 1}, "v1": {b.Digest, 1, 7}}
	if len(infos) != len(want) {
		t.Fatalf("TagDetails = %+v, want %d tags", infos, len(want))
	}
	for _, ti := range infos {
		w := want[ti.Name]
		if ti.Digest != w.d || !ti.FirstPushed.Equal(at(w.first)) || !ti.Updated.Equal(at(w.updated)) {
			t.Errorf("%s = %s first %v updated %v; want %s first %v updated %v",
				ti.Name, ti.Digest, ti.FirstPushed, ti.Updated, w.d, at(w.first), at(w.updated))
		}
	}
}

func testDeleteManifest(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	a := f.image("r", "a", at(0), "v1", "latest", "a-only")
	b := f.image("r", "b", at(1), "v2")
	sig := manifest("r", "sig")
	sig.Subject = a.Digest
	f.put(sig)

	tags, err := f.s.DeleteManifest(f.ctx, "r", a.Digest)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	if !slices.Equal(tags, []string{"a-only", "latest", "v1"}) {
		t.Errorf("DeleteManifest tags = %v, want [a-only latest v1]", tags)
	}
	if got := f.tags("r"); !slices.Equal(got, []string{"v2"}) {
		t.Errorf("tags after delete = %v, want [v2]", got)
	}
	for _, tag := range []string{"v1", "latest"} {
		if _, err := f.s.TaggedManifest(f.ctx, "r", tag); !errors.Is(err, metadata.ErrNotFound) {
			t.Errorf("TaggedManifest(%s) = %v, want ErrNotFound", tag, err)
		}
	}
	if _, err := f.s.Manifest(f.ctx, "r", a.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("Manifest after delete = %v, want ErrNotFound", err)
	}
	if _, err := f.s.Manifest(f.ctx, "r", b.Digest); err != nil {
		t.Errorf("other manifest after delete: %v", err)
	}
	// Re-pushing the deleted manifest works and starts fresh.
	again := manifest("r", "a", a.Blobs...)
	f.put(again, "v1")
	if m, err := f.s.TaggedManifest(f.ctx, "r", "v1"); err != nil || m.Digest != a.Digest {
		t.Errorf("re-push after delete: %v, %v", m, err)
	}

	errCases := []struct {
		name, repo string
		d          digest.Digest
	}{
		{"unknown digest", "r", digest.FromString("nope")},
		{"unknown repo", "nope", b.Digest},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.s.DeleteManifest(f.ctx, tt.repo, tt.d); !errors.Is(err, metadata.ErrNotFound) {
				t.Errorf("DeleteManifest = %v, want ErrNotFound", err)
			}
		})
	}
	if tags, err := f.s.DeleteManifest(f.ctx, "r", sig.Digest); err != nil || len(tags) != 0 {
		t.Errorf("DeleteManifest(untagged) = %v, %v; want no tags", tags, err)
	}
}

func testReferrers(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	img := f.image("r", "img", at(0), "v1")
	other := f.image("r", "other", at(0))
	mk := func(repo, name, artifactType string, subject digest.Digest) *metadata.Manifest {
		m := manifest(repo, name)
		m.ArtifactType, m.Subject = artifactType, subject
		m.Annotations = map[string]string{"name": name}
		f.put(m)
		return m
	}
	sig := mk("r", "sig", "application/vnd.dev.cosign", img.Digest)
	sbom := mk("r", "sbom", "application/spdx+json", img.Digest)
	plain := mk("r", "plain", "", img.Digest)
	mk("r", "unrelated", "application/spdx+json", other.Digest)
	mk("r2", "elsewhere", "application/spdx+json", img.Digest)

	tests := []struct {
		name, repo   string
		subject      digest.Digest
		artifactType string
		want         []*metadata.Manifest
	}{
		{"all", "r", img.Digest, "", []*metadata.Manifest{sig, sbom, plain}},
		{"filtered", "r", img.Digest, "application/spdx+json", []*metadata.Manifest{sbom}},
		{"filter matches none", "r", img.Digest, "application/none", nil},
		{"no referrers", "r", sig.Digest, "", nil},
		{"unknown subject", "r", digest.FromString("nope"), "", nil},
		{"unknown repo", "nope", img.Digest, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.s.Referrers(f.ctx, tt.repo, tt.subject, tt.artifactType)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Error("Referrers returned nil, want an empty slice")
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Referrers = %+v, want %d", got, len(tt.want))
			}
			byDigest := map[digest.Digest]metadata.Descriptor{}
			for _, d := range got {
				byDigest[d.Digest] = d
			}
			for _, w := range tt.want {
				d, ok := byDigest[w.Digest]
				if !ok {
					t.Errorf("missing referrer %s", w.Digest)
					continue
				}
				wd := w.Descriptor()
				if d.MediaType != wd.MediaType || d.ArtifactType != wd.ArtifactType || d.Size != wd.Size ||
					d.Annotations["name"] != wd.Annotations["name"] {
					t.Errorf("referrer = %+v, want %+v", d, wd)
				}
			}
		})
	}
}
