package policy

import (
	"context"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/guard"
)

// lockCacheTTL is how long the re-check reuses a repository's locks. The
// deletion itself always reads them fresh (tagBatcher.write), so a lock
// set within this window still stops the deletion; it is reported as
// failed (denied) rather than skipped (locked since plan).
const lockCacheTTL = 200 * time.Millisecond

// lockCache saves the engine's per-tag re-check two queries per tag.
type lockCache struct {
	r   guard.Reader
	mu  sync.Mutex
	ent map[string]lockEntry
}

type lockEntry struct {
	locks *guard.Locks
	at    time.Time
}

func newLockCache(r guard.Reader) *lockCache {
	return &lockCache{r: r, ent: make(map[string]lockEntry)}
}

func (c *lockCache) get(ctx context.Context, repo string) (*guard.Locks, error) {
	c.mu.Lock()
	e, ok := c.ent[repo]
	c.mu.Unlock()
	if ok && time.Since(e.at) < lockCacheTTL {
		return e.locks, nil
	}
	locks, err := guard.Load(ctx, c.r, repo)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.ent[repo] = lockEntry{locks, time.Now()}
	c.mu.Unlock()
	return locks, nil
}
