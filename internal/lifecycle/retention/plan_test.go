package retention

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// img is a manifest named name (its digest is dg(name)) pushed age ago.
func img(name string, age time.Duration) Manifest {
	return Manifest{Digest: dg(name), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1000, PushedAt: ago(age)}
}

func index(name string, age time.Duration, children ...string) Manifest {
	m := img(name, age)
	m.MediaType = "application/vnd.oci.image.index.v1+json"
	for _, c := range children {
		m.Children = append(m.Children, dg(c))
	}
	return m
}

func referrer(name string, age time.Duration, subject string) Manifest {
	m := img(name, age)
	m.ArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	m.Subject = dg(subject)
	return m
}

// undg reverses dg for readable failure messages and expectation keys.
func undg(d digest.Digest) string {
	b, err := hex.DecodeString(d.Encoded())
	if err != nil {
		return string(d)
	}
	return strings.TrimRight(string(b), "\x00")
}

// verdicts flattens a plan to "repo:tag" and "repo@name" → reason.
func verdicts(p *Plan) map[string]string {
	out := make(map[string]string)
	for _, r := range p.Repositories {
		for _, t := range r.Tags {
			out[r.Name+":"+t.Name] = t.Reason
		}
		for _, m := range r.Manifests {
			out[r.Name+"@"+undg(m.Digest)] = m.Reason
		}
	}
	return out
}

const (
	day  = Day
	hour = time.Hour
)

