package metadatatest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// testTrash checks the recycle bin: a trashed manifest is invisible but
// comes back byte-identical with its tags; restore refuses to undo a newer
// push unless forced; purging deletes for good.
func testTrash(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	m := f.image("app", "one", at(0), "v1", "latest")
	sub := manifest("app", "sig")
	sub.Subject = m.Digest
	f.put(sub)

	tags, err := f.s.TrashManifest(f.ctx, "app", m.Digest)
	if err != nil || !slices.Equal(tags, []string{"latest", "v1"}) {
		t.Fatalf("TrashManifest = %v, %v; want [latest v1]", tags, err)
	}
	if _, err := f.s.Manifest(f.ctx, "app", m.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("Manifest of a trashed manifest: err = %v, want ErrNotFound", err)
	}
	if got := f.tags("app"); len(got) != 0 {
		t.Errorf("tags after trashing = %v, want none", got)
	}
	if _, err := f.s.TrashManifest(f.ctx, "app", m.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("trashing twice: err = %v, want ErrNotFound", err)
	}
	ms, err := f.s.ListManifests(f.ctx, "app", metadata.Page{})
	if err != nil || len(ms) != 1 || ms[0].Digest != sub.Digest {
		t.Errorf("ListManifests = %v, %v; want only the referrer", ms, err)
	}
	entries, err := f.s.ListTrash(f.ctx, "", metadata.Page{})
	if err != nil || len(entries) != 1 {
		t.Fatalf("ListTrash = %v, %v; want one entry", entries, err)
	}
	e := entries[0]
	if e.Repo != "app" || e.Digest != m.Digest || e.Tag != "" || !slices.Equal(e.Tags, []string{"latest", "v1"}) ||
		e.Size != m.Size || e.Actor != "tester" || e.TrashedAt.IsZero() {
		t.Errorf("entry = %+v", e)
	}
	if other, _ := f.s.ListTrash(f.ctx, "other", metadata.Page{}); len(other) != 0 {
		t.Errorf("ListTrash(other) = %v, want none", other)
	}

	// Someone pushes v1 again, to other content.
	m2 := f.image("app", "two", at(5), "v1")
	if _, err := f.s.Restore(f.ctx, "app", "", m.Digest, false); !errors.Is(err, metadata.ErrConflict) {
		t.Fatalf("Restore over a re-pushed tag: err = %v, want ErrConflict", err)
	}
	if got, _ := f.s.TaggedManifest(f.ctx, "app", "v1"); got == nil || got.Digest != m2.Digest {
		t.Errorf("a refused restore moved v1")
	}
	if _, err := f.s.Restore(f.ctx, "app", "", m.Digest, true); err != nil {
		t.Fatalf("forced Restore: %v", err)
	}
	got, err := f.s.Manifest(f.ctx, "app", m.Digest)
	if err != nil || string(got.Content) != string(m.Content) || len(got.Blobs) != 2 {
		t.Fatalf("restored manifest = %v, %v", got, err)
	}
	for _, tag := range []string{"v1", "latest"} {
		if got, err := f.s.TaggedManifest(f.ctx, "app", tag); err != nil || got.Digest != m.Digest {
			t.Errorf("tag %s after restore: %v, %v", tag, got, err)
		}
	}
	if left, _ := f.s.ListTrash(f.ctx, "", metadata.Page{}); len(left) != 0 {
		t.Errorf("bin after restore = %v, want empty", left)
	}
	if _, err := f.s.Restore(f.ctx, "app", "", m.Digest, false); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("second Restore: err = %v, want ErrNotFound", err)
	}
	wantEvents(t, f.events(), metadata.EventManifestTrashed, metadata.EventManifestRestored)
}

