package registry

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// maxPendingPulls bounds the memory held between flushes. Past it, a pull
// of a manifest not yet pending is dropped: pull times are statistics, and
// a flood of distinct manifests must not grow the heap without bound.
const maxPendingPulls = 100_000

// pullRecorder keeps the latest pull time per manifest in memory and
// writes them to metadata in batches, so that a manifest GET never writes
// to the database.
type pullRecorder struct {
	meta metadata.Pulls
	log  *slog.Logger

	mu      sync.Mutex
	pending map[pullKey]time.Time

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type pullKey struct {
	repo   string
	digest digest.Digest
}

func newPullRecorder(meta metadata.Pulls, log *slog.Logger, every time.Duration) *pullRecorder {
	p := &pullRecorder{
		meta:    meta,
		log:     log,
		pending: map[pullKey]time.Time{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go p.loop(every)
	return p
}

// record notes a pull; the latest time per manifest wins.
func (p *pullRecorder) record(repo string, d digest.Digest, at time.Time) {
	k := pullKey{repo, d}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.pending[k]; ok || len(p.pending) < maxPendingPulls {
		p.pending[k] = at
	}
}

func (p *pullRecorder) loop(every time.Duration) {
	defer close(p.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := p.flush(ctx); err != nil {
				p.log.Warn("recording pulls failed", slog.Any("err", err))
			}
			cancel()
		}
	}
}

// flush writes the pending pulls. On failure they are put back, unless
// newer pulls of the same manifests arrived meanwhile.
func (p *pullRecorder) flush(ctx context.Context) error {
	p.mu.Lock()
	if len(p.pending) == 0 {
		p.mu.Unlock()
		return nil
	}
	batch := p.pending
	p.pending = make(map[pullKey]time.Time, len(batch))
	p.mu.Unlock()

	pulls := make([]metadata.Pull, 0, len(batch))
	for k, at := range batch {
		pulls = append(pulls, metadata.Pull{Repo: k.repo, Digest: k.digest, At: at})
	}
	err := p.meta.RecordPulls(ctx, pulls)
	if err != nil {
		p.mu.Lock()
		for k, at := range batch {
			if _, newer := p.pending[k]; !newer && len(p.pending) < maxPendingPulls {
				p.pending[k] = at
			}
		}
		p.mu.Unlock()
	}
	return err
}

// close stops the loop and flushes what is left.
func (p *pullRecorder) close(ctx context.Context) error {
	p.closeOnce.Do(func() { close(p.stop) })
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.flush(ctx)
}
