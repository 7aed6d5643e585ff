// Package metadatatest is the conformance suite every metadata.Store
// backend runs, so that the embedded store and a server database behave
// the same behind the registry.
//
// Beyond the interface comments, the suite pins down these contracts:
//   - a repository exists once a blob was linked or a manifest pushed in it;
//   - PushedAt, when set on a pushed manifest, is the push time (imports
//     keep their history), and it stamps the tags and the event;
//   - listings are in bytewise order; Page.N <= 0 means a backend default
//     of at least 100 entries; listings return an empty, non-nil slice;
//   - TagDetails in a time order pages after the (updated, name) position
//     of the tag named by Page.Last, ties broken by name; ErrNotFound if
//     that tag no longer exists;
//   - DeleteManifest writes a tag.deleted event per removed tag and one
//     manifest.deleted event, in that transaction;
//   - RecordPulls only moves pull times forward and ignores unknown
//     manifests.
package metadatatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// Run checks a backend. open must return a new, empty store for each call
// and arrange its own cleanup (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) metadata.Store) {
	t.Run("Blobs", func(t *testing.T) { testBlobs(t, open) })
	t.Run("PutAndGet", func(t *testing.T) { testPutAndGet(t, open) })
	t.Run("InvalidPut", func(t *testing.T) { testInvalidPut(t, open) })
	t.Run("MissingRefs", func(t *testing.T) { testMissingRefs(t, open) })
	t.Run("Repush", func(t *testing.T) { testRepush(t, open) })
	t.Run("TagMove", func(t *testing.T) { testTagMove(t, open) })
	t.Run("DeleteManifest", func(t *testing.T) { testDeleteManifest(t, open) })
	t.Run("DeleteTag", func(t *testing.T) { testDeleteTag(t, open) })
	t.Run("Referrers", func(t *testing.T) { testReferrers(t, open) })
	t.Run("ListManifests", func(t *testing.T) { testListManifests(t, open) })
	t.Run("ListTags", func(t *testing.T) { testListTags(t, open) })
	t.Run("ListRepos", func(t *testing.T) { testListRepos(t, open) })
	t.Run("TagDetails", func(t *testing.T) { testTagDetails(t, open) })
	t.Run("TagDetailsSize", func(t *testing.T) { testTagDetailsSize(t, open) })
	t.Run("RepoSummaries", func(t *testing.T) { testRepoSummaries(t, open) })
	t.Run("RepoSummariesTrash", func(t *testing.T) { testRepoSummariesTrash(t, open) })
	t.Run("Pulls", func(t *testing.T) { testPulls(t, open) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("Trash", func(t *testing.T) { testTrash(t, open) })
	t.Run("RestoreTagOfTrashedManifest", func(t *testing.T) { testRestoreTagOfTrashedManifest(t, open) })
	t.Run("TrashTag", func(t *testing.T) { testTrashTag(t, open) })
	t.Run("Locks", func(t *testing.T) { testLocks(t, open) })
	t.Run("ImmutableRules", func(t *testing.T) { testImmutableRules(t, open) })
}

// t0 is the suite's clock origin; pushes that need an order set PushedAt.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns t0 plus i minutes.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

// fixture builds content in one store.
type fixture struct {
	t   *testing.T
	s   metadata.Store
	ctx context.Context
}

func newFixture(t *testing.T, open func(t *testing.T) metadata.Store) *fixture {
	t.Helper()
	return &fixture{t: t, s: open(t), ctx: metadata.WithActor(context.Background(), "tester")}
}

// blob links a blob named name of size bytes into repo.
func (f *fixture) blob(repo, name string, size int64) digest.Digest {
	f.t.Helper()
	d := digest.FromString("blob:" + name)
	if err := f.s.LinkBlob(f.ctx, repo, d, size); err != nil {
		f.t.Fatalf("LinkBlob(%s, %s): %v", repo, name, err)
	}
	return d
}

// manifest returns an image manifest named name referencing blobs, not stored.
func manifest(repo, name string, blobs ...digest.Digest) *metadata.Manifest {
	content := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","name":%q}`, name))
	return &metadata.Manifest{
		Repo:      repo,
		Digest:    digest.FromBytes(content),
		MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size:      int64(len(content)),
		Content:   content,
		Blobs:     blobs,
	}
}

// index returns an image index named name over children, not stored.
func index(repo, name string, children ...*metadata.Manifest) *metadata.Manifest {
	m := manifest(repo, name)
	m.MediaType = "application/vnd.oci.image.index.v1+json"
	for _, c := range children {
		m.Children = append(m.Children, c.Digest)
	}
	return m
}

// image links a config and a layer and pushes a manifest over them.
func (f *fixture) image(repo, name string, pushed time.Time, tags ...string) *metadata.Manifest {
	f.t.Helper()
	m := manifest(repo, name, f.blob(repo, name+"/config", 100), f.blob(repo, name+"/layer", 1000))
	m.PushedAt = pushed
	f.put(m, tags...)
	return m
}

func (f *fixture) put(m *metadata.Manifest, tags ...string) {
	f.t.Helper()
	if err := f.s.PutManifest(f.ctx, m, tags); err != nil {
		f.t.Fatalf("PutManifest(%s, %v): %v", m.Repo, tags, err)
	}
}

func (f *fixture) events() []metadata.Event {
	f.t.Helper()
	evs, err := f.s.PendingEvents(f.ctx, 0, 10000)
	if err != nil {
		f.t.Fatalf("PendingEvents: %v", err)
	}
	return evs
}

func (f *fixture) tags(repo string) []string {
	f.t.Helper()
	tags, err := f.s.ListTags(f.ctx, repo, metadata.Page{})
	if err != nil {
		f.t.Fatalf("ListTags(%s): %v", repo, err)
	}
	return tags
}
