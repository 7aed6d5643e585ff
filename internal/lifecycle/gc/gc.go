// Package gc is Berth's online garbage collector: mark and sweep over the
// blob store while the registry keeps serving pushes and pulls.
//
// A blob is live when any manifest (trashed or not) references it, or a
// repository linked it within the grace period (a push in progress has
// uploaded layers but not yet its manifest). Everything else in the blob
// store is garbage once its file is older than the grace period too.
//
// The race between "this blob looks unreferenced" and "a push starts using
// it" is closed in metadata: the sweep condemns candidates in one write
// transaction that re-checks liveness, removes their remaining links and
// leaves a tombstone that LinkBlob refuses (metadata.ErrBlobCollecting).
// Only then are the bytes deleted and the tombstones released. A manifest
// PUT needs every blob linked in that same database, so it either commits
// before the condemnation (and the re-check sees it) or fails cleanly
// after it. The grace period is defence in depth, not the mechanism.
//
// Uploads whose start is older than the upload grace period are abandoned
// and cancelled.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/storage"
)

// Blobs is the blob store as the collector uses it.
type Blobs interface {
	storage.BlobStore
	storage.Walker
}

// Uploads lists and cancels uploads; optional.
type Uploads interface {
	storage.UploadLister
	Cancel(ctx context.Context, id string) error
}

// Options tune one run.
type Options struct {
	// Grace is how old an unreferenced blob (its file and its newest link)
	// must be before it is deleted.
	Grace time.Duration
	// UploadGrace is how long ago an upload must have started to count as
	// abandoned; 0 means Grace.
	UploadGrace time.Duration
	// DryRun reports what would be deleted and changes nothing.
	DryRun bool
	// Progress, if set, is called after each swept batch.
	Progress func(Result)
}

// Result is what a run found and did. In a dry run, Blobs and Bytes are
// what a real run would delete.
type Result struct {
	Started      time.Time     `json:"started"`
	Finished     time.Time     `json:"finished"`
	DryRun       bool          `json:"dryRun"`
	Grace        time.Duration `json:"gracePeriod"`
	Scanned      int           `json:"blobsScanned"`
	ScannedBytes int64         `json:"bytesScanned"`
	Blobs        int           `json:"blobsDeleted"`
	Bytes        int64         `json:"bytesDeleted"`
	Uploads      int           `json:"uploadsDeleted"`
	UploadBytes  int64         `json:"uploadBytesDeleted"`
}

// batchSize bounds one condemnation transaction: deleting files happens
// outside it, but the re-check holds the metadata write lock.
const batchSize = 256

// Collector runs garbage collection over one blob store and its metadata.
type Collector struct {
	blobs   Blobs
	meta    metadata.Collection
	uploads Uploads // nil if the store cannot list uploads
	log     *slog.Logger
	now     func() time.Time
}

// New returns a Collector; uploads may be nil and log may be nil.
func New(blobs Blobs, meta metadata.Collection, uploads Uploads, log *slog.Logger) *Collector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Collector{blobs: blobs, meta: meta, uploads: uploads, log: log, now: time.Now}
}

type candidate struct {
	d    digest.Digest
	size int64
}

// Run marks and sweeps once.
func (c *Collector) Run(ctx context.Context, opts Options) (Result, error) {
	res := Result{Started: c.now().UTC(), DryRun: opts.DryRun, Grace: opts.Grace}
	cutoff := res.Started.Add(-opts.Grace)
	if !opts.DryRun {
		if err := c.finishCondemned(ctx); err != nil {
			return res, err
		}
	}
	cands, err := c.mark(ctx, cutoff, &res)
	if err != nil {
		return res, err
	}
	if err := c.sweep(ctx, cands, cutoff, opts, &res); err != nil {
		return res, err
	}
	upGrace := opts.UploadGrace
	if upGrace <= 0 {
		upGrace = opts.Grace
	}
	if err := c.sweepUploads(ctx, res.Started.Add(-upGrace), opts.DryRun, &res); err != nil {
		return res, err
	}
	res.Finished = c.now().UTC()
	return res, nil
}

// finishCondemned completes deletions a crashed or failed run left
// condemned: their links are gone already, so only bytes remain.
func (c *Collector) finishCondemned(ctx context.Context) error {
	ds, err := c.meta.Condemned(ctx)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	if len(ds) == 0 {
		return nil
	}
	for _, d := range ds {
		if err := c.blobs.Delete(ctx, d); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("gc: deleting condemned blob %s: %w", d, err)
		}
	}
	if err := c.meta.ReleaseBlobs(ctx, ds); err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	return nil
}

