package metadatatest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// PolicyStore is a backend with the retention roles.
type PolicyStore interface {
	metadata.Store
	metadata.RetentionPolicies
	metadata.RetentionRuns
	metadata.TagTimes
	metadata.TagBatchDeleter
	metadata.ManifestGraph
}

// RunPolicies checks the RetentionPolicies, RetentionRuns and TagTimes
// roles. Beyond the interface comments it pins down that policy JSON is
// stored byte for byte and that a run's event carries the run.
func RunPolicies(t *testing.T, open func(t *testing.T) PolicyStore) {
	t.Run("Policies", func(t *testing.T) { testPolicies(t, open(t)) })
	t.Run("Runs", func(t *testing.T) { testRetentionRuns(t, open(t)) })
	t.Run("TagTimes", func(t *testing.T) { testTagTimes(t, open(t)) })
	t.Run("DeleteTags", func(t *testing.T) { testDeleteTags(t, open(t)) })
	t.Run("ManifestGraph", func(t *testing.T) { testManifestGraph(t, open(t)) })
}

func testPolicies(t *testing.T, s PolicyStore) {
	ctx := metadata.WithActor(context.Background(), "tester")
	if _, err := s.RetentionPolicy(ctx, "nightly"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("RetentionPolicy(absent) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteRetentionPolicy(ctx, "nightly"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("DeleteRetentionPolicy(absent) = %v, want ErrNotFound", err)
	}
	put := func(name, body, schedule string, enabled bool) {
		t.Helper()
		if err := s.PutRetentionPolicy(ctx, metadata.RetentionPolicy{Name: name, Policy: json.RawMessage(body), Schedule: schedule, Enabled: enabled}); err != nil {
			t.Fatalf("PutRetentionPolicy(%s): %v", name, err)
		}
	}
	put("nightly", `{"keep":2}`, "24h", true)
	put("b-weekly", `{"maxTags":5}`, "", false)
	put("nightly", `{"keep": 3}`, "@daily", false) // replaces
	got, err := s.RetentionPolicy(ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Policy) != `{"keep": 3}` || got.Schedule != "@daily" || got.Enabled || got.Actor != "tester" || got.Updated.IsZero() {
		t.Errorf("RetentionPolicy = %+v, want the replacement stamped by tester", got)
	}
	all, err := s.ListRetentionPolicies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "b-weekly" || all[1].Name != "nightly" {
		t.Errorf("ListRetentionPolicies = %+v, want b-weekly, nightly", all)
	}
	if _, err := s.RecordRetentionRun(ctx, metadata.RetentionRun{Policy: "nightly", Started: t0, Finished: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRetentionPolicy(ctx, "nightly"); err != nil {
		t.Fatal(err)
	}
	if runs, err := s.RetentionRuns(ctx, "nightly", 10); err != nil || len(runs) != 0 {
		t.Errorf("runs after delete = %v, %v; want none", runs, err)
	}
	evs, err := s.PendingEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	want := []string{metadata.EventPolicySet, metadata.EventPolicySet, metadata.EventPolicySet, metadata.EventRetentionRun, metadata.EventPolicyDeleted}
	if len(types) != len(want) {
		t.Fatalf("events = %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Errorf("event %d = %s, want %s", i, types[i], want[i])
		}
	}
}

func testRetentionRuns(t *testing.T, s PolicyStore) {
	ctx := metadata.WithActor(context.Background(), "policy:a")
	for i, p := range []string{"a", "b", "a"} {
		run := metadata.RetentionRun{Policy: p, Started: at(i), Finished: at(i).Add(time.Second), DryRun: i == 1,
			TagsDeleted: i + 1, TagsKept: 2, ManifestsDeleted: 3, ManifestsKept: 4, Skipped: 5, Failed: 6, BytesFreed: 700, Error: "boom"}
		id, err := s.RecordRetentionRun(ctx, run)
		if err != nil || id <= 0 {
			t.Fatalf("RecordRetentionRun = %d, %v", id, err)
		}
	}
	runs, err := s.RetentionRuns(ctx, "a", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].TagsDeleted != 3 || runs[1].TagsDeleted != 1 {
		t.Fatalf("RetentionRuns(a) = %+v, want the two runs of a, newest first", runs)
	}
	r := runs[0]
	if !r.Started.Equal(at(2)) || !r.Finished.Equal(at(2).Add(time.Second)) || r.DryRun || r.TagsKept != 2 ||
		r.ManifestsDeleted != 3 || r.ManifestsKept != 4 || r.Skipped != 5 || r.Failed != 6 || r.BytesFreed != 700 || r.Error != "boom" {
		t.Errorf("run = %+v, fields lost", r)
	}
	if all, _ := s.RetentionRuns(ctx, "", 2); len(all) != 2 || all[0].Policy != "a" || all[1].Policy != "b" || !all[1].DryRun {
		t.Errorf("RetentionRuns(all, 2) = %+v", all)
	}
	evs, err := s.PendingEvents(ctx, 0, 100)
	if err != nil || len(evs) != 3 {
		t.Fatalf("events = %v, %v; want 3", evs, err)
	}
	e := evs[2]
	var detail metadata.RetentionRun
	if err := json.Unmarshal(e.Detail, &detail); err != nil {
		t.Fatalf("event detail %s: %v", e.Detail, err)
	}
	if e.Type != metadata.EventRetentionRun || e.Actor != "policy:a" || e.Size != 700 || detail.TagsDeleted != 3 || detail.ID != runs[0].ID {
		t.Errorf("event = %+v, detail %+v", e, detail)
	}
}

func testTagTimes(t *testing.T, s PolicyStore) {
	f := &fixture{t: t, s: s, ctx: context.Background()}
	if _, err := s.ListTagTimes(f.ctx, "app"); !errors.Is(err, metadata.ErrRepoNotFound) {
		t.Fatalf("ListTagTimes(absent repo) = %v, want ErrRepoNotFound", err)
	}
	if _, err := s.TagTime(f.ctx, "app", "v1"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("TagTime(absent repo) = %v, want ErrNotFound", err)
	}
	m1 := f.image("app", "one", at(1), "v1", "latest")
	m2 := f.image("app", "two", at(2), "v2")
	if err := s.RecordPulls(f.ctx, []metadata.Pull{{Repo: "app", Digest: m2.Digest, At: at(5)}}); err != nil {
		t.Fatal(err)
	}
	f.put(m2, "latest") // moves latest, stamped with m2's push time
	tags, err := s.ListTagTimes(f.ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 3 || tags[0].Name != "latest" || tags[1].Name != "v1" || tags[2].Name != "v2" {
		t.Fatalf("ListTagTimes = %+v, want latest, v1, v2", tags)
	}
	if tags[1].Digest != m1.Digest || !tags[1].Updated.Equal(at(1)) || !tags[1].LastPulledAt.IsZero() {
		t.Errorf("v1 = %+v", tags[1])
	}
	if tags[2].Digest != m2.Digest || !tags[2].LastPulledAt.Equal(at(5)) {
		t.Errorf("v2 = %+v", tags[2])
	}
	one, err := s.TagTime(f.ctx, "app", "latest")
	if err != nil {
		t.Fatal(err)
	}
	if one.Digest != m2.Digest || !one.Updated.Equal(at(2)) || !one.FirstPushed.Equal(at(1)) || one != tags[0] {
		t.Errorf("TagTime(latest) = %+v, want moved to %s", one, m2.Digest)
	}
	if _, err := s.TagTime(f.ctx, "app", "nope"); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("TagTime(absent tag) = %v, want ErrNotFound", err)
	}
}

func testDeleteTags(t *testing.T, s PolicyStore) {
	for _, trash := range []bool{true, false} {
		t.Run(map[bool]string{true: "trash", false: "delete"}[trash], func(t *testing.T) {
			f := &fixture{t: t, s: s, ctx: metadata.WithActor(context.Background(), "policy:x")}
			repo := map[bool]string{true: "bin", false: "gone"}[trash]
			m := f.image(repo, "one", at(1), "a", "b", "c")
			errs, err := s.DeleteTags(f.ctx, repo, []string{"a", "nope", "c"}, trash)
			if err != nil || len(errs) != 3 || errs[0] != nil || !errors.Is(errs[1], metadata.ErrNotFound) || errs[2] != nil {
				t.Fatalf("DeleteTags = %v, %v; want nil, ErrNotFound, nil", errs, err)
			}
			if tags := f.tags(repo); len(tags) != 1 || tags[0] != "b" {
				t.Errorf("tags = %v, want [b]", tags)
			}
			if _, err := s.Manifest(f.ctx, repo, m.Digest); err != nil {
				t.Errorf("manifest: %v, want kept (tags only)", err)
			}
			bin, err := s.ListTrash(f.ctx, repo, metadata.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 2, false: 0}[trash]; len(bin) != want {
				t.Errorf("bin = %+v, want %d entries", bin, want)
			}
			want := map[bool]string{true: metadata.EventTagTrashed, false: metadata.EventTagDeleted}[trash]
			var n int
			for _, e := range f.events() {
				if e.Type == want && e.Repo == repo && e.Actor == "policy:x" {
					n++
				}
			}
			if n != 2 {
				t.Errorf("%d %s events by policy:x, want 2", n, want)
			}
		})
	}
}

// testManifestGraph checks that ListManifestGraph is ListManifests
// without tags, over an index, its children, a referrer and a trashed
// manifest.
func testManifestGraph(t *testing.T, s PolicyStore) {
	f := &fixture{t: t, s: s, ctx: context.Background()}
	if _, err := s.ListManifestGraph(f.ctx, "app"); !errors.Is(err, metadata.ErrRepoNotFound) {
		t.Fatalf("ListManifestGraph(absent) = %v, want ErrRepoNotFound", err)
	}
	a := f.image("app", "a", at(1))
	b := f.image("app", "b", at(2))
	idx := index("app", "idx", a, b)
	idx.PushedAt = at(3)
	f.put(idx, "multi")
	sig := manifest("app", "sig", f.blob("app", "sig/layer", 10))
	sig.Subject, sig.PushedAt = idx.Digest, at(4)
	f.put(sig)
	gone := f.image("app", "gone", at(5), "gone")
	if _, err := s.TrashManifest(f.ctx, "app", gone.Digest); err != nil {
		t.Fatal(err)
	}
	want, err := s.ListManifests(f.ctx, "app", metadata.Page{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ListManifestGraph(f.ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || len(want) != 4 {
		t.Fatalf("got %d manifests, ListManifests %d; want 4 (the trashed one left out)", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if len(g.Tags) != 0 {
			t.Errorf("%s: tags %v, want none", g.Digest, g.Tags)
		}
		w.Tags, g.Tags = nil, nil
		for _, m := range []*metadata.ManifestInfo{&w, &g} { // empty and nil lists are the same
			if len(m.Blobs) == 0 {
				m.Blobs = nil
			}
			if len(m.Children) == 0 {
				m.Children = nil
			}
		}
		wj, _ := json.Marshal(w)
		gj, _ := json.Marshal(g)
		if string(wj) != string(gj) {
			t.Errorf("manifest %d:\n got  %s\n want %s", i, gj, wj)
		}
	}
}
