package policy

import (
	"context"
	"fmt"
	"sync"

	"github.com/berth-registry/berth/internal/lifecycle/guard"
	"github.com/berth-registry/berth/internal/metadata"
)

// tagBatcher group-commits tag deletions: concurrent DeleteTag calls for a
// repository queue up while one caller writes the previous batch, and the
// next caller writes the whole queue in one transaction. The engine runs
// deletions concurrently, so batches grow with its concurrency and a run
// pays one commit per batch instead of one per tag.
type tagBatcher struct {
	store metadata.TagBatchDeleter
	locks guard.Reader
	trash bool

	mu       sync.Mutex
	queued   map[string]*tagBatch // per repository, not yet being written
	flushing map[string]bool
}

type tagBatch struct {
	tags []string
	errs []error
	done chan struct{}
}

func newTagBatcher(store metadata.TagBatchDeleter, locks guard.Reader, trash bool) *tagBatcher {
	return &tagBatcher{store: store, locks: locks, trash: trash,
		queued: make(map[string]*tagBatch), flushing: make(map[string]bool)}
}

// delete queues tag and returns once the batch holding it is written.
func (b *tagBatcher) delete(ctx context.Context, repo, tag string) error {
	b.mu.Lock()
	q := b.queued[repo]
	if q == nil {
		q = &tagBatch{done: make(chan struct{})}
		b.queued[repo] = q
	}
	i := len(q.tags)
	q.tags = append(q.tags, tag)
	lead := !b.flushing[repo]
	b.flushing[repo] = true
	b.mu.Unlock()

	if lead {
		b.drain(ctx, repo)
	}
	select {
	case <-q.done:
		return q.errs[i]
	case <-ctx.Done():
		// The batch may still be written; the engine counts the tag as
		// failed and a rerun finds it gone.
		return ctx.Err()
	}
}

// drain writes queued batches of repo until none is left.
func (b *tagBatcher) drain(ctx context.Context, repo string) {
	// The batch belongs to every caller in it: one caller's end must not
	// abort the others' deletions half way.
	ctx = context.WithoutCancel(ctx)
	for {
		b.mu.Lock()
		q := b.queued[repo]
		delete(b.queued, repo)
		if q == nil {
			b.flushing[repo] = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		q.errs = b.write(ctx, repo, q.tags)
		close(q.done)
	}
}

// write re-reads the locks once for the batch, right before the
// transaction, and deletes the tags they allow.
func (b *tagBatcher) write(ctx context.Context, repo string, tags []string) []error {
	errs := make([]error, len(tags))
	fail := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	locks, err := guard.Load(ctx, b.locks, repo)
	if err != nil {
		return fail(err)
	}
	var allowed []string
	var at []int
	for i, t := range tags {
		if err := locks.CheckDelete([]string{t}, ""); err != nil {
			errs[i] = err
			continue
		}
		allowed = append(allowed, t)
		at = append(at, i)
	}
	if len(allowed) == 0 {
		return errs
	}
	res, err := b.store.DeleteTags(ctx, repo, allowed, b.trash)
	if err != nil {
		return fail(fmt.Errorf("deleting tags of %s: %w", repo, err))
	}
	for j, i := range at {
		errs[i] = notFound(res[j])
	}
	return errs
}
