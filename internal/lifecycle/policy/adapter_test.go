package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
)

func olderThan30d(t *testing.T) *retention.Policy {
	t.Helper()
	p, err := Decode("p", []byte(`{"olderThan":"30d"}`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPlanReasons plans over a real store with every kind of protection.
func TestPlanReasons(t *testing.T) {
	f := newStoreFixture(t)
	f.image("app", "old", daysAgo(40), "old")
	f.image("app", "new", daysAgo(1), "new")
	f.image("app", "pinned", daysAgo(50), "pinned")
	f.lockTag("app", "pinned")
	f.image("app", "rel", daysAgo(60), "release-1")
	if _, err := f.s.AddImmutableRule(f.ctx, metadata.ImmutableRule{Repos: "app", Tags: "release-.*"}); err != nil {
		t.Fatal(err)
	}
	held := f.image("app", "held", daysAgo(45), "held")
	if err := f.s.SetLock(f.ctx, metadata.Lock{Repo: "app", Digest: held, WriteEnabled: true, ReadEnabled: true}); err != nil {
		t.Fatal(err)
	}
	f.image("frozen", "x", daysAgo(90), "x")
	if err := f.s.SetLock(f.ctx, metadata.Lock{Repo: "frozen", WriteEnabled: false, DeleteEnabled: true, ReadEnabled: true}); err != nil {
		t.Fatal(err)
	}

	plan, err := retention.BuildPlan(f.ctx, NewAdapter(f.s, true), olderThan30d(t), now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range plan.Repositories {
		for _, tp := range r.Tags {
			got[r.Name+":"+tp.Name] = tp.Reason
		}
		for _, m := range r.Manifests {
			if m.Digest == held {
				got["app@held"] = m.Reason
			}
		}
	}
	tests := map[string]string{
		"app:old":       "deleted: older than 30d",
		"app:new":       "kept: newer than 30d",
		"app:pinned":    "kept: locked",
		"app:release-1": "kept: locked",
		"app:held":      "kept: manifest locked",
		"app@held":      "kept: locked",
		"frozen:x":      "kept: locked",
	}
	for key, want := range tests {
		t.Run(key, func(t *testing.T) {
			if got[key] != want {
				t.Errorf("reason = %q, want %q", got[key], want)
			}
		})
	}
	if plan.Summary.TagsDeleted != 1 || plan.Summary.ManifestsDeleted != 1 {
		t.Errorf("summary = %+v, want 1 tag and its manifest deleted", plan.Summary)
	}
}

// TestApply deletes through the adapter into the bin, or for good when
// the bin is off, and stamps the actor on the events.
func TestApply(t *testing.T) {
	for _, trash := range []bool{true, false} {
		t.Run(map[bool]string{true: "trash", false: "no trash"}[trash], func(t *testing.T) {
			f := newStoreFixture(t)
			old := f.image("app", "old", daysAgo(40), "old")
			f.image("app", "new", daysAgo(1), "new")
			ctx := metadata.WithActor(f.ctx, Actor("nightly"))
			a := NewAdapter(f.s, trash)
			plan, err := retention.BuildPlan(ctx, a, olderThan30d(t), now)
			if err != nil {
				t.Fatal(err)
			}
			res, err := retention.Apply(ctx, plan, a, a, retention.ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Deleted) != 2 || len(res.Skipped)+len(res.Failed) != 0 {
				t.Fatalf("result = %+v, want the tag and its manifest deleted", res)
			}
			if tags := f.tags("app"); !slices.Equal(tags, []string{"new"}) {
				t.Errorf("tags = %v, want [new]", tags)
			}
			if _, err := f.s.Manifest(f.ctx, "app", old); err == nil {
				t.Error("deleted manifest still readable")
			}
			bin, err := f.s.ListTrash(f.ctx, "", metadata.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if trash && (len(bin) != 2 || bin[0].Tag != "old" || bin[1].Digest != old || bin[0].Actor != "policy:nightly") {
				t.Errorf("bin = %+v, want tag old then its manifest, by policy:nightly", bin)
			}
			if !trash && len(bin) != 0 {
				t.Errorf("bin = %+v, want empty with the bin off", bin)
			}
			evs, err := f.s.PendingEvents(f.ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var byPolicy int
			for _, e := range evs {
				if e.Actor == "policy:nightly" {
					byPolicy++
				}
			}
			if byPolicy != 2 {
				t.Errorf("%d events by policy:nightly, want 2 (tag and manifest)", byPolicy)
			}
		})
	}
}

// TestApplyRechecks moves one planned tag and locks another between plan
// and apply: both survive, and so does the manifest the moved tag left.
func TestApplyRechecks(t *testing.T) {
	f := newStoreFixture(t)
	moved := f.image("app", "a", daysAgo(40), "a")
	f.image("app", "b", daysAgo(41), "b")
	f.image("app", "c", daysAgo(42), "c")
	a := NewAdapter(f.s, true)
	plan, err := retention.BuildPlan(f.ctx, a, olderThan30d(t), now)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Summary.TagsDeleted != 3 {
		t.Fatalf("plan deletes %d tags, want 3", plan.Summary.TagsDeleted)
	}
	f.image("app", "a2", daysAgo(0), "a") // a moves
	f.lockTag("app", "b")
	res, err := retention.Apply(f.ctx, plan, a, a, retention.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tags := f.tags("app"); !slices.Equal(tags, []string{"a", "b"}) {
		t.Errorf("tags = %v, want [a b]", tags)
	}
	skipped := map[string]string{}
	for _, o := range res.Skipped {
		if o.Kind == retention.KindTag {
			skipped[o.Tag] = o.Reason
		}
	}
	if r := skipped["a"]; !strings.HasPrefix(r, "changed since plan") {
		t.Errorf("a skipped with %q, want changed since plan", r)
	}
	if r := skipped["b"]; r != "locked since plan" {
		t.Errorf("b skipped with %q, want locked since plan", r)
	}
	if _, err := f.s.Manifest(f.ctx, "app", moved); err != nil {
		t.Errorf("manifest a pointed at before the move: %v, want kept because its tag was not deleted", err)
	}
}

// TestDeleterRefuses checks the deleter's own guards, which close the
// window after the engine's re-check.
func TestDeleterRefuses(t *testing.T) {
	f := newStoreFixture(t)
	d := f.image("app", "x", daysAgo(40), "x")
	f.lockTag("app", "x")
	a := NewAdapter(f.s, true)
	if err := a.DeleteTag(f.ctx, "app", "x"); err == nil || !strings.Contains(err.Error(), "tag app:x is locked (delete-enabled=false)") {
		t.Errorf("DeleteTag(locked) = %v", err)
	}
	if err := a.DeleteManifest(f.ctx, "app", d); err == nil || !strings.Contains(err.Error(), "tagged") {
		t.Errorf("DeleteManifest(tagged) = %v", err)
	}
	if err := a.DeleteTag(f.ctx, "app", "nope"); !isNotFound(err) {
		t.Errorf("DeleteTag(absent) = %v, want retention.ErrNotFound", err)
	}
	if _, err := a.Tag(f.ctx, "gone", "x"); !isNotFound(err) {
		t.Errorf("Tag(absent repo) = %v, want retention.ErrNotFound", err)
	}
}
