// Package scanner scans the images a registry holds: on push (it subscribes
// to manifest.pushed), on demand, and again in memory whenever the
// vulnerability database changes. It stores every image's inventory and
// findings in metadata (metadata.Scans), so a database update re-matches
// stored inventories and never reads a layer again.
//
// Jobs go through a bounded queue to a fixed pool of workers:
//
//	manifest.pushed ─► Enqueue ─► queue (bounded; a full queue blocks the
//	                   │ pending   relay, whose cursor keeps the rest)
//	                   ▼
//	              worker: scanning ─► layers from the blob store, in order
//	                   ─► inventory ─► match ─► complete | partial | failed
//
// Scans are keyed by manifest digest: the same content pushed to two
// repositories is scanned once and the result shared.
package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/vulndb"
	"github.com/berth-registry/berth/internal/storage"
)

// Store is what the scanner needs of metadata.
type Store interface {
	Manifest(ctx context.Context, repo string, d digest.Digest) (*metadata.Manifest, error)
	TagDetails(ctx context.Context, repo string, order metadata.Order, p metadata.Page) ([]metadata.TagInfo, error)
	metadata.Scans
}

// Blobs opens layer blobs; storage.BlobStore is one.
type Blobs interface {
	Open(ctx context.Context, d digest.Digest) (storage.Blob, error)
}

// Options configure a Scanner; the zero value of each field is a default.
type Options struct {
	// Workers is how many images are scanned at once (default 1).
	Workers int
	// QueueSize bounds jobs waiting for a worker (default 256).
	QueueSize int
	// Inventory bounds each image read (inventory's defaults).
	Inventory inventory.Options
	Logger    *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ReasonNoDatabase is the reason of a scan skipped because no
// vulnerability database is loaded: such an image is never reported clean.
const ReasonNoDatabase = "no database"

// Scanner scans images on a worker pool. Create it with New, Start it, and
// Stop it before closing its stores.
type Scanner struct {
	store Store
	blobs Blobs
	db    *vulndb.Holder
	opts  Options
	log   *slog.Logger

	queue chan job

	// swap is held for reading from the moment a worker loads the database
	// until it saved its findings, and for writing while Reload swaps it:
	// a rematch that starts after the swap therefore sees every scan made
	// with the old snapshot.
	swap sync.RWMutex
	// reload serialises Reload.
	reload sync.Mutex

	mu       sync.Mutex
	inflight map[digest.Digest]bool
	// runCtx is Start's context, which background rematches run on;
	// rematchSt, rematchCancel and rematchDone are the current or last
	// rematch (background.go). All under mu.
	runCtx        context.Context
	rematchSt     RematchStatus
	rematchCancel context.CancelFunc
	rematchDone   chan struct{}
	// claiming is held from claiming a digest until its pending record is
	// saved, so whoever finds the digest already claimed also finds the
	// record: a rescan racing a push-triggered scan never reads "not
	// scanned".
	claiming sync.Mutex
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

type job struct {
	repo   string
	digest digest.Digest
}

// New returns a scanner over the stores, matching against db's current
// snapshot (none: scans are skipped with ReasonNoDatabase).
func New(store Store, blobs Blobs, db *vulndb.Holder, opts Options) *Scanner {
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Scanner{store: store, blobs: blobs, db: db, opts: opts, log: opts.Logger,
		queue: make(chan job, opts.QueueSize), inflight: map[digest.Digest]bool{}}
}

// Start runs the workers until Stop, and requeues the scans a previous
// process left pending or scanning (and, with a database loaded, those
// skipped for lack of one); inventories matched with another database
// version than the loaded one are re-matched in the background.
func (s *Scanner) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.cancel, s.runCtx = cancel, ctx
	s.mu.Unlock()
	for range s.opts.Workers {
		s.wg.Go(func() { s.work(ctx) })
	}
	s.wg.Go(func() {
		if err := s.recover(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "requeueing unfinished scans", slog.Any("err", err))
		}
		s.resumeRematch(ctx)
	})
}

// Stop ends the workers and waits for them; a scan in progress is
// abandoned and left scanning, to be requeued by the next Start.
func (s *Scanner) Stop() {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	s.mu.Lock()
	done := s.rematchDone
	s.mu.Unlock()
	if done != nil {
		<-done // ended by cancel: it runs on Start's context
	}
}

