package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/registry"
)

// trashSweepInterval is how often expired recycle bin entries are purged.
// Expiry is measured in days, so an hour late is on time.
const trashSweepInterval = time.Hour

// trash returns the recycle bin deletions go to, or nil when
// lifecycle.trash_days is 0 and deletions are immediate.
func (s *Server) trash() registry.Trasher {
	if s.cfg.Lifecycle.TrashDays <= 0 {
		return nil
	}
	return s.meta
}

// startTrashExpiry purges expired bin entries now and then every
// trashSweepInterval until ctx ends or the returned stop is called; stop
// waits for a sweep in progress, so the stores are not closed under it.
func (s *Server) startTrashExpiry(ctx context.Context) (stop func()) {
	if s.cfg.Lifecycle.TrashDays <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(trashSweepInterval)
		defer t.Stop()
		for {
			s.expireTrash(ctx, s.meta, time.Now())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

func (s *Server) expireTrash(ctx context.Context, bin metadata.Trash, now time.Time) {
	ttl := time.Duration(s.cfg.Lifecycle.TrashDays) * 24 * time.Hour
	n, err := bin.PurgeTrash(metadata.WithActor(ctx, "berth:trash-expiry"), "", now.Add(-ttl))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.ErrorContext(ctx, "emptying expired trash", slog.Any("err", err))
	case n > 0:
		s.log.InfoContext(ctx, "emptied expired trash", slog.Int("entries", n))
	}
}