// mark returns the blobs in the store that are not live and whose files
// are older than cutoff. Live digests are loaded first: a blob linked
// after that is newer than cutoff, and the sweep re-checks anyway.
func (c *Collector) mark(ctx context.Context, cutoff time.Time, res *Result) ([]candidate, error) {
	live := make(map[digest.Digest]struct{})
	if err := c.meta.LiveBlobs(ctx, cutoff, func(d digest.Digest) error {
		live[d] = struct{}{}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("gc: marking: %w", err)
	}
	var cands []candidate
	err := c.blobs.Walk(ctx, func(d digest.Digest, size int64) error {
		res.Scanned++
		res.ScannedBytes += size
		if _, ok := live[d]; !ok {
			cands = append(cands, candidate{d, size})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gc: walking blobs: %w", err)
	}
	// A blob committed but not yet linked has a fresh file and no link:
	// only its modification time protects it from the mark.
	kept := cands[:0]
	for _, cd := range cands {
		young, err := c.younger(ctx, cd.d, cutoff)
		if err != nil {
			return nil, err
		}
		if !young {
			kept = append(kept, cd)
		}
	}
	return kept, nil
}

func (c *Collector) younger(ctx context.Context, d digest.Digest, cutoff time.Time) (bool, error) {
	b, err := c.blobs.Open(ctx, d)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil // gone already: nothing to do
	}
	if err != nil {
		return false, fmt.Errorf("gc: opening blob %s: %w", d, err)
	}
	mod := b.ModTime()
	b.Close()
	return !mod.Before(cutoff), nil
}

// sweep condemns candidates batch by batch, deletes their bytes and
// releases the tombstones.
func (c *Collector) sweep(ctx context.Context, cands []candidate, cutoff time.Time, opts Options, res *Result) error {
	if opts.DryRun {
		for _, cd := range cands {
			res.Blobs++
			res.Bytes += cd.size
		}
		return nil
	}
	for len(cands) > 0 {
		n := min(batchSize, len(cands))
		batch := cands[:n]
		cands = cands[n:]
		sizes := make(map[digest.Digest]int64, n)
		ds := make([]digest.Digest, n)
		for i, cd := range batch {
			ds[i] = cd.d
			sizes[cd.d] = cd.size
		}
		condemned, err := c.meta.CondemnBlobs(ctx, ds, cutoff)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		deleted := make([]digest.Digest, 0, len(condemned))
		var firstErr error
		for _, d := range condemned {
			err := c.blobs.Delete(ctx, d)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				// Keep the tombstone: the next run finishes the job, and
				// until then nobody can link what is half gone.
				firstErr = cmpErr(firstErr, fmt.Errorf("gc: deleting blob %s: %w", d, err))
				continue
			}
			deleted = append(deleted, d)
			if err == nil {
				res.Blobs++
				res.Bytes += sizes[d]
			}
		}
		if err := c.meta.ReleaseBlobs(ctx, deleted); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		if firstErr != nil {
			return firstErr
		}
		if opts.Progress != nil {
			opts.Progress(*res)
		}
	}
	return nil
}

func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// sweepUploads cancels uploads started before cutoff.
func (c *Collector) sweepUploads(ctx context.Context, cutoff time.Time, dryRun bool, res *Result) error {
	if c.uploads == nil {
		return nil
	}
	var old []storage.UploadInfo
	err := c.uploads.ListUploads(ctx, func(u storage.UploadInfo) error {
		if u.Started.Before(cutoff) {
			old = append(old, u)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gc: listing uploads: %w", err)
	}
	for _, u := range old {
		if !dryRun {
			err := c.uploads.Cancel(ctx, u.ID)
			if errors.Is(err, storage.ErrUploadUnknown) {
				continue // finished or cancelled meanwhile
			}
			if err != nil {
				return fmt.Errorf("gc: cancelling upload %s: %w", u.ID, err)
			}
		}
		res.Uploads++
		res.UploadBytes += u.Size
	}
	return nil
}

// Reclaimable is what a run with this grace period would delete now, from
// a dry run that is not recorded.
func (c *Collector) Reclaimable(ctx context.Context, grace time.Duration) (int, int64, error) {
	res, err := c.Run(ctx, Options{Grace: grace, DryRun: true})
	return res.Blobs, res.Bytes, err
}