func TestPlanRules(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		setup  func(s *memSource)
		// want lists every tag ("repo:tag") and manifest ("repo@name") of
		// the plan with its reason; anything extra or missing fails.
		want map[string]string
	}{
		{
			name:   "keep 2 newest, delete the rest (the nightly bash loop)",
			policy: Policy{Keep: 2, OlderThan: dur("0d")},
			setup: func(s *memSource) {
				for i, n := range []string{"v1", "v2", "v3", "v4"} {
					s.put("app", img(n, time.Duration(4-i)*day), n)
				}
			},
			want: map[string]string{
				"app:v4": "kept: newest 2", "app:v3": "kept: newest 2",
				"app:v2": "deleted: older than 0d", "app:v1": "deleted: older than 0d",
				"app@v4": "kept: tagged v4", "app@v3": "kept: tagged v3",
				"app@v2": "deleted: no tag left", "app@v1": "deleted: no tag left",
			},
		},
		{
			name:   "older than alone",
			policy: Policy{OlderThan: dur("30d")},
			setup: func(s *memSource) {
				s.put("app", img("old", 40*day), "old")
				s.put("app", img("new", 10*day), "new")
			},
			want: map[string]string{
				"app:old": "deleted: older than 30d", "app:new": "kept: newer than 30d",
				"app@old": "deleted: no tag left", "app@new": "kept: tagged new",
			},
		},
		{
			name:   "keep is a floor over every selected tag",
			policy: Policy{Keep: 2, OlderThan: dur("30d")},
			setup: func(s *memSource) {
				s.put("app", img("a", 50*day), "a")
				s.put("app", img("b", 40*day), "b")
				s.put("app", img("c", 35*day), "c")
			},
			want: map[string]string{
				"app:c": "kept: newest 2", "app:b": "kept: newest 2", "app:a": "deleted: older than 30d",
				"app@c": "kept: tagged c", "app@b": "kept: tagged b", "app@a": "deleted: no tag left",
			},
		},
		{
			name:   "floor met by new tags: old ones all go (acr would keep 2 of them)",
			policy: Policy{Keep: 2, OlderThan: dur("30d")},
			setup: func(s *memSource) {
				s.put("app", img("n1", 1*day), "n1")
				s.put("app", img("n2", 2*day), "n2")
				s.put("app", img("n3", 3*day), "n3")
				s.put("app", img("o1", 40*day), "o1")
				s.put("app", img("o2", 50*day), "o2")
			},
			want: map[string]string{
				"app:n1": "kept: newest 2", "app:n2": "kept: newest 2", "app:n3": "kept: newer than 30d",
				"app:o1": "deleted: older than 30d", "app:o2": "deleted: older than 30d",
				"app@n1": "kept: tagged n1", "app@n2": "kept: tagged n2", "app@n3": "kept: tagged n3",
				"app@o1": "deleted: no tag left", "app@o2": "deleted: no tag left",
			},
		},
		{
			name:   "max tags alone",
			policy: Policy{MaxTags: intp(2)},
			setup: func(s *memSource) {
				s.put("app", img("a", 1*hour), "a")
				s.put("app", img("b", 2*hour), "b")
				s.put("app", img("c", 3*hour), "c")
			},
			want: map[string]string{
				"app:a": "kept: within max 2 tags", "app:b": "kept: within max 2 tags", "app:c": "deleted: beyond max 2 tags",
				"app@a": "kept: tagged a", "app@b": "kept: tagged b", "app@c": "deleted: no tag left",
			},
		},
		{
			name:   "combined: keep, older than, max, pulled within",
			policy: Policy{Keep: 1, OlderThan: dur("30d"), MaxTags: intp(3), PulledWithin: *dur("7d")},
			setup: func(s *memSource) {
				s.put("app", img("t1", 1*day), "t1")
				s.put("app", img("t2", 2*day), "t2")
				s.put("app", img("t3", 3*day), "t3")
				s.put("app", img("t4", 4*day), "t4")
				s.put("app", img("t5", 60*day), "t5")
				s.setTag("app", Tag{Name: "t5", Digest: dg("t5"), PushedAt: ago(60 * day), LastPulledAt: ago(3 * day)})
				s.put("app", img("t6", 61*day), "t6")
			},
			want: map[string]string{
				"app:t1": "kept: newest 1", "app:t2": "kept: newer than 30d", "app:t3": "kept: newer than 30d",
				"app:t4": "deleted: beyond max 3 tags", "app:t5": "kept: pulled 3d ago", "app:t6": "deleted: older than 30d",
				"app@t1": "kept: tagged t1", "app@t2": "kept: tagged t2", "app@t3": "kept: tagged t3",
				"app@t4": "deleted: no tag left", "app@t5": "kept: tagged t5", "app@t6": "deleted: no tag left",
			},
		},
		{
			name: "tag and repository selectors, include and exclude, anchored",
			policy: Policy{
				Repositories: Selector{Include: []string{"team/.*"}, Exclude: []string{"team/keep"}},
				Tags:         Selector{Include: []string{"v1", "dev-.*"}, Exclude: []string{"dev-pinned"}},
				OlderThan:    dur("1d"),
			},
			setup: func(s *memSource) {
				s.put("team/app", img("v1", 5*day), "v1")
				s.put("team/app", img("v10", 5*day), "v10")
				s.put("team/app", img("d1", 5*day), "dev-1")
				s.put("team/app", img("dp", 5*day), "dev-pinned")
				s.put("team/keep", img("k", 5*day), "v1")
				s.put("other", img("o", 5*day), "v1")
			},
			want: map[string]string{
				"team/app:v1": "deleted: older than 1d", "team/app:v10": "kept: not selected",
				"team/app:dev-1": "deleted: older than 1d", "team/app:dev-pinned": "kept: not selected",
				"team/app@v1": "deleted: no tag left", "team/app@v10": "kept: tagged v10",
				"team/app@d1": "deleted: no tag left", "team/app@dp": "kept: tagged dev-pinned",
			},
		},
		{
			name:   "pulled within protects a tag and, separately, a manifest",
			policy: Policy{OlderThan: dur("30d"), PulledWithin: *dur("7d")},
			setup: func(s *memSource) {
				s.put("app", img("a", 40*day), "a")
				s.setTag("app", Tag{Name: "a", Digest: dg("a"), PushedAt: ago(40 * day), LastPulledAt: ago(3 * day)})
				b := img("b", 40*day)
				b.LastPulledAt = ago(2 * day)
				s.put("app", b, "b")
				c := img("c", 40*day)
				c.LastPulledAt = ago(8 * day)
				s.put("app", c, "c")
			},
			want: map[string]string{
				"app:a": "kept: pulled 3d ago", "app:b": "deleted: older than 30d", "app:c": "deleted: older than 30d",
				"app@a": "kept: tagged a", "app@b": "kept: pulled 2d ago", "app@c": "deleted: no tag left",
			},
		},
		{
			name:   "locked tags and manifests are never deleted",
			policy: Policy{OlderThan: dur("0d"), UntaggedOlderThan: dur("0d")},
			setup: func(s *memSource) {
				s.put("app", img("a", 40*day), "a")
				s.setTag("app", Tag{Name: "a", Digest: dg("a"), PushedAt: ago(40 * day), Locked: true})
				b := img("b", 40*day)
				b.Locked = true
				s.put("app", b, "b")
				u := img("u", 40*day)
				u.Locked = true
				s.put("app", u)
			},
			want: map[string]string{
				"app:a": "kept: locked", "app:b": "kept: manifest locked",
				"app@a": "kept: tagged a", "app@b": "kept: locked", "app@u": "kept: locked",
			},
		},
		{
			name:   "multi-arch index keeps its untagged children under the untagged rule",
			policy: Policy{OlderThan: dur("30d"), UntaggedOlderThan: dur("0d")},
			setup: func(s *memSource) {
				s.put("app", img("amd64", 10*day))
				s.put("app", img("arm64", 10*day))
				s.put("app", index("idx", 10*day, "amd64", "arm64"), "latest")
				s.put("app", img("stray", 10*day))
			},
			want: map[string]string{
				"app:latest": "kept: newer than 30d",
				"app@idx":    "kept: tagged latest",
				"app@amd64":  "kept: child of kept index", "app@arm64": "kept: child of kept index",
				"app@stray": "deleted: untagged older than 0d",
			},
		},
		{
			name:   "a deleted index takes its untagged children, not a child another index keeps",
			policy: Policy{OlderThan: dur("30d")},
			setup: func(s *memSource) {
				s.put("app", img("c1", 40*day))
				s.put("app", img("shared", 40*day))
				s.put("app", index("old", 40*day, "c1", "shared"), "old")
				s.put("app", index("new", 1*day, "shared"), "new")
			},
			want: map[string]string{
				"app:old": "deleted: older than 30d", "app:new": "kept: newer than 30d",
				"app@old": "deleted: no tag left", "app@new": "kept: tagged new",
				"app@c1": "deleted: child of deleted index", "app@shared": "kept: child of kept index",
			},
		},
		{
			name:   "referrers stay with a kept subject and go with a deleted one",
			policy: Policy{OlderThan: dur("30d"), UntaggedOlderThan: dur("1d")},
			setup: func(s *memSource) {
				s.put("app", img("keep", 40*day), "stable")
				s.setTag("app", Tag{Name: "stable", Digest: dg("keep"), PushedAt: ago(1 * day)})
				s.put("app", referrer("sig-keep", 40*day, "keep"))
				s.put("app", img("gone", 40*day), "old")
				s.put("app", referrer("sig-gone", 40*day, "gone"))
				s.put("app", referrer("sbom-gone", 1*hour, "sig-gone"))
			},
			want: map[string]string{
				"app:stable": "kept: newer than 30d", "app:old": "deleted: older than 30d",
				"app@keep": "kept: tagged stable", "app@sig-keep": "kept: referrer of kept manifest",
				"app@gone": "deleted: no tag left", "app@sig-gone": "deleted: referrer of deleted manifest",
				"app@sbom-gone": "deleted: referrer of deleted manifest",
			},
		},
		{
			name:   "untagged rule: old goes, young stays; without the rule all stay",
			policy: Policy{UntaggedOlderThan: dur("7d")},
			setup: func(s *memSource) {
				s.put("app", img("old", 8*day))
				s.put("app", img("young", 6*day))
				s.put("app", img("tagged", 90*day), "t")
			},
			want: map[string]string{
				"app:t":      "kept: no delete rule",
				"app@tagged": "kept: tagged t", "app@old": "deleted: untagged older than 7d",
				"app@young": "kept: untagged, newer than 7d",
			},
		},
		{
			name:   "no untagged rule keeps untagged manifests",
			policy: Policy{OlderThan: dur("1d")},
			setup:  func(s *memSource) { s.put("app", img("u", 100*day)) },
			want:   map[string]string{"app@u": "kept: untagged, no untagged rule"},
		},
		{
			name:   "a manifest with one deleted and one kept tag stays",
			policy: Policy{OlderThan: dur("30d"), Tags: Selector{Exclude: []string{"latest"}}},
			setup: func(s *memSource) {
				s.put("app", img("m", 40*day), "1.0", "latest")
			},
			want: map[string]string{
				"app:1.0": "deleted: older than 30d", "app:latest": "kept: not selected",
				"app@m": "kept: tagged latest",
			},
		},
		{
			name:   "a locked manifest keeps its referrers",
			policy: Policy{UntaggedOlderThan: dur("0d")},
			setup: func(s *memSource) {
				m := img("m", 5*day)
				m.Locked = true
				s.put("app", m)
				s.put("app", referrer("sig", 5*day, "m"))
			},
			want: map[string]string{"app@m": "kept: locked", "app@sig": "kept: referrer of kept manifest"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMem()
			tt.setup(s)
			p, err := BuildPlan(context.Background(), s, &tt.policy, t0)
			if err != nil {
				t.Fatalf("BuildPlan: %v", err)
			}
			got := verdicts(p)
			for _, k := range slices.Sorted(maps.Keys(tt.want)) {
				if got[k] != tt.want[k] {
					t.Errorf("%s: got %q, want %q", k, got[k], tt.want[k])
				}
			}
			for _, k := range slices.Sorted(maps.Keys(got)) {
				if _, ok := tt.want[k]; !ok {
					t.Errorf("unexpected %s: %q", k, got[k])
				}
			}
		})
	}
}