// Rescan queues a scan of repo@d that reads its layers again, whatever
// was stored; metadata.ErrNotFound if repo holds no such manifest.
func (s *Scanner) Rescan(ctx context.Context, repo string, d digest.Digest) error {
	if _, err := s.store.Manifest(ctx, repo, d); err != nil {
		return err
	}
	return s.Enqueue(ctx, repo, d, true)
}

// HandleEvent is the relay subscription: manifest.pushed enqueues a scan.
func (s *Scanner) HandleEvent(ctx context.Context, e metadata.Event) error {
	if e.Type != metadata.EventManifestPushed || e.Digest == "" {
		return nil
	}
	return s.Enqueue(ctx, e.Repo, e.Digest, false)
}

// Enqueue queues a scan of repo@d, blocking while the queue is full. A
// digest already scanned (complete or partial) is not read again unless
// force is set; it is re-matched if the database changed since. A digest
// queued or being scanned is not queued twice.
func (s *Scanner) Enqueue(ctx context.Context, repo string, d digest.Digest, force bool) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("scanning %s@%s: %w", repo, d, err)
	}
	db := s.db.Load()
	prev, err := s.store.Scan(ctx, d)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		prev = nil
	case err != nil:
		return fmt.Errorf("scanning %s@%s: %w", repo, d, err)
	}
	if db == nil {
		rec := &metadata.ScanRecord{Digest: d, Repo: repo, Status: metadata.ScanSkipped, Reason: ReasonNoDatabase,
			Queued: s.now(), Finished: s.now()}
		if prev != nil && prev.Status != metadata.ScanSkipped {
			return nil // keep what an earlier database found
		}
		return s.store.SaveScan(ctx, rec, nil)
	}
	if prev != nil && !force {
		switch prev.Status {
		case metadata.ScanComplete, metadata.ScanPartial:
			if prev.DBVersion != db.Version() && len(prev.Inventory) > 0 {
				_, err := s.rematchOne(ctx, prev, &rematcher{})
				return err
			}
			return nil
		case metadata.ScanPending, metadata.ScanScanning:
			if s.isInflight(d) {
				return nil
			}
		}
	}
	s.claiming.Lock()
	if !s.claim(d) {
		s.claiming.Unlock()
		return nil
	}
	// A rescan replaces the last result at once: a pending scan shows no
	// findings rather than ones it may be about to contradict.
	rec := &metadata.ScanRecord{Digest: d, Repo: repo, Status: metadata.ScanPending, Queued: s.now()}
	err = s.store.SaveScan(ctx, rec, nil)
	s.claiming.Unlock()
	if err != nil {
		s.release(d)
		return err
	}
	select {
	case s.queue <- job{repo: repo, digest: d}:
		return nil
	case <-ctx.Done():
		s.release(d)
		return ctx.Err()
	}
}

func (s *Scanner) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.queue:
			if err := s.scan(ctx, j); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "scan failed", slog.String("repository", j.repo),
					slog.String("digest", j.digest.String()), slog.Any("err", err))
			}
			s.release(j.digest)
		}
	}
}

// recover requeues what a previous process left unfinished.
func (s *Scanner) recover(ctx context.Context) error {
	last := ""
	for {
		recs, err := s.store.ListScans(ctx, metadata.Page{Last: last, N: 100})
		if err != nil {
			return err
		}
		for _, r := range recs {
			last = r.Digest.String()
			redo := r.Status == metadata.ScanPending || r.Status == metadata.ScanScanning ||
				(r.Status == metadata.ScanSkipped && r.Reason == ReasonNoDatabase && s.db.Load() != nil)
			if redo && r.Repo != "" && !s.isInflight(r.Digest) {
				if err := s.Enqueue(ctx, r.Repo, r.Digest, true); err != nil {
					return err
				}
			}
		}
		if len(recs) < 100 {
			return nil
		}
	}
}

func (s *Scanner) claim(d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[d] {
		return false
	}
	s.inflight[d] = true
	return true
}

func (s *Scanner) release(d digest.Digest) {
	s.mu.Lock()
	delete(s.inflight, d)
	s.mu.Unlock()
}

func (s *Scanner) isInflight(d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight[d]
}

func (s *Scanner) now() time.Time { return s.opts.Now().UTC() }
