// Package policy runs retention policies inside the server: an in-process
// adapter of the retention engine's Source, Deleter and Checker over the
// metadata store, a runner that plans, applies and records one stored
// policy, and a scheduler that runs due policies one at a time.
package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/guard"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
)

// Store is what the adapter reads and deletes through.
type Store interface {
	metadata.Store
	metadata.TagTimes
}

// Adapter is the metadata store seen by the retention engine. Deletions
// take the same path as the registry's DELETE: locks and immutability
// rules are checked (package guard), and tags and manifests go to the
// recycle bin when it is on. The actor in ctx (metadata.WithActor) is
// stamped on every event.
type Adapter struct {
	store Store
	trash bool
	// guarded is set when the store re-checks deletions in the deleting
	// transaction (metadata.GuardedDeleter); tag deletions then go in
	// batches, and recheck serves the engine's earlier re-check, which
	// the transaction repeats with fresh reads.
	guarded metadata.GuardedDeleter
	batch   *tagBatcher
	recheck *lockCache
	// plan serves Tags and Manifests, which read the same locks; it is
	// apart from recheck so that a plan never makes a re-check stale.
	plan *lockCache
}

var (
	_ retention.Source         = (*Adapter)(nil)
	_ retention.Snapshotter    = (*Adapter)(nil)
	_ retention.Deleter        = (*Adapter)(nil)
	_ retention.CheckedDeleter = (*Adapter)(nil)
	_ retention.Checker        = (*Adapter)(nil)
)

// NewAdapter returns an adapter over store; trash sends deletions to the
// recycle bin.
func NewAdapter(store Store, trash bool) *Adapter {
	a := &Adapter{store: store, trash: trash}
	if gd, ok := store.(metadata.GuardedDeleter); ok {
		a.guarded = gd
		a.batch = newTagBatcher(gd, trash)
		a.recheck = newLockCache(store)
	}
	a.plan = newLockCache(store)
	return a
}

// listPage is how many entries one store listing call returns.
const listPage = 1000

// Repositories returns every repository name.
func (a *Adapter) Repositories(ctx context.Context) ([]string, error) {
	var out []string
	p := metadata.Page{N: listPage}
	for {
		page, err := a.store.ListRepos(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("listing repositories: %w", err)
		}
		out = append(out, page...)
		if len(page) < p.N {
			return out, nil
		}
		p.Last = page[len(page)-1]
	}
}

// Tags returns the tags of repo, marked Locked when a lock or rule forbids
// deleting them.
func (a *Adapter) Tags(ctx context.Context, repo string) ([]retention.Tag, error) {
	ts, err := a.store.ListTagTimes(ctx, repo)
	if err != nil {
		return nil, notFound(err)
	}
	locks, err := a.plan.get(ctx, repo)
	if err != nil {
		return nil, err
	}
	out := make([]retention.Tag, len(ts))
	for i, t := range ts {
		out[i] = tagOf(t, locks)
	}
	return out, nil
}

func tagOf(t metadata.TagInfo, locks *guard.Locks) retention.Tag {
	return retention.Tag{Name: t.Name, Digest: t.Digest, PushedAt: t.Updated, LastPulledAt: t.LastPulledAt,
		Locked: locks.CheckDelete([]string{t.Name}, "") != nil}
}

// Manifests returns every live manifest of repo, marked Locked when the
// repository or the digest is delete-locked.
func (a *Adapter) Manifests(ctx context.Context, repo string) ([]retention.Manifest, error) {
	locks, err := a.plan.get(ctx, repo)
	if err != nil {
		return nil, err
	}
	var out []retention.Manifest
	add := func(page []metadata.ManifestInfo) { out = appendManifests(out, page, locks) }
	if g, ok := a.store.(metadata.ManifestGraph); ok {
		all, err := g.ListManifestGraph(ctx, repo)
		if err != nil {
			return nil, notFound(err)
		}
		add(all)
		return out, nil
	}
	p := metadata.Page{N: listPage}
	for {
		page, err := a.store.ListManifests(ctx, repo, p)
		if err != nil {
			return nil, notFound(err)
		}
		add(page)
		if len(page) < p.N {
			return out, nil
		}
		p.Last = page[len(page)-1].Digest.String()
	}
}

func appendManifests(out []retention.Manifest, ms []metadata.ManifestInfo, locks *guard.Locks) []retention.Manifest {
	for _, m := range ms {
		rm := retention.Manifest{Digest: m.Digest, MediaType: m.MediaType, ArtifactType: m.ArtifactType,
			Size: m.Size, PushedAt: m.PushedAt, LastPulledAt: m.LastPulledAt, Subject: m.Subject,
			Children: m.Children, Locked: locks.CheckDelete(nil, m.Digest) != nil}
		if len(m.Blobs) > 0 {
			rm.Blobs = make([]retention.Blob, len(m.Blobs))
			for i, b := range m.Blobs {
				rm.Blobs[i] = retention.Blob{Digest: b.Digest, Size: b.Size}
			}
		}
		out = append(out, rm)
	}
	return out
}

