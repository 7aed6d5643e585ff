package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

// now is the tests' clock; pushes are placed relative to it.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func daysAgo(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

type storeFixture struct {
	t   *testing.T
	s   *sqlite.Store
	ctx context.Context
}

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStoreFixture(t *testing.T) *storeFixture {
	return &storeFixture{t: t, s: openStore(t), ctx: metadata.WithActor(context.Background(), "tester")}
}

// image pushes a one-layer image named name into repo at pushed, tagged.
func (f *storeFixture) image(repo, name string, pushed time.Time, tags ...string) digest.Digest {
	f.t.Helper()
	return putImage(f.t, f.ctx, f.s, repo, name, pushed, tags...)
}

func putImage(t testing.TB, ctx context.Context, s metadata.Store, repo, name string, pushed time.Time, tags ...string) digest.Digest {
	layer := digest.FromString("layer:" + repo + name)
	if err := s.LinkBlob(ctx, repo, layer, 1000); err != nil {
		t.Fatal(err)
	}
	content := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","name":%q}`, name))
	m := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size: int64(len(content)), Content: content, Blobs: []digest.Digest{layer}, PushedAt: pushed}
	if err := s.PutManifest(ctx, m, tags); err != nil {
		t.Fatalf("PutManifest(%s %v): %v", repo, tags, err)
	}
	return m.Digest
}

func (f *storeFixture) lockTag(repo, tag string) {
	f.t.Helper()
	if err := f.s.SetLock(f.ctx, metadata.Lock{Repo: repo, Tag: tag, WriteEnabled: true, DeleteEnabled: false, ReadEnabled: true}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *storeFixture) putPolicy(name, body, schedule string) {
	f.t.Helper()
	if err := f.s.PutRetentionPolicy(f.ctx, metadata.RetentionPolicy{Name: name, Policy: json.RawMessage(body), Schedule: schedule, Enabled: true}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *storeFixture) tags(repo string) []string {
	f.t.Helper()
	tags, err := f.s.ListTags(f.ctx, repo, metadata.Page{})
	if err != nil {
		f.t.Fatal(err)
	}
	return tags
}
