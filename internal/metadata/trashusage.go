package metadata

import (
	"context"
	"time"
)

// TrashUsage measures what the recycle bin holds: trashed manifests and
// the blobs only trashed manifests reference, which is what emptying the
// bin (and then collecting garbage) would free. Trashed tags hold nothing:
// their manifest is live.
type TrashUsage interface {
	// TrashUsage returns the bin's totals, a blob counted once however
	// many repositories' trashed manifests reference it, and per
	// repository with trashed manifests, in repository order.
	TrashUsage(ctx context.Context) (TrashReport, error)
}

// TrashReport is what the recycle bin holds.
type TrashReport struct {
	Manifests int   `json:"manifests"`
	Bytes     int64 `json:"bytes"`
	// Repositories has only repositories with trashed manifests. A blob
	// referenced by trashed manifests of two repositories counts in both.
	Repositories []RepoTrash `json:"repositories"`
}

// RepoTrash is one repository's part of the recycle bin.
type RepoTrash struct {
	Name      string `json:"name"`
	Manifests int    `json:"manifests"`
	// Bytes is the trashed manifests' own size plus the blobs (config,
	// layers) that no live manifest of any repository references.
	Bytes int64 `json:"bytes"`
}

// LinkTotals sums the distinct blobs repositories link, for usage reports
// that must not walk the blob store on every request.
type LinkTotals interface {
	// LinkTotals returns the distinct linked blobs and, among them, those
	// garbage collection would delete at cutoff: referenced by no
	// manifest (trashed or not) and last linked before cutoff.
	LinkTotals(ctx context.Context, cutoff time.Time) (LinkCount, error)
}

// LinkCount counts distinct linked blobs.
type LinkCount struct {
	Blobs        int
	Bytes        int64
	Unreferenced int
	// UnreferencedBytes is what gc would free among linked blobs.
	UnreferencedBytes int64
}