// EachRepository reads every repository in one pass when the store can
// (metadata.GraphScanner), with the locks and rules read once; otherwise
// repository by repository.
func (a *Adapter) EachRepository(ctx context.Context, fn func(repo string, tags []retention.Tag, manifests []retention.Manifest) error) error {
	gs, ok := a.store.(metadata.GraphScanner)
	if !ok {
		names, err := a.Repositories(ctx)
		if err != nil {
			return err
		}
		for _, repo := range names {
			tags, err := a.Tags(ctx, repo)
			if err == nil {
				var ms []retention.Manifest
				if ms, err = a.Manifests(ctx, repo); err == nil {
					err = fn(repo, tags, ms)
				}
			}
			if err != nil && !errors.Is(err, retention.ErrNotFound) {
				return err
			}
		}
		return nil
	}
	snap, err := guard.LoadSnapshot(ctx, a.store)
	if err != nil {
		return err
	}
	return gs.ScanGraphs(ctx, func(g metadata.RepoGraph) error {
		locks := snap.For(g.Repo)
		tags := make([]retention.Tag, len(g.Tags))
		for i, t := range g.Tags {
			tags[i] = tagOf(t, locks)
		}
		return fn(g.Repo, tags, appendManifests(make([]retention.Manifest, 0, len(g.Manifests)), g.Manifests, locks))
	})
}

// DeleteTagAt removes the tag if it still points at d, into the bin when
// it is on, unless a lock or rule forbids it; with a GuardedDeleter store
// all of that is decided in the deleting transaction.
func (a *Adapter) DeleteTagAt(ctx context.Context, repo, tag string, d digest.Digest) error {
	if a.batch != nil {
		return a.batch.delete(ctx, repo, metadata.TagDeletion{Name: tag, Digest: d})
	}
	cur, err := a.store.TagTime(ctx, repo, tag)
	if err != nil {
		return notFound(err)
	}
	if cur.Digest != d {
		return fmt.Errorf("tag %s:%s now points at %s: %w", repo, tag, cur.Digest, retention.ErrChanged)
	}
	return a.DeleteTag(ctx, repo, tag)
}

// DeleteTag removes the tag, into the bin when it is on, unless a lock or
// rule forbids it.
func (a *Adapter) DeleteTag(ctx context.Context, repo, tag string) error {
	if a.batch != nil {
		return a.batch.delete(ctx, repo, metadata.TagDeletion{Name: tag})
	}
	locks, err := guard.Load(ctx, a.store, repo)
	if err != nil {
		return err
	}
	if err := locks.CheckDelete([]string{tag}, ""); err != nil {
		return err
	}
	if a.trash {
		err = a.store.TrashTag(ctx, repo, tag)
	} else {
		err = a.store.DeleteTag(ctx, repo, tag)
	}
	return notFound(err)
}

// DeleteManifest removes an untagged manifest, into the bin when it is on,
// unless a lock forbids it. A manifest that is tagged again is refused:
// the store's own deletion would take the tags with it.
func (a *Adapter) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	if a.guarded != nil {
		return engineErr(a.guarded.DeleteManifestIf(ctx, repo, d, a.trash, deleteCheck(repo)))
	}
	tags, err := a.ManifestTags(ctx, repo, d)
	if err != nil {
		return err
	}
	if len(tags) > 0 {
		return fmt.Errorf("manifest %s@%s is tagged %v", repo, d, tags)
	}
	locks, err := guard.Load(ctx, a.store, repo)
	if err != nil {
		return err
	}
	if err := locks.CheckDelete(nil, d); err != nil {
		return err
	}
	if a.trash {
		_, err = a.store.TrashManifest(ctx, repo, d)
	} else {
		_, err = a.store.DeleteManifest(ctx, repo, d)
	}
	return notFound(err)
}

// Tag returns the tag as it is now.
func (a *Adapter) Tag(ctx context.Context, repo, name string) (retention.Tag, error) {
	t, err := a.store.TagTime(ctx, repo, name)
	if err != nil {
		return retention.Tag{}, notFound(err)
	}
	locks, err := a.cachedLocks(ctx, repo)
	if err != nil {
		return retention.Tag{}, err
	}
	return tagOf(t, locks), nil
}

// ManifestTags returns the tags pointing at d now, or ErrNotFound if the
// manifest is gone (or in the bin).
func (a *Adapter) ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	if _, err := a.store.Manifest(ctx, repo, d); err != nil {
		return nil, notFound(err)
	}
	tags, err := a.store.ManifestTags(ctx, repo, d)
	if err != nil {
		return nil, fmt.Errorf("reading tags of %s@%s: %w", repo, d, err)
	}
	return tags, nil
}

// cachedLocks serves the re-check, which the batched deletion repeats
// with fresh locks; without batching every read is fresh.
func (a *Adapter) cachedLocks(ctx context.Context, repo string) (*guard.Locks, error) {
	if a.recheck != nil {
		return a.recheck.get(ctx, repo)
	}
	return guard.Load(ctx, a.store, repo)
}

// notFound adds retention.ErrNotFound to the store's not-found errors so
// that the engine counts deleting what is gone as done.
func notFound(err error) error {
	if errors.Is(err, metadata.ErrNotFound) || errors.Is(err, metadata.ErrRepoNotFound) {
		return fmt.Errorf("%w (%w)", retention.ErrNotFound, err)
	}
	return err
}
