package metadatatest

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// testTrashUsage pins down what the recycle bin holds: trashed manifests'
// own bytes plus blobs no live manifest in any repository references; a
// trashed tag holds nothing.
func testTrashUsage(t *testing.T, s GCStore) {
	f := &fixture{t: t, s: s, ctx: metadata.WithActor(context.Background(), "tester")}
	trash := func(m *metadata.Manifest) {
		t.Helper()
		if _, err := s.TrashManifest(f.ctx, m.Repo, m.Digest); err != nil {
			t.Fatalf("TrashManifest(%s): %v", m.Repo, err)
		}
	}
	// a: the base layer is shared with a live manifest and stays; the
	// trashed manifest's own layer goes.
	base := f.blob("a", "base", 5000)
	keep := manifest("a", "keep", base, f.blob("a", "keep/layer", 300))
	f.put(keep, "v1")
	gone := manifest("a", "gone", base, f.blob("a", "gone/layer", 700))
	f.put(gone, "v2")
	// b: a live manifest of another repository keeps base too.
	f.blob("b", "base", 5000)
	bGone := manifest("b", "gone", base, f.blob("b", "own", 50))
	f.put(bGone)
	// d and e: a blob only trashed manifests of two repositories reference
	// counts in each repository and once in the total.
	both := digest.FromString("blob:both")
	for _, repo := range []string{"d", "e"} {
		if err := s.LinkBlob(f.ctx, repo, both, 11); err != nil {
			t.Fatal(err)
		}
	}
	dGone, eGone := manifest("d", "x", both), manifest("e", "x", both)
	f.put(dGone)
	f.put(eGone)
	// f: a trashed tag; its manifest is live.
	f.image("f", "img", at(1), "t1", "t2")

	empty, err := s.TrashUsage(f.ctx)
	if err != nil || empty.Manifests != 0 || empty.Bytes != 0 || len(empty.Repositories) != 0 {
		t.Fatalf("TrashUsage of an empty bin = %+v, %v", empty, err)
	}
	for _, m := range []*metadata.Manifest{gone, bGone, dGone, eGone} {
		trash(m)
	}
	if err := s.TrashTag(f.ctx, "f", "t1"); err != nil {
		t.Fatal(err)
	}
	want := []metadata.RepoTrash{
		{Name: "a", Manifests: 1, Bytes: gone.Size + 700},
		{Name: "b", Manifests: 1, Bytes: bGone.Size + 50},
		{Name: "d", Manifests: 1, Bytes: dGone.Size + 11},
		{Name: "e", Manifests: 1, Bytes: eGone.Size + 11},
	}
	got, err := s.TrashUsage(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := gone.Size + 700 + bGone.Size + 50 + dGone.Size + eGone.Size + 11
	if got.Manifests != 4 || got.Bytes != total {
		t.Errorf("TrashUsage totals = %d manifests, %d bytes; want 4, %d", got.Manifests, got.Bytes, total)
	}
	if len(got.Repositories) != len(want) {
		t.Fatalf("TrashUsage repositories = %+v, want %+v", got.Repositories, want)
	}
	for i, w := range want {
		if got.Repositories[i] != w {
			t.Errorf("repository %d = %+v, want %+v", i, got.Repositories[i], w)
		}
	}
	// Restored, a manifest leaves the bin; a restored trashed manifest's
	// shared blob no longer counts anywhere.
	if _, err := s.Restore(f.ctx, "d", "", dGone.Digest, false); err != nil {
		t.Fatal(err)
	}
	got, err = s.TrashUsage(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Manifests != 3 || len(got.Repositories) != 3 || got.Repositories[2] != (metadata.RepoTrash{Name: "e", Manifests: 1, Bytes: eGone.Size}) {
		t.Errorf("after restoring d's manifest: %+v", got)
	}
}

// testRepoSummariesTrash checks that trashed manifests and their tags drop
// out of the repository counts, while their bytes, still held, stay.
func testRepoSummariesTrash(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	a := f.image("a", "one", at(1), "v1", "latest")
	b := f.image("a", "two", at(2), "v2")
	before := summaryOf(t, f, "a")
	if _, err := f.s.TrashManifest(f.ctx, "a", a.Digest); err != nil {
		t.Fatal(err)
	}
	if err := f.s.TrashTag(f.ctx, "a", "v2"); err != nil {
		t.Fatal(err)
	}
	got := summaryOf(t, f, "a")
	if got.TagCount != 0 || got.Manifests != 1 || got.Size != before.Size {
		t.Errorf("after trashing %s and tag v2: %+v, want 0 tags, 1 manifest (%s), size %d", a.Digest, got, b.Digest, before.Size)
	}
	if _, err := f.s.Restore(f.ctx, "a", "", a.Digest, false); err != nil {
		t.Fatal(err)
	}
	if got := summaryOf(t, f, "a"); got.TagCount != 2 || got.Manifests != 2 {
		t.Errorf("after restore: %+v, want 2 tags and 2 manifests", got)
	}
}

func summaryOf(t *testing.T, f *fixture, repo string) metadata.RepoSummary {
	t.Helper()
	sums, err := f.s.RepoSummaries(f.ctx, metadata.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sums {
		if s.Name == repo {
			return s
		}
	}
	t.Fatalf("no summary of %s in %+v", repo, sums)
	return metadata.RepoSummary{}
}
