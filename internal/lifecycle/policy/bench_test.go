package policy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

// seedTags pushes repos × perRepo tags. With shared, every tag of a
// repository points at one manifest that the untouched tag "keep" also
// holds, so that deleting tags is all a plan does; otherwise each tag has
// its own manifest over a layer shared in the repository.
func seedTags(b *testing.B, s *sqlite.Store, repos, perRepo int, shared bool) {
	b.Helper()
	ctx := context.Background()
	for r := range repos {
		repo := fmt.Sprintf("team-%02d/svc-%04d", r%50, r)
		layer := digest.FromString("layer:" + repo)
		if err := s.LinkBlob(ctx, repo, layer, 1<<20); err != nil {
			b.Fatal(err)
		}
		put := func(name string, pushed time.Time, tags []string) {
			content := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","name":%q}`, repo+name)
			m := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
				Size: int64(len(content)), Content: content, Blobs: []digest.Digest{layer}, PushedAt: pushed}
			if err := s.PutManifest(ctx, m, tags); err != nil {
				b.Fatal(err)
			}
		}
		if shared {
			tags := []string{"keep"}
			for i := range perRepo {
				tags = append(tags, fmt.Sprintf("t%d", i))
			}
			put("shared", daysAgo(40), tags)
			continue
		}
		for i := range perRepo {
			put(fmt.Sprint(i), daysAgo(i%60), []string{fmt.Sprintf("v1.%d", i)})
		}
	}
}

// BenchmarkApply measures tag deletions per second through the adapter
// into the recycle bin of the embedded store, re-checks and lock reads
// included: the write path of every scheduled run.
func BenchmarkApply(b *testing.B) {
	const repos, perRepo = 10, 1000
	pol, err := Decode("bench", []byte(`{"tags":{"include":["t.*"]},"olderThan":"0d"}`))
	if err != nil {
		b.Fatal(err)
	}
	deleted := 0
	for b.Loop() {
		b.StopTimer()
		s, err := sqlite.Open(context.Background(), fmt.Sprintf("%s/meta.db", b.TempDir()), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		seedTags(b, s, repos, perRepo, true)
		a := NewAdapter(s, true)
		plan, err := retention.BuildPlan(context.Background(), a, pol, now)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := retention.Apply(context.Background(), plan, a, a, retention.ApplyOptions{Concurrency: ApplyConcurrency})
		if err != nil || len(res.Deleted) != repos*perRepo {
			b.Fatalf("deleted %d, err %v", len(res.Deleted), err)
		}
		deleted += len(res.Deleted)
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(deleted)/b.Elapsed().Seconds(), "tags/s")
}

// BenchmarkPlan100kStore plans over 100,000 tags, each on its own
// manifest, in 1,000 repositories read from sqlite: in one pass (what the
// server does) and repository by repository (the Source interface alone),
// on the same store so that a loaded machine slows both alike. cpu-s/op is
// user+system CPU per plan, which other load inflates less than ns/op.
func BenchmarkPlan100kStore(b *testing.B) {
	s, err := sqlite.Open(context.Background(), fmt.Sprintf("%s/meta.db", b.TempDir()), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	seedTags(b, s, 1000, 100, false)
	pol, err := Decode("bench", []byte(`{"keep":5,"olderThan":"30d","untaggedOlderThan":"7d","pulledWithin":"7d"}`))
	if err != nil {
		b.Fatal(err)
	}
	a := NewAdapter(s, true)
	for _, bm := range []struct {
		name string
		src  retention.Source
	}{{"one-pass", a}, {"per-repo", perRepo{a}}} {
		b.Run(bm.name, func(b *testing.B) {
			start := cpuSeconds()
			for b.Loop() {
				plan, err := retention.BuildPlan(context.Background(), bm.src, pol, now)
				if err != nil || plan.Summary.TagsDeleted+plan.Summary.TagsKept != 100_000 {
					b.Fatalf("plan %+v, %v", plan.Summary, err)
				}
			}
			b.ReportMetric((cpuSeconds()-start)/float64(b.N), "cpu-s/op")
		})
	}
}
