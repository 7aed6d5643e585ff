package quota

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/gc"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

// TestUsageFromMetadata compares the metadata measure with the walk: the
// same per-repository figures and trash; stored bytes count linked blobs
// only (the walk also finds a file nothing links); reclaimable is what a
// gc dry run at the same instant reports among linked blobs.
func TestUsageFromMetadata(t *testing.T) {
	ctx := context.Background()
	meta := openMeta(t)
	blobs, err := fsblob.Open(ctx, t.TempDir(), fsblob.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	write := func(content string) digest.Digest {
		t.Helper()
		d := digest.FromString(content)
		u, err := blobs.Create(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Append(ctx, u.ID, 0, bytes.NewReader([]byte(content))); err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Commit(ctx, u.ID, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	link := func(repo, content string) digest.Digest {
		t.Helper()
		d := write(content)
		if err := meta.LinkBlob(ctx, repo, d, int64(len(content))); err != nil {
			t.Fatal(err)
		}
		return d
	}
	shared := link("a", "shared-layer-1234")
	link("b", "shared-layer-1234")
	own := link("a", "own-layer")
	link("b", "unreferenced") // linked, no manifest: gc takes it after the grace
	write("orphan-file")      // no link at all: only the walk sees it
	content := []byte(`{"schemaVersion":2}`)
	for _, repo := range []string{"a", "b"} {
		m := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Size: int64(len(content)), Content: content, Blobs: []digest.Digest{shared}}
		if repo == "a" {
			m.Blobs = append(m.Blobs, own)
		}
		if err := meta.PutManifest(ctx, m, []string{"v1"}); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now().Add(time.Hour)
	m := Meter{Blobs: blobs, Links: meta, Trash: meta, Totals: meta, Grace: time.Minute, Now: func() time.Time { return later }}
	fast, err := m.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exact, err := m.Exact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fast.Exact || !exact.Exact {
		t.Errorf("exact flags = %v, %v; want false, true", fast.Exact, exact.Exact)
	}
	linked := int64(len("shared-layer-1234") + len("own-layer") + len("unreferenced"))
	if fast.StoredBlobs != 3 || fast.StoredBytes != linked {
		t.Errorf("metadata stored = %d blobs, %d bytes; want 3, %d", fast.StoredBlobs, fast.StoredBytes, linked)
	}
	if exact.StoredBlobs != 4 || exact.StoredBytes != linked+int64(len("orphan-file")) {
		t.Errorf("walked stored = %d blobs, %d bytes; want 4 with the orphan file", exact.StoredBlobs, exact.StoredBytes)
	}
	if fast.ReclaimableBlobs != 1 || fast.ReclaimableBytes != int64(len("unreferenced")) {
		t.Errorf("metadata reclaimable = %d, %d; want the unreferenced link", fast.ReclaimableBlobs, fast.ReclaimableBytes)
	}
	// Before the grace period has passed nothing is reclaimable, as in gc.
	m.Now = time.Now
	if r, err := m.Usage(ctx); err != nil || r.ReclaimableBlobs != 0 {
		t.Errorf("reclaimable within the grace period = %d, %v; want 0", r.ReclaimableBlobs, err)
	}
	// gc's own dry run agrees on the linked part: its extra blob is the
	// orphan file.
	res, err := gc.New(blobs, meta, nil, nil).Run(ctx, gc.Options{Grace: 0, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Blobs != 2 || res.Bytes != int64(len("unreferenced")+len("orphan-file")) {
		t.Errorf("gc dry run = %d blobs, %d bytes; want the unreferenced link and the orphan", res.Blobs, res.Bytes)
	}
	if len(fast.Repositories) != 2 || fast.Repositories[0] != exact.Repositories[0] || fast.Repositories[1] != exact.Repositories[1] {
		t.Errorf("repositories differ:\n%+v\n%+v", fast.Repositories, exact.Repositories)
	}
	if a := fast.Repositories[0]; a.Name != "a" || a.SharedBytes != int64(len("shared-layer-1234")) || a.UniqueBytes != int64(len("own-layer")) {
		t.Errorf("repository a = %+v", a)
	}
}
