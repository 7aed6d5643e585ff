package ui

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/quota"
)

// usageCache holds the last storage measurement. Measuring walks the blob
// store and dry-runs GC, which takes seconds on a large registry, so a
// page never waits for it: a stale or missing value starts one refresh in
// the background and the page shows what is known.
type usageCache struct {
	measure func(context.Context) (quota.Report, error)
	ttl     time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	report  *quota.Report
	at      time.Time
	running bool
	done    chan struct{} // closed when the running refresh ends
}

func newUsageCache(measure func(context.Context) (quota.Report, error), ttl time.Duration, log *slog.Logger) *usageCache {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return &usageCache{measure: measure, ttl: ttl, log: log}
}

// get returns the last measurement (nil if none yet) and when it was
// taken, starting a refresh if it is missing or older than the TTL.
func (c *usageCache) get() (*quota.Report, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running && (c.report == nil || time.Since(c.at) > c.ttl) {
		c.running, c.done = true, make(chan struct{})
		go c.refresh(c.done)
	}
	return c.report, c.at
}

func (c *usageCache) refresh(done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r, err := c.measure(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running = false
	if err != nil {
		c.log.Error("ui: measuring storage usage", slog.Any("err", err))
		return
	}
	c.report, c.at = &r, time.Now()
}
