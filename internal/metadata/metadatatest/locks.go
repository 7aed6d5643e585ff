package metadatatest

import (
	"errors"
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

func testLocks(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	m := f.image("app", "one", at(0), "v1", "v2")
	locks := []metadata.Lock{
		{Repo: "app", Tag: "v1", WriteEnabled: false, DeleteEnabled: true, ReadEnabled: true},
		{Repo: "app", Digest: m.Digest, WriteEnabled: true, DeleteEnabled: false, ReadEnabled: true},
		{Repo: "later", ReadEnabled: false},
	}
	for _, l := range locks {
		if err := f.s.SetLock(f.ctx, l); err != nil {
			t.Fatalf("SetLock(%+v): %v", l, err)
		}
	}
	// Setting again replaces.
	locks[0].ReadEnabled = false
	if err := f.s.SetLock(f.ctx, locks[0]); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.ListLocks(f.ctx, "app")
	if err != nil || len(got) != 2 {
		t.Fatalf("ListLocks(app) = %+v, %v", got, err)
	}
	if got[0].Digest != m.Digest || got[0].DeleteEnabled || !got[0].WriteEnabled {
		t.Errorf("digest lock = %+v", got[0])
	}
	if got[1].Tag != "v1" || got[1].WriteEnabled || got[1].ReadEnabled || got[1].Actor != "tester" {
		t.Errorf("tag lock = %+v", got[1])
	}
	if all, _ := f.s.ListLocks(f.ctx, ""); len(all) != 3 {
		t.Errorf("ListLocks() = %d locks, want 3", len(all))
	}
	if err := f.s.SetLock(f.ctx, metadata.Lock{Repo: "app", Tag: "x", Digest: m.Digest}); err == nil {
		t.Error("SetLock with both tag and digest succeeded")
	}
	if err := f.s.ClearLock(f.ctx, "app", "v1", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.s.ClearLock(f.ctx, "app", "v1", ""); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("clearing twice: err = %v, want ErrNotFound", err)
	}
	tags, err := f.s.ManifestTags(f.ctx, "app", m.Digest)
	if err != nil || !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Errorf("ManifestTags = %v, %v", tags, err)
	}
	wantEvents(t, f.events(), metadata.EventLockSet, metadata.EventLockCleared)
}

func testImmutableRules(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	r1, err := f.s.AddImmutableRule(f.ctx, metadata.ImmutableRule{Repos: ".*", Tags: "release-.*"})
	if err != nil || r1.ID == 0 || r1.Created.IsZero() {
		t.Fatalf("AddImmutableRule = %+v, %v", r1, err)
	}
	r2, err := f.s.AddImmutableRule(f.ctx, metadata.ImmutableRule{Repos: "team/.*", Tags: "v.*"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AddImmutableRule(f.ctx, metadata.ImmutableRule{Repos: ".*"}); err == nil {
		t.Error("a rule without a tag pattern was stored")
	}
	rules, err := f.s.ListImmutableRules(f.ctx)
	if err != nil || len(rules) != 2 || rules[0].ID != r1.ID || rules[1].Tags != "v.*" {
		t.Fatalf("ListImmutableRules = %+v, %v", rules, err)
	}
	if err := f.s.DeleteImmutableRule(f.ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteImmutableRule(f.ctx, r2.ID); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("deleting twice: err = %v, want ErrNotFound", err)
	}
	wantEvents(t, f.events(), metadata.EventRuleAdded, metadata.EventRuleDeleted)
}
