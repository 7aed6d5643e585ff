package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
)

// perRepo hides the adapter's one-pass reading, so that BuildPlan reads
// repository by repository.
type perRepo struct{ a *Adapter }

func (p perRepo) Repositories(ctx context.Context) ([]string, error) { return p.a.Repositories(ctx) }
func (p perRepo) Tags(ctx context.Context, repo string) ([]retention.Tag, error) {
	return p.a.Tags(ctx, repo)
}
func (p perRepo) Manifests(ctx context.Context, repo string) ([]retention.Manifest, error) {
	return p.a.Manifests(ctx, repo)
}

// TestSnapshotPlanMatchesPerRepository plans the same store both ways:
// locks, rules, an index with children, a referrer, pulls and several
// repositories must give identical plans.
func TestSnapshotPlanMatchesPerRepository(t *testing.T) {
	f := newStoreFixture(t)
	for r := range 5 {
		repo := fmt.Sprintf("team/svc-%d", r)
		for i := range 6 {
			f.image(repo, fmt.Sprint(i), daysAgo(i*10), fmt.Sprintf("v%d", i))
		}
		f.image(repo, "untagged", daysAgo(20))
	}
	f.lockTag("team/svc-1", "v5")
	if _, err := f.s.AddImmutableRule(f.ctx, metadata.ImmutableRule{Repos: "team/svc-2", Tags: "v4"}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetLock(f.ctx, metadata.Lock{Repo: "team/svc-3", WriteEnabled: true, ReadEnabled: true}); err != nil {
		t.Fatal(err)
	}
	putIndex(t, f, "multi", daysAgo(50), "latest")
	pulled := f.image("team/svc-4", "pulled", daysAgo(90), "pulled")
	if err := f.s.RecordPulls(f.ctx, []metadata.Pull{{Repo: "team/svc-4", Digest: pulled, At: daysAgo(1)}}); err != nil {
		t.Fatal(err)
	}

	pol, err := Decode("p", []byte(`{"keep":1,"olderThan":"15d","untaggedOlderThan":"7d","pulledWithin":"7d"}`))
	if err != nil {
		t.Fatal(err)
	}
	a := NewAdapter(f.s, true)
	fast, err := retention.BuildPlan(f.ctx, a, pol, now)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := retention.BuildPlan(f.ctx, perRepo{a}, pol, now)
	if err != nil {
		t.Fatal(err)
	}
	jf, _ := json.Marshal(fast)
	js, _ := json.Marshal(slow)
	if string(jf) != string(js) {
		t.Errorf("one-pass plan differs from per-repository plan:\n%s\n%s", jf, js)
	}
	if fast.Summary.Repositories != 6 || fast.Summary.TagsDeleted == 0 || fast.Summary.ManifestsKept == 0 {
		t.Errorf("summary = %+v, want 6 repositories with deletions and keeps", fast.Summary)
	}
}

// putIndex pushes into repo an index of two untagged images with a
// referrer on the index, tagged tag, and returns the index digest.
func putIndex(t *testing.T, f *storeFixture, repo string, pushed time.Time, tag string) digest.Digest {
	t.Helper()
	amd := f.image(repo, "amd64", pushed)
	arm := f.image(repo, "arm64", pushed)
	content := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":%q},{"digest":%q}]}`, amd, arm)
	idx := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.index.v1+json",
		Size: int64(len(content)), Content: content, Children: []digest.Digest{amd, arm}, PushedAt: pushed}
	if err := f.s.PutManifest(f.ctx, idx, []string{tag}); err != nil {
		t.Fatal(err)
	}
	sig := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json","subject":{"digest":%q}}`, idx.Digest)
	ref := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(sig), MediaType: "application/vnd.oci.image.manifest.v1+json",
		ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json", Size: int64(len(sig)), Content: sig, Subject: idx.Digest, PushedAt: pushed}
	if err := f.s.PutManifest(f.ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	return idx.Digest
}

// TestDeleteRechecksInTransaction calls the deleter after the engine's
// re-check would have passed: a move or a lock made in between must still
// stop the deletion, because the deleting transaction re-reads both.
func TestDeleteRechecksInTransaction(t *testing.T) {
	f := newStoreFixture(t)
	old := f.image("app", "old", daysAgo(40), "moved", "locked", "free")
	untagged := f.image("app", "untagged", daysAgo(40))
	a := NewAdapter(f.s, true)
	// Prime the re-check's lock cache, as the engine's Tag call does.
	if _, err := a.Tag(f.ctx, "app", "locked"); err != nil {
		t.Fatal(err)
	}
	f.image("app", "new", daysAgo(0), "moved")
	f.lockTag("app", "locked")
	if err := f.s.SetLock(f.ctx, metadata.Lock{Repo: "app", Digest: untagged, WriteEnabled: true, ReadEnabled: true}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		del  func() error
		want error
	}{
		{"moved tag", func() error { return a.DeleteTagAt(f.ctx, "app", "moved", old) }, retention.ErrChanged},
		{"tag locked after re-check", func() error { return a.DeleteTagAt(f.ctx, "app", "locked", old) }, retention.ErrLocked},
		{"manifest tagged", func() error { return a.DeleteManifest(f.ctx, "app", old) }, retention.ErrChanged},
		{"manifest locked", func() error { return a.DeleteManifest(f.ctx, "app", untagged) }, retention.ErrLocked},
		{"free tag", func() error { return a.DeleteTagAt(f.ctx, "app", "free", old) }, nil},
		{"gone tag", func() error { return a.DeleteTagAt(f.ctx, "app", "free", old) }, retention.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.del()
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if tags := f.tags("app"); !slices.Equal(tags, []string{"locked", "moved"}) {
		t.Errorf("tags = %v, want [locked moved]", tags)
	}
	if _, err := f.s.Manifest(f.ctx, "app", untagged); err != nil {
		t.Errorf("locked untagged manifest: %v", err)
	}
}

// TestApplyRacesRetagAndLock applies a plan deleting 300 tags while one
// goroutine moves 100 of them and another locks 100 others. A moved tag
// must survive at its new digest; a locked tag may be deleted only by a
// transaction that committed before the lock (outbox IDs are commit
// order).
func TestApplyRacesRetagAndLock(t *testing.T) {
	f := newStoreFixture(t)
	const n = 300
	for i := range n {
		f.image("app", fmt.Sprint(i), daysAgo(40), fmt.Sprintf("t%03d", i))
	}
	a := NewAdapter(f.s, true)
	plan, err := retention.BuildPlan(f.ctx, a, olderThan30d(t), now)
	if err != nil || plan.Summary.TagsDeleted != n {
		t.Fatalf("plan deletes %d tags (%v), want %d", plan.Summary.TagsDeleted, err, n)
	}
	moved := make(map[string]digest.Digest)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < n; i += 3 {
			tag := fmt.Sprintf("t%03d", i)
			moved[tag] = putImage(t, f.ctx, f.s, "app", "moved"+tag, now, tag)
		}
	})
	wg.Go(func() {
		for i := 1; i < n; i += 3 {
			if err := f.s.SetLock(f.ctx, metadata.Lock{Repo: "app", Tag: fmt.Sprintf("t%03d", i), WriteEnabled: true, ReadEnabled: true}); err != nil {
				t.Error(err)
			}
		}
	})
	res, err := retention.Apply(f.ctx, plan, a, a, retention.ApplyOptions{Concurrency: ApplyConcurrency})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 0 {
		t.Errorf("failed: %+v", res.Failed)
	}
	for tag, d := range moved {
		ti, err := f.s.TagTime(f.ctx, "app", tag)
		if err != nil || ti.Digest != d {
			t.Errorf("moved tag %s: %v %v, want it at %s", tag, ti.Digest, err, d)
		}
	}
	evs, err := f.s.PendingEvents(f.ctx, 0, 10*n)
	if err != nil {
		t.Fatal(err)
	}
	lockedAt := map[string]int64{}
	for _, e := range evs {
		if e.Type == metadata.EventLockSet {
			lockedAt[e.Tag] = e.ID
		}
	}
	deletedAfterLock := 0
	for _, e := range evs {
		if at, ok := lockedAt[e.Tag]; ok && e.Type == metadata.EventTagTrashed && e.ID > at {
			deletedAfterLock++
		}
	}
	if len(lockedAt) != n/3 || deletedAfterLock != 0 {
		t.Errorf("%d locks recorded, %d tags trashed after their lock; want %d and 0", len(lockedAt), deletedAfterLock, n/3)
	}
}
