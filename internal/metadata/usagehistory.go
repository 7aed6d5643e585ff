package metadata

import (
	"context"
	"time"
)

// UsageSample is one measurement of the registry's storage, kept so that
// the web UI can chart stored bytes over time.
type UsageSample struct {
	At               time.Time `json:"time"`
	StoredBytes      int64     `json:"storedBytes"`
	ReclaimableBytes int64     `json:"reclaimableBytes"`
	TrashBytes       int64     `json:"trashBytes"`
}

// UsageHistory keeps usage samples.
type UsageHistory interface {
	// RecordUsage stores s; a sample at the same instant replaces it.
	RecordUsage(ctx context.Context, s UsageSample) error
	// UsageSamples returns the samples taken at or after since, oldest
	// first, at most n (the newest n when there are more).
	UsageSamples(ctx context.Context, since time.Time, n int) ([]UsageSample, error)
	// PruneUsage deletes samples older than before and returns how many.
	PruneUsage(ctx context.Context, before time.Time) (int, error)
}
