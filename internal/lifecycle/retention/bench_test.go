package retention

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// staticSource serves prebuilt slices so that the benchmark measures the
// engine, not the fixture.
type staticSource struct {
	names     []string
	tags      map[string][]Tag
	manifests map[string][]Manifest
}

func (s *staticSource) Repositories(context.Context) ([]string, error) { return s.names, nil }
func (s *staticSource) Tags(_ context.Context, r string) ([]Tag, error) {
	return s.tags[r], nil
}
func (s *staticSource) Manifests(_ context.Context, r string) ([]Manifest, error) {
	return s.manifests[r], nil
}

// bigSource is repos × tagsPer tags, each on its own manifest with one
// layer, every tenth signed by a referrer, plus a few untagged manifests.
func bigSource(repos, tagsPer int) *staticSource {
	s := &staticSource{tags: make(map[string][]Tag), manifests: make(map[string][]Manifest)}
	for r := range repos {
		name := fmt.Sprintf("team-%02d/service-%04d", r%50, r)
		s.names = append(s.names, name)
		for i := range tagsPer {
			pushed := t0.Add(-time.Duration(i*7+r%5) * time.Hour)
			tagName := fmt.Sprintf("v1.%d.%d", r, i)
			if i%17 == 0 {
				tagName += "-rc"
			}
			d := dg(fmt.Sprintf("%d/%d", r, i))
			t := Tag{Name: tagName, Digest: d, PushedAt: pushed}
			if i%13 == 0 {
				t.LastPulledAt = t0.Add(-time.Duration(i) * time.Hour)
			}
			s.tags[name] = append(s.tags[name], t)
			m := Manifest{Digest: d, Size: 1200, PushedAt: pushed, Blobs: []Blob{{Digest: dg(fmt.Sprintf("l%d/%d", r, i)), Size: 1 << 20}}}
			s.manifests[name] = append(s.manifests[name], m)
			if i%10 == 0 {
				s.manifests[name] = append(s.manifests[name], Manifest{Digest: dg(fmt.Sprintf("sig%d/%d", r, i)), Size: 500, PushedAt: pushed, Subject: d})
			}
		}
		for i := range 5 {
			s.manifests[name] = append(s.manifests[name], Manifest{Digest: dg(fmt.Sprintf("u%d/%d", r, i)), Size: 900, PushedAt: t0.Add(-time.Duration(i*3) * Day)})
		}
	}
	return s
}

var benchPolicy = Policy{
	Name:              "bench",
	Tags:              Selector{Include: []string{`v.*`}, Exclude: []string{`.*-rc`}},
	Keep:              5,
	OlderThan:         dur("10d"),
	MaxTags:           intp(50),
	UntaggedOlderThan: dur("7d"),
	PulledWithin:      Duration(3 * Day),
}

// BenchmarkPlan100k plans over 100,000 tags in 1,000 repositories; the
// lifecycle issue asks for under a second.
func BenchmarkPlan100k(b *testing.B) {
	src := bigSource(1000, 100)
	ctx := context.Background()
	b.ReportAllocs()
	var p *Plan
	for b.Loop() {
		var err error
		if p, err = BuildPlan(ctx, src, &benchPolicy, t0); err != nil {
			b.Fatal(err)
		}
	}
	if n := p.Summary.TagsKept + p.Summary.TagsDeleted; n != 100_000 {
		b.Fatalf("planned %d tags, want 100000", n)
	}
	b.ReportMetric(float64(p.Summary.TagsDeleted), "tags-deleted")
}

// BenchmarkPlan100kCPU reports the CPU seconds (user+system, from the OS)
// one plan costs, which a machine shared with other work does not inflate
// the way it inflates ns/op.
func BenchmarkPlan100kCPU(b *testing.B) {
	src := bigSource(1000, 100)
	ctx := context.Background()
	start := cpuSeconds()
	for b.Loop() {
		if _, err := BuildPlan(ctx, src, &benchPolicy, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuSeconds()-start)/float64(b.N), "cpu-s/op")
}
