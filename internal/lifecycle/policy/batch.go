package policy

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/guard"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
)

// tagBatcher group-commits tag deletions: concurrent DeleteTag calls for a
// repository queue up while one caller writes the previous batch, and the
// next caller writes the whole queue in one transaction. The engine runs
// deletions concurrently, so batches grow with its concurrency and a run
// pays one commit per batch instead of one per tag.
type tagBatcher struct {
	store metadata.GuardedDeleter
	trash bool

	mu       sync.Mutex
	queued   map[string]*tagBatch // per repository, not yet being written
	flushing map[string]bool
}

type tagBatch struct {
	tags []metadata.TagDeletion
	errs []error
	done chan struct{}
}

func newTagBatcher(store metadata.GuardedDeleter, trash bool) *tagBatcher {
	return &tagBatcher{store: store, trash: trash,
		queued: make(map[string]*tagBatch), flushing: make(map[string]bool)}
}

// delete queues tag and returns once the batch holding it is written.
func (b *tagBatcher) delete(ctx context.Context, repo string, tag metadata.TagDeletion) error {
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

// write deletes the batch in one transaction that re-reads every tag's
// digest and the locks and rules: a tag moved or a lock set before it
// commits is seen, one set after it finds the tag gone.
func (b *tagBatcher) write(ctx context.Context, repo string, tags []metadata.TagDeletion) []error {
	res, err := b.store.DeleteTagsIf(ctx, repo, tags, b.trash, deleteCheck(repo))
	if err != nil {
		errs := make([]error, len(tags))
		for i := range errs {
			errs[i] = fmt.Errorf("deleting tags of %s: %w", repo, err)
		}
		return errs
	}
	for i := range res {
		res[i] = engineErr(res[i])
	}
	return res
}

// deleteCheck is guard's verdict over locks and rules read inside the
// deleting transaction.
func deleteCheck(repo string) metadata.DeleteCheck {
	return func(locks []metadata.Lock, rules []metadata.ImmutableRule) func(string, digest.Digest) error {
		ls := guard.NewSnapshot(locks, rules).For(repo)
		return func(tag string, d digest.Digest) error {
			if tag != "" {
				return ls.CheckDelete([]string{tag}, "")
			}
			return ls.CheckDelete(nil, d)
		}
	}
}

// engineErr adds the retention engine's sentinels to the store's and
// guard's: gone is done, moved or locked since the plan is skipped.
func engineErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, metadata.ErrConflict):
		return fmt.Errorf("%w: %w", retention.ErrChanged, err)
	case errors.Is(err, guard.ErrDenied):
		return fmt.Errorf("%w: %w", retention.ErrLocked, err)
	}
	return notFound(err)
}