func TestPlanWavesOrderParentsAndReferrersFirst(t *testing.T) {
	s := newMem()
	s.put("app", img("child", 40*day))
	s.put("app", index("idx", 40*day, "child"), "old")
	s.put("app", referrer("sig", 40*day, "idx"))
	p, err := BuildPlan(context.Background(), s, &Policy{OlderThan: dur("30d")}, t0)
	if err != nil {
		t.Fatal(err)
	}
	waves := map[string]int{}
	for _, m := range p.Repositories[0].Manifests {
		if !m.Delete {
			t.Fatalf("%s kept: %s", undg(m.Digest), m.Reason)
		}
		waves[undg(m.Digest)] = m.Wave
	}
	if !(waves["sig"] < waves["idx"] && waves["idx"] < waves["child"]) {
		t.Errorf("waves %v: want sig < idx < child", waves)
	}
}

func TestPlanSummaryAndBytesFreed(t *testing.T) {
	s := newMem()
	shared := Blob{Digest: dg("layer-shared"), Size: 100}
	a := img("a", 40*day)
	a.Blobs = []Blob{shared, {Digest: dg("layer-a"), Size: 10}}
	b := img("b", 40*day)
	b.Blobs = []Blob{shared, {Digest: dg("layer-a"), Size: 10}, {Digest: dg("layer-b"), Size: 20}}
	c := img("c", 1*day)
	c.Blobs = []Blob{shared}
	s.put("app", a, "a")
	s.put("app", b, "b")
	s.put("app", c, "c")
	p, err := BuildPlan(context.Background(), s, &Policy{OlderThan: dur("30d")}, t0)
	if err != nil {
		t.Fatal(err)
	}
	// a and b go (1000 bytes each), layer-a once, layer-b; shared stays with c.
	want := Summary{Repositories: 1, TagsKept: 1, TagsDeleted: 2, ManifestsKept: 1, ManifestsDeleted: 2, BytesFreed: 2000 + 10 + 20}
	if p.Summary != want {
		t.Errorf("summary %+v, want %+v", p.Summary, want)
	}
}

