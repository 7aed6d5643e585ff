package sqlite

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// lockCacheTTL bounds how long a repository's locks are served from
// memory. Locks set through this Store invalidate the cache at once; the
// TTL only matters for another process writing the same database.
const lockCacheTTL = time.Second

// lockCacheMax bounds the repositories whose locks are remembered.
const lockCacheMax = 4096

// lockCache keeps ListLocks answers per repository: every pull checks the
// locks of its repository (read locks), and the query cost as much as the
// manifest lookup itself. gen is bumped after every lock change commits;
// an entry read under an older generation is stale, so a reader that
// raced a change never caches what it read.
type lockCache struct {
	gen atomic.Uint64
	mu  sync.Mutex
	m   map[string]lockCacheEntry
}

type lockCacheEntry struct {
	gen   uint64
	at    time.Time
	locks []metadata.Lock
}

// invalidate is called after a lock change committed.
func (c *lockCache) invalidate() { c.gen.Add(1) }

// listLocks answers from the cache or from load. The caller gets its own
// copy of the slice.
func (c *lockCache) listLocks(ctx context.Context, repo string, load func(context.Context, string) ([]metadata.Lock, error)) ([]metadata.Lock, error) {
	now := time.Now()
	gen := c.gen.Load()
	c.mu.Lock()
	e, ok := c.m[repo]
	c.mu.Unlock()
	if ok && e.gen == gen && now.Sub(e.at) < lockCacheTTL {
		return slices.Clone(e.locks), nil
	}
	locks, err := load(ctx, repo)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= lockCacheMax {
		c.m = make(map[string]lockCacheEntry)
	}
	c.m[repo] = lockCacheEntry{gen: gen, at: now, locks: locks}
	c.mu.Unlock()
	return slices.Clone(locks), nil
}
