package quota

import (
	"bytes"
	"context"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

func TestUsageReportsTheRecycleBin(t *testing.T) {
	ctx := context.Background()
	meta := openMeta(t)
	blobs, err := fsblob.Open(ctx, t.TempDir(), fsblob.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	store := func(content, repo string) digest.Digest {
		t.Helper()
		d := digest.FromString(content)
		u, err := blobs.Create(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Append(ctx, u.ID, 0, bytes.NewReader([]byte(content))); err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Commit(ctx, u.ID, d); err != nil {
			t.Fatal(err)
		}
		if err := meta.LinkBlob(ctx, repo, d, int64(len(content))); err != nil {
			t.Fatal(err)
		}
		return d
	}
	push := func(repo, name string, layers ...digest.Digest) *metadata.Manifest {
		t.Helper()
		content := []byte(`{"schemaVersion":2,"name":"` + name + `"}`)
		m := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Size: int64(len(content)), Content: content, Blobs: layers}
		if err := meta.PutManifest(ctx, m, []string{name}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	base := store("base-layer", "app")
	push("app", "kept", base)
	gone := push("app", "gone", base, store("only-in-the-bin", "app"))
	if _, err := meta.TrashManifest(ctx, "app", gone.Digest); err != nil {
		t.Fatal(err)
	}
	want := gone.Size + int64(len("only-in-the-bin"))
	tests := []struct {
		name      string
		trash     metadata.TrashUsage
		manifests int
		bytes     int64
	}{
		{"with a TrashUsage", meta, 1, want},
		{"without one", nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Meter{Blobs: blobs, Links: meta, Trash: tt.trash}.Usage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.TrashManifests != tt.manifests || r.TrashBytes != tt.bytes || len(r.Repositories) != 1 || r.Repositories[0].TrashBytes != tt.bytes {
				t.Errorf("report = %+v, want %d trashed manifest(s) holding %d bytes", r, tt.manifests, tt.bytes)
			}
		})
	}
}
