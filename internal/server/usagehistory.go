package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// usageSampleInterval is how often stored bytes are sampled for the web
// UI's usage chart; one more sample is taken at every start.
const usageSampleInterval = 24 * time.Hour

// usageRetention is how long samples are kept: the chart shows 90 days.
const usageRetention = 400 * 24 * time.Hour

// startUsageHistory records a usage sample now and then daily until ctx
// ends; the returned func stops it and waits.
func (s *Server) startUsageHistory(ctx context.Context) (stop func()) {
	hist, ok := s.meta.(metadata.UsageHistory)
	if !ok {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(usageSampleInterval)
		defer t.Stop()
		for {
			s.sampleUsage(ctx, hist)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

func (s *Server) sampleUsage(ctx context.Context, hist metadata.UsageHistory) {
	r, err := s.storage.meter.Usage(ctx)
	if err == nil {
		err = hist.RecordUsage(ctx, metadata.UsageSample{At: time.Now(), StoredBytes: r.StoredBytes,
			ReclaimableBytes: r.ReclaimableBytes, TrashBytes: r.TrashBytes})
	}
	if err == nil {
		_, err = hist.PruneUsage(ctx, time.Now().Add(-usageRetention))
	}
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "recording a usage sample", slog.Any("err", err))
	}
}
