package quota

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/storage"
)

// Links lists repository links; metadata.BlobUsage provides it.
type Links interface {
	RepoLinks(ctx context.Context, fn func(repo string, d digest.Digest, size int64) error) error
}

// Report is the registry's storage usage.
type Report struct {
	// StoredBytes and StoredBlobs are what the blob store holds: the
	// distinct linked blobs, or, when Exact, a walk of the store, which
	// also finds files no repository links (left by a deleted
	// repository or a crash, until gc takes them).
	StoredBytes int64 `json:"storedBytes"`
	StoredBlobs int   `json:"storedBlobs"`
	// ReclaimableBytes is what garbage collection would free now: linked
	// blobs no manifest references, or, when Exact, a gc dry run.
	ReclaimableBytes int64       `json:"reclaimableBytes"`
	ReclaimableBlobs int         `json:"reclaimableBlobs"`
	Repositories     []RepoUsage `json:"repositories"`

	// TrashBytes is what the recycle bin holds: trashed manifests and the
	// blobs only they reference (metadata.TrashUsage), part of the stored
	// bytes until the bin is emptied and gc runs.
	TrashBytes     int64 `json:"trashBytes"`
	TrashManifests int   `json:"trashManifests"`

	// Exact says the stored and reclaimable figures come from walking
	// the blob store rather than from metadata.
	Exact bool `json:"exact"`
}

// RepoUsage is one repository's share. Unique bytes are in blobs no other
// repository links (deleting the repository would free them); shared bytes
// are in blobs other repositories link too.
type RepoUsage struct {
	Name        string `json:"name"`
	Blobs       int    `json:"blobs"`
	Bytes       int64  `json:"bytes"`
	UniqueBytes int64  `json:"uniqueBytes"`
	SharedBytes int64  `json:"sharedBytes"`
	// Quota is the repository's limit in bytes, 0 if none.
	Quota int64 `json:"quota,omitempty"`
	// TrashBytes is the repository's part of the recycle bin.
	TrashBytes int64 `json:"trashBytes,omitempty"`
}

// Reclaimer reports what garbage collection would free now; the
// collector's dry run (gc.Collector) provides it.
type Reclaimer interface {
	Reclaimable(ctx context.Context, grace time.Duration) (blobs int, bytes int64, err error)
}

// Meter measures usage; its fields but Links may be nil.
type Meter struct {
	Blobs     storage.Walker
	Links     Links
	Limiter   *Limiter
	Reclaimer Reclaimer
	Grace     time.Duration
	Trash     metadata.TrashUsage
	// Totals, when set, makes Usage read the stored and reclaimable
	// figures from metadata (two index scans) instead of walking the
	// blob store and running a gc dry run; Exact still walks.
	Totals metadata.LinkTotals
	// Now is the clock for the grace cutoff; nil is time.Now.
	Now func() time.Time
}

// Usage measures now: from metadata when Totals is set, else as Exact.
func (m Meter) Usage(ctx context.Context) (Report, error) {
	if m.Totals == nil {
		return m.Exact(ctx)
	}
	r, err := links(ctx, m.Links, m.Limiter)
	if err == nil && m.Trash != nil {
		err = addTrash(ctx, m.Trash, &r)
	}
	if err != nil {
		return r, err
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	t, err := m.Totals.LinkTotals(ctx, now().Add(-m.Grace))
	if err != nil {
		return r, fmt.Errorf("measuring usage: %w", err)
	}
	r.StoredBlobs, r.StoredBytes = t.Blobs, t.Bytes
	r.ReclaimableBlobs, r.ReclaimableBytes = t.Unreferenced, t.UnreferencedBytes
	return r, nil
}

// Exact measures by walking the blob store, reclaimable bytes included
// (from a gc dry run) when a Reclaimer is set.
func (m Meter) Exact(ctx context.Context) (Report, error) {
	if m.Blobs == nil {
		return Report{}, fmt.Errorf("measuring usage: no blob store to walk")
	}
	r, err := Measure(ctx, m.Blobs, m.Links, m.Limiter)
	if err == nil && m.Trash != nil {
		err = addTrash(ctx, m.Trash, &r)
	}
	if err != nil || m.Reclaimer == nil {
		return r, err
	}
	if r.ReclaimableBlobs, r.ReclaimableBytes, err = m.Reclaimer.Reclaimable(ctx, m.Grace); err != nil {
		return r, fmt.Errorf("measuring reclaimable bytes: %w", err)
	}
	return r, nil
}

// Measure walks the blob store and the links. limiter may be nil.
func Measure(ctx context.Context, blobs storage.Walker, ls Links, limiter *Limiter) (Report, error) {
	var (
		n    int
		size int64
	)
	if err := blobs.Walk(ctx, func(_ digest.Digest, sz int64) error {
		n++
		size += sz
		return nil
	}); err != nil {
		return Report{}, fmt.Errorf("measuring usage: %w", err)
	}
	r, err := links(ctx, ls, limiter)
	r.StoredBlobs, r.StoredBytes, r.Exact = n, size, true
	return r, err
}

// links reads the per-repository figures from the links.
func links(ctx context.Context, links Links, limiter *Limiter) (Report, error) {
	var r Report
	type link struct {
		d    digest.Digest
		size int64
	}
	byRepo := map[string][]link{}
	var order []string
	holders := map[digest.Digest]int{}
	if err := links.RepoLinks(ctx, func(repo string, d digest.Digest, size int64) error {
		if _, ok := byRepo[repo]; !ok {
			order = append(order, repo)
		}
		byRepo[repo] = append(byRepo[repo], link{d, size})
		holders[d]++
		return nil
	}); err != nil {
		return r, fmt.Errorf("measuring usage: %w", err)
	}
	r.Repositories = make([]RepoUsage, 0, len(order))
	for _, name := range order {
		u := RepoUsage{Name: name}
		if limiter != nil {
			u.Quota = limiter.Limit(name)
		}
		for _, l := range byRepo[name] {
			u.Blobs++
			u.Bytes += l.size
			if holders[l.d] > 1 {
				u.SharedBytes += l.size
			} else {
				u.UniqueBytes += l.size
			}
		}
		r.Repositories = append(r.Repositories, u)
	}
	return r, nil
}
