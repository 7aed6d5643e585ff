package server

import (
	"context"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// TestTrashExpiry empties the recycle bin of entries older than
// lifecycle.trash_days, as the server's hourly sweep does, and leaves
// younger ones; the purge is an event by berth:trash-expiry.
func TestTrashExpiry(t *testing.T) {
	cfg := testConfig(t)
	cfg.Lifecycle.TrashDays = 7
	s, _, _ := start(t, cfg)
	ctx := context.Background()
	content := []byte(`{"schemaVersion":2}`)
	m := &metadata.Manifest{Repo: "app", Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size: int64(len(content)), Content: content}
	if err := s.meta.PutManifest(ctx, m, []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.meta.TrashManifest(ctx, "app", m.Digest); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		after time.Duration
		want  int
	}{
		{6 * 24 * time.Hour, 1},  // within trash_days: kept
		{8 * 24 * time.Hour, 0},  // past: purged
		{30 * 24 * time.Hour, 0}, // idempotent
	}
	for _, st := range steps {
		s.expireTrash(ctx, s.meta, time.Now().Add(st.after))
		bin, err := s.meta.ListTrash(ctx, "", metadata.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(bin) != st.want {
			t.Errorf("%s later: %d entries in the bin, want %d", st.after, len(bin), st.want)
		}
	}
	if _, err := s.meta.Manifest(ctx, "app", m.Digest); err == nil {
		t.Error("purged manifest still readable")
	}
	evs, err := s.meta.PendingEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Type != metadata.EventManifestDeleted || last.Actor != "berth:trash-expiry" {
		t.Errorf("last event = %s by %q, want %s by berth:trash-expiry", last.Type, last.Actor, metadata.EventManifestDeleted)
	}
}
