package retention

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// fixture is a repository exercising every kind of deletion: old tags, an
// index with untagged children, a referrer, an untagged stray, and a new
// tag that stays.
func fixture() *memSource {
	s := newMem()
	s.put("app", img("new", 1*day), "new")
	s.put("app", img("old", 40*day), "old")
	s.put("app", img("c1", 40*day))
	s.put("app", img("c2", 40*day))
	s.put("app", index("idx", 40*day, "c1", "c2"), "multi")
	s.put("app", referrer("sig", 40*day, "idx"))
	s.put("app", img("stray", 40*day))
	s.put("lib", img("l1", 40*day), "1.0")
	return s
}

var fixturePolicy = Policy{OlderThan: dur("30d"), UntaggedOlderThan: dur("7d")}

func plan(t *testing.T, s *memSource, p Policy) *Plan {
	t.Helper()
	pl, err := BuildPlan(context.Background(), s, &p, t0)
	if err != nil {
		t.Fatalf("BuildPlan: %v", err)
	}
	return pl
}

// names lists outcomes as "repo:tag" or "repo@name" with their reason.
func names(os []Outcome) []string {
	var out []string
	for _, o := range os {
		if o.Kind == KindTag {
			out = append(out, o.Repo+":"+o.Tag+" "+o.Reason)
		} else {
			out = append(out, o.Repo+"@"+undg(o.Digest)+" "+o.Reason)
		}
	}
	return out
}

// sd is the short digest of a fixture name, as reasons print it.
func sd(name string) string { return ShortDigest(dg(name)) }

func left(s *memSource, repo string) (tags, manifests []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repo]
	tags = slices.Sorted(maps.Keys(r.tags))
	for d := range r.manifests {
		manifests = append(manifests, undg(d))
	}
	slices.Sort(manifests)
	return tags, manifests
}

func TestApplyDeletesThePlan(t *testing.T) {
	s := fixture()
	p := plan(t, s, fixturePolicy)
	var observed atomic.Int64
	res, err := Apply(context.Background(), p, s, s, ApplyOptions{Concurrency: 3, Observe: func(Outcome) { observed.Add(1) }})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(res.Failed)+len(res.Skipped) != 0 {
		t.Fatalf("failed %v skipped %v", names(res.Failed), names(res.Skipped))
	}
	want := p.Summary.TagsDeleted + p.Summary.ManifestsDeleted
	if len(res.Deleted) != want || int(observed.Load()) != want {
		t.Errorf("deleted %d, observed %d, planned %d", len(res.Deleted), observed.Load(), want)
	}
	tags, ms := left(s, "app")
	if !slices.Equal(tags, []string{"new"}) || !slices.Equal(ms, []string{"new"}) {
		t.Errorf("app left tags %v manifests %v, want only new", tags, ms)
	}
	if tags, ms := left(s, "lib"); len(tags)+len(ms) != 0 {
		t.Errorf("lib left %v %v", tags, ms)
	}
}