// testTrashTag checks tag entries, re-push of trashed content and purging.
func testTrashTag(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	m := f.image("app", "one", at(0), "v1")
	if err := f.s.TrashTag(f.ctx, "app", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := f.s.TrashTag(f.ctx, "app", "v1"); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("trashing an absent tag: err = %v, want ErrNotFound", err)
	}
	// The manifest itself goes next; restoring the tag brings both back.
	if _, err := f.s.TrashManifest(f.ctx, "app", m.Digest); err != nil {
		t.Fatal(err)
	}
	if e, err := f.s.Restore(f.ctx, "app", "v1", "", false); err != nil || e.Tag != "v1" || e.Digest != m.Digest {
		t.Fatalf("Restore tag = %+v, %v", e, err)
	}
	if got, err := f.s.TaggedManifest(f.ctx, "app", "v1"); err != nil || got.Digest != m.Digest {
		t.Fatalf("v1 after restore: %v, %v", got, err)
	}

	// A re-push of trashed content brings it back and retires the entry.
	if _, err := f.s.TrashManifest(f.ctx, "app", m.Digest); err != nil {
		t.Fatal(err)
	}
	f.put(m, "again")
	if _, err := f.s.Manifest(f.ctx, "app", m.Digest); err != nil {
		t.Errorf("re-pushed manifest: %v", err)
	}
	if left, _ := f.s.ListTrash(f.ctx, "app", metadata.Page{}); len(left) != 0 {
		t.Errorf("bin after re-push = %+v, want empty", left)
	}

	// Purging: an entry newer than the cutoff stays, an older one goes.
	if _, err := f.s.TrashManifest(f.ctx, "app", m.Digest); err != nil {
		t.Fatal(err)
	}
	if n, err := f.s.PurgeTrash(f.ctx, "", time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("PurgeTrash before the entry = %d, %v; want 0", n, err)
	}
	if left, _ := f.s.ListTrash(f.ctx, "", metadata.Page{}); len(left) != 1 {
		t.Fatalf("bin = %+v, want one entry", left)
	}
	if n, err := f.s.PurgeTrash(f.ctx, "", time.Now().Add(time.Hour)); err != nil || n < 1 {
		t.Errorf("PurgeTrash = %d, %v; want at least 1", n, err)
	}
	if _, err := f.s.Restore(f.ctx, "app", "", m.Digest, false); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("Restore after purge: err = %v, want ErrNotFound", err)
	}
	// The row is gone for good: a push by digest must link references anew.
	ms, _ := f.s.ListManifests(f.ctx, "app", metadata.Page{})
	if len(ms) != 0 {
		t.Errorf("manifests after purge = %v, want none", ms)
	}
	wantEvents(t, f.events(), metadata.EventTagTrashed, metadata.EventTagRestored, metadata.EventManifestDeleted)
}

// wantEvents fails unless every type appears among evs, with the actor.
func wantEvents(t *testing.T, evs []metadata.Event, types ...string) {
	t.Helper()
	for _, typ := range types {
		i := slices.IndexFunc(evs, func(e metadata.Event) bool { return e.Type == typ })
		if i < 0 {
			t.Errorf("no %s event", typ)
			continue
		}
		if evs[i].Actor != "tester" {
			t.Errorf("%s event actor = %q, want tester", typ, evs[i].Actor)
		}
	}
}

// testRestoreTagOfTrashedManifest checks that a tag which went to the bin
// with its manifest (a delete by digest) can be restored by its name, and
// that a name the bin never held is still not found.
func testRestoreTagOfTrashedManifest(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	m := f.image("app", "one", at(0), "v1", "v1_x")
	f.image("app", "two", at(1), "v1x")
	if _, err := f.s.TrashManifest(f.ctx, "app", m.Digest); err != nil {
		t.Fatal(err)
	}
	// "v1" must not match "v1_x" or "v1x" by accident, nor they it.
	if _, err := f.s.Restore(f.ctx, "app", "v1_", "", false); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("Restore of a tag the bin never held: err = %v, want ErrNotFound", err)
	}
	e, err := f.s.Restore(f.ctx, "app", "v1", "", false)
	if err != nil || e.Digest != m.Digest {
		t.Fatalf("Restore by tag of a trashed manifest = %v, %v", e, err)
	}
	for _, tag := range []string{"v1", "v1_x"} {
		if got, err := f.s.TaggedManifest(f.ctx, "app", tag); err != nil || got.Digest != m.Digest {
			t.Errorf("tag %s after restore: %v, %v", tag, got, err)
		}
	}
	if left, _ := f.s.ListTrash(f.ctx, "", metadata.Page{}); len(left) != 0 {
		t.Errorf("bin after restore = %v, want empty", left)
	}
}