func TestPlanSkipsVanishedRepositoryAndWrapsErrors(t *testing.T) {
	s := newMem()
	s.put("app", img("a", day), "a")
	gone := &vanishing{memSource: s}
	p, err := BuildPlan(context.Background(), gone, &Policy{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Repositories) != 1 || p.Repositories[0].Name != "app" {
		t.Errorf("repositories %+v, want only app", p.Repositories)
	}

	boom := errors.New("boom")
	_, err = BuildPlan(context.Background(), &failing{memSource: s, err: boom}, &Policy{}, t0)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `repository "app"`) {
		t.Errorf("error %v: want wrapped boom naming the repository", err)
	}
}

// vanishing lists a repository that is gone by the time it is read.
type vanishing struct{ *memSource }

func (v *vanishing) Repositories(ctx context.Context) ([]string, error) {
	names, err := v.memSource.Repositories(ctx)
	return append(names, "deleted-meanwhile"), err
}

type failing struct {
	*memSource
	err error
}

func (f *failing) Tags(context.Context, string) ([]Tag, error) { return nil, f.err }

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		fields []string // every field the error must name; none = valid
	}{
		{"empty is valid", Policy{}, nil},
		{"full is valid", Policy{Keep: 2, MaxTags: intp(5), OlderThan: dur("30d"), Tags: Selector{Include: []string{"v.*"}}}, nil},
		{"bad tag regex", Policy{Tags: Selector{Include: []string{"v(", "ok"}}}, []string{"tags.include[0]"}},
		{"bad repo exclude", Policy{Repositories: Selector{Exclude: []string{"a", "[z-a]"}}}, []string{"repositories.exclude[1]"}},
		{"regex escaping the anchor", Policy{Tags: Selector{Include: []string{"a)|(b"}}}, []string{"tags.include[0]"}},
		{"negative keep", Policy{Keep: -1}, []string{"keep"}},
		{"negative max", Policy{MaxTags: intp(-3)}, []string{"maxTags"}},
		{"max below keep", Policy{Keep: 3, MaxTags: intp(2)}, []string{"maxTags"}},
		{"negative duration", Policy{OlderThan: func() *Duration { d := Duration(-time.Hour); return &d }()}, []string{"olderThan"}},
		{"several at once", Policy{Keep: -1, Tags: Selector{Exclude: []string{"("}}}, []string{"keep", "tags.exclude[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted an invalid policy")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %v has no *FieldError", err)
			}
			for _, f := range tt.fields {
				if !strings.Contains(err.Error(), f+": ") {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
			if _, err := BuildPlan(context.Background(), newMem(), &tt.policy, t0); err == nil {
				t.Error("BuildPlan accepted an invalid policy")
			}
		})
	}
}

