package ui

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// Home's registry-wide numbers are aggregates over every image and
// finding: on 100,000 images they take seconds, which no page view should
// wait for. They are cached per set of visible repositories, refreshed in
// the background once older than homeTTL; a first view waits at most
// homeFirstWait (a small registry answers in time) and otherwise says
// that they are being counted.
const (
	homeTTL       = time.Minute
	homeFirstWait = 150 * time.Millisecond
	homeMaxKeys   = 256 // distinct grant sets cached
)

// homeAggregates are the cached parts of the home page.
type homeAggregates struct {
	Totals     metadata.Totals
	Severities []metadata.SeverityCount
	TopVulns   []metadata.VulnCount
}

type homeCache struct {
	compute func(ctx context.Context, patterns []string) (homeAggregates, error)
	log     *slog.Logger

	mu      sync.Mutex
	entries map[string]*homeEntry
}

type homeEntry struct {
	val     *homeAggregates
	at      time.Time
	running bool
	done    chan struct{}
}

func newHomeCache(compute func(context.Context, []string) (homeAggregates, error), log *slog.Logger) *homeCache {
	return &homeCache{compute: compute, log: log, entries: map[string]*homeEntry{}}
}

// get returns the aggregates for patterns and when they were computed,
// or nil if they are still being computed.
func (c *homeCache) get(patterns []string) (*homeAggregates, time.Time) {
	key := "\x00all"
	if patterns != nil {
		key = strings.Join(patterns, "\x00")
	}
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		if len(c.entries) >= homeMaxKeys {
			for k, old := range c.entries {
				if !old.running {
					delete(c.entries, k)
					break
				}
			}
		}
		e = &homeEntry{}
		c.entries[key] = e
	}
	if !e.running && (e.val == nil || time.Since(e.at) > homeTTL) {
		e.running, e.done = true, make(chan struct{})
		var cp []string // nil (everything) stays nil, empty (nothing) stays empty
		if patterns != nil {
			cp = append([]string{}, patterns...)
		}
		go c.refresh(e, cp)
	}
	val, at, done := e.val, e.at, e.done
	c.mu.Unlock()
	if val == nil && done != nil {
		select {
		case <-done:
			c.mu.Lock()
			val, at = e.val, e.at
			c.mu.Unlock()
		case <-time.After(homeFirstWait):
		}
	}
	return val, at
}

func (c *homeCache) refresh(e *homeEntry, patterns []string) {
	defer close(e.done)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v, err := c.compute(ctx, patterns)
	c.mu.Lock()
	defer c.mu.Unlock()
	e.running = false
	if err != nil {
		c.log.Error("ui: counting the home page's totals", slog.Any("err", err))
		return
	}
	e.val, e.at = &v, time.Now()
}