func TestApplyDryRunChangesNothing(t *testing.T) {
	s := fixture()
	before := s.state()
	p := plan(t, s, fixturePolicy)
	res, err := Apply(context.Background(), p, s, s, ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if s.deletes != 0 {
		t.Errorf("dry run called the deleter %d times", s.deletes)
	}
	if after := s.state(); !maps.EqualFunc(before, after, slices.Equal) {
		t.Errorf("dry run changed the store:\nbefore %v\nafter  %v", before, after)
	}
	if !res.DryRun || len(res.Deleted) != p.Summary.TagsDeleted+p.Summary.ManifestsDeleted || len(res.Skipped)+len(res.Failed) != 0 {
		t.Errorf("dry run result: deleted %v skipped %v failed %v", names(res.Deleted), names(res.Skipped), names(res.Failed))
	}
	// Dry runs still see changes made since planning.
	s.put("app", img("stray", 40*day), "late")
	res, err = Apply(context.Background(), p, nil, s, ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Skipped); !slices.Equal(got, []string{"app@stray tagged since plan: late"}) {
		t.Errorf("skipped %v", got)
	}
}

func TestApplyRecheckRace(t *testing.T) {
	tests := []struct {
		name string
		// race changes the store after the plan, before deletion.
		race        func(s *memSource)
		wantTags    []string
		wantMissing []string // manifests that must be gone
		wantSkipped []string
	}{
		{
			name: "tag moved to another manifest survives; its old manifest too",
			race: func(s *memSource) {
				s.put("app", img("fresh", 0), "old")
			},
			wantTags:    []string{"new", "old"},
			wantMissing: []string{"c1", "c2", "idx", "sig", "stray"},
			wantSkipped: []string{
				"app@old tag old was not deleted",
				"app:old changed since plan: now " + sd("fresh") + " pushed 2025-06-01T12:00:00Z",
			},
		},
		{
			name: "tag re-pushed to the same manifest survives, and so does the index it keeps",
			race: func(s *memSource) {
				s.setTag("app", Tag{Name: "multi", Digest: dg("idx"), PushedAt: t0})
			},
			wantTags:    []string{"multi", "new"},
			wantMissing: []string{"old", "stray"},
			wantSkipped: []string{
				"app@c1 index " + sd("idx") + " was not deleted",
				"app@c2 index " + sd("idx") + " was not deleted",
				"app@idx tag multi was not deleted",
				"app@sig subject " + sd("idx") + " was not deleted",
				"app:multi changed since plan: now " + sd("idx") + " pushed 2025-06-01T12:00:00Z",
			},
		},
		{
			name:        "untagged manifest tagged after the plan survives",
			race:        func(s *memSource) { s.setTag("app", Tag{Name: "rescued", Digest: dg("stray"), PushedAt: t0}) },
			wantTags:    []string{"new", "rescued"},
			wantMissing: []string{"c1", "c2", "idx", "old", "sig"},
			wantSkipped: []string{"app@stray tagged since plan: rescued"},
		},
		{
			name: "tag locked after the plan survives",
			race: func(s *memSource) {
				s.setTag("app", Tag{Name: "old", Digest: dg("old"), PushedAt: ago(40 * day), Locked: true})
			},
			wantTags:    []string{"new", "old"},
			wantMissing: []string{"c1", "c2", "idx", "sig", "stray"},
			wantSkipped: []string{"app@old tag old was not deleted", "app:old locked since plan"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			p := plan(t, s, fixturePolicy)
			var once sync.Once
			// The race happens at the first re-check, mid-apply.
			s.onCheck = func(string, string) { once.Do(func() { tt.race(s) }) }
			res, err := Apply(context.Background(), p, s, s, ApplyOptions{Concurrency: 1})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if len(res.Failed) != 0 {
				t.Errorf("failed: %v", names(res.Failed))
			}
			if got := names(res.Skipped); !slices.Equal(got, tt.wantSkipped) {
				t.Errorf("skipped:\n got %q\nwant %q", got, tt.wantSkipped)
			}
			tags, ms := left(s, "app")
			if !slices.Equal(tags, tt.wantTags) {
				t.Errorf("tags left %v, want %v", tags, tt.wantTags)
			}
			for _, m := range tt.wantMissing {
				if slices.Contains(ms, m) {
					t.Errorf("manifest %s still present", m)
				}
			}
		})
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	s := fixture()
	p := plan(t, s, fixturePolicy)
	// Someone else already deleted part of the plan.
	if err := s.DeleteTag(context.Background(), "app", "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), p, s, s, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	after := s.state()
	res, err := Apply(context.Background(), p, s, s, ApplyOptions{})
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if len(res.Failed)+len(res.Skipped) != 0 {
		t.Errorf("second run failed %v skipped %v", names(res.Failed), names(res.Skipped))
	}
	for _, o := range res.Deleted {
		if o.Reason != "already gone" {
			t.Errorf("second run: %s %s", o.Kind, o.Reason)
		}
	}
	if !maps.EqualFunc(after, s.state(), slices.Equal) {
		t.Error("second run changed the store")
	}
}

func TestApplyInterruptedThenResumed(t *testing.T) {
	s := fixture()
	p := plan(t, s, fixturePolicy)
	ctx, cancel := context.WithCancel(context.Background())
	res, err := Apply(ctx, p, s, s, ApplyOptions{Concurrency: 1, Observe: func(Outcome) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply error %v, want context.Canceled", err)
	}
	if len(res.Deleted) != 1 {
		t.Errorf("deleted %v, want exactly the one before the interruption", names(res.Deleted))
	}
	for _, o := range res.Skipped {
		if o.Reason != "interrupted" && !strings.HasSuffix(o.Reason, "was not deleted") {
			t.Errorf("skipped %s: %s", o.Kind, o.Reason)
		}
	}
	if got := len(res.Deleted) + len(res.Skipped); got != p.Summary.TagsDeleted+p.Summary.ManifestsDeleted {
		t.Errorf("accounted for %d of %d planned deletions", got, p.Summary.TagsDeleted+p.Summary.ManifestsDeleted)
	}
	// A new run from a fresh plan finishes the job.
	if _, err := Apply(context.Background(), plan(t, s, fixturePolicy), s, s, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	tags, ms := left(s, "app")
	if !slices.Equal(tags, []string{"new"}) || !slices.Equal(ms, []string{"new"}) {
		t.Errorf("after resume: tags %v manifests %v", tags, ms)
	}
}

// flaky fails deletions of chosen targets and tracks concurrency.
type flaky struct {
	*memSource
	failOn             map[string]bool
	inFlight, maxSeen  atomic.Int64
	tagDelay, manDelay time.Duration
}

func (f *flaky) enter(delay time.Duration) func() {
	n := f.inFlight.Add(1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(delay)
	return func() { f.inFlight.Add(-1) }
}

func (f *flaky) DeleteTag(ctx context.Context, repo, tag string) error {
	defer f.enter(f.tagDelay)()
	if f.failOn[tag] {
		return errors.New("backend down")
	}
	return f.memSource.DeleteTag(ctx, repo, tag)
}

func (f *flaky) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	defer f.enter(f.manDelay)()
	if f.failOn[undg(d)] {
		return errors.New("backend down")
	}
	return f.memSource.DeleteManifest(ctx, repo, d)
}

func TestApplyFailuresKeepDependents(t *testing.T) {
	tests := []struct {
		name        string
		failOn      string
		wantFailed  []string
		wantSkipped []string
	}{
		{
			name:        "failed tag keeps its manifest and what hangs off it",
			failOn:      "multi",
			wantFailed:  []string{"app:multi deleted: older than 30d"},
			wantSkipped: []string{"app@c1 index " + sd("idx") + " was not deleted", "app@c2 index " + sd("idx") + " was not deleted", "app@idx tag multi was not deleted", "app@sig subject " + sd("idx") + " was not deleted"},
		},
		{
			name:        "failed index deletion keeps its children",
			failOn:      "idx",
			wantFailed:  []string{"app@idx deleted: no tag left"},
			wantSkipped: []string{"app@c1 index " + sd("idx") + " was not deleted", "app@c2 index " + sd("idx") + " was not deleted"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture()
			p := plan(t, s, fixturePolicy)
			f := &flaky{memSource: s, failOn: map[string]bool{tt.failOn: true}}
			res, err := Apply(context.Background(), p, f, s, ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(res.Failed); !slices.Equal(got, tt.wantFailed) {
				t.Errorf("failed %q, want %q", got, tt.wantFailed)
			}
			for _, o := range res.Failed {
				if o.Err == nil || !strings.Contains(o.Error, "backend down") {
					t.Errorf("failure without its error: %+v", o)
				}
			}
			if got := names(res.Skipped); !slices.Equal(got, tt.wantSkipped) {
				t.Errorf("skipped %q, want %q", got, tt.wantSkipped)
			}
		})
	}
}

func TestApplyBoundsConcurrency(t *testing.T) {
	s := newMem()
	for i := range 40 {
		n := fmt.Sprintf("t%02d", i)
		s.put("app", img(n, 40*day), n)
	}
	p := plan(t, s, Policy{OlderThan: dur("1d")})
	f := &flaky{memSource: s, tagDelay: 2 * time.Millisecond}
	res, err := Apply(context.Background(), p, f, s, ApplyOptions{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 80 {
		t.Errorf("deleted %d, want 80", len(res.Deleted))
	}
	if m := f.maxSeen.Load(); m > 3 || m < 2 {
		t.Errorf("max in flight %d, want 2..3", m)
	}
}

func TestApplyRequiresChecker(t *testing.T) {
	if _, err := Apply(context.Background(), &Plan{}, newMem(), nil, ApplyOptions{}); err == nil {
		t.Error("Apply without a Checker succeeded")
	}
}