// The two spellings of the nightly "keep the two newest" loop that the
// documentation gives must delete exactly the same things.
func TestBashLoopSpellingsAgree(t *testing.T) {
	s := fixture()
	for i := range 6 {
		n := fmt.Sprintf("r%d", i)
		s.put("lib", img(n, time.Duration(i)*hour), n)
	}
	deletions := func(p Policy) []string {
		var out []string
		for k, v := range verdicts(plan(t, s, p)) {
			if strings.HasPrefix(v, "deleted") {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	a, b := deletions(Policy{Keep: 2, OlderThan: dur("0d")}), deletions(Policy{MaxTags: intp(2)})
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Errorf("keep 2 + olderThan 0d deletes %v\nmaxTags 2 deletes %v", a, b)
	}
}

// A broken Source can report reference cycles and duplicates that content
// addressing rules out; the engine must neither hang nor panic on them.
func TestPlanSurvivesCyclicInput(t *testing.T) {
	s := newMem()
	s.put("app", index("a", 40*day, "b", "a"), "old")
	s.put("app", index("b", 40*day, "a"))
	r := referrer("r", 40*day, "r")
	r.Children = []digest.Digest{dg("a")}
	s.put("app", r)
	p := plan(t, s, Policy{OlderThan: dur("1d"), UntaggedOlderThan: dur("1d")})
	if p.Summary.ManifestsDeleted != 3 {
		t.Errorf("summary %+v, want the 3 manifests deleted", p.Summary)
	}
	res, err := Apply(context.Background(), p, s, s, ApplyOptions{})
	if err != nil || len(res.Failed) != 0 {
		t.Fatalf("Apply: %v, failed %v", err, names(res.Failed))
	}
	if _, ms := left(s, "app"); len(ms) != 0 {
		t.Errorf("left %v", ms)
	}
}
