package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/schedule"
	"github.com/berth-registry/berth/internal/metadata"
)

// ErrBusy is returned by Service.Run while another run is in progress.
var ErrBusy = errors.New("garbage collection already running")

// Service runs the collector one run at a time, records every run in the
// history (with its outbox event) and can run it on a schedule.
type Service struct {
	c       *Collector
	history metadata.GCHistory
	grace   time.Duration
	log     *slog.Logger
	mu      sync.Mutex // held for a whole run
}

// NewService wraps c; grace is the default grace period.
func NewService(c *Collector, history metadata.GCHistory, grace time.Duration, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{c: c, history: history, grace: grace, log: log}
}

// Grace is the default grace period.
func (s *Service) Grace() time.Duration { return s.grace }

// Run collects once and records the run, failed or not; ErrBusy if a run
// is in progress.
func (s *Service) Run(ctx context.Context, opts Options) (Result, error) {
	if !s.mu.TryLock() {
		return Result{}, ErrBusy
	}
	defer s.mu.Unlock()
	res, err := s.c.Run(ctx, opts)
	if res.Finished.IsZero() {
		res.Finished = time.Now().UTC()
	}
	run := metadata.GCRun{Started: res.Started, Finished: res.Finished, DryRun: res.DryRun, Grace: res.Grace,
		Scanned: res.Scanned, Blobs: res.Blobs, Bytes: res.Bytes, Uploads: res.Uploads}
	if err != nil {
		run.Error = err.Error()
	}
	// The run happened whether or not the caller is still waiting.
	if _, herr := s.history.RecordGCRun(context.WithoutCancel(ctx), run); herr != nil {
		err = errors.Join(err, fmt.Errorf("gc: %w", herr))
	}
	return res, err
}

// Runs returns up to n recorded runs, newest first.
func (s *Service) Runs(ctx context.Context, n int) ([]metadata.GCRun, error) {
	return s.history.GCRuns(ctx, n)
}

// Loop runs a collection at the times of sched (the first one interval,
// or the first cron time, after the call) with the default grace period
// until ctx ends. A failed run is logged and retried at the next time.
func (s *Service) Loop(ctx context.Context, sched schedule.Schedule) {
	if sched.IsZero() {
		return
	}
	last := time.Now()
	for {
		t := time.NewTimer(max(time.Until(sched.Next(last)), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		last = time.Now()
		res, err := s.Run(ctx, Options{Grace: s.grace})
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("scheduled garbage collection failed", slog.Any("err", err))
			}
			continue
		}
		s.log.Info("garbage collection", slog.Int("blobs_deleted", res.Blobs), slog.Int64("bytes_deleted", res.Bytes),
			slog.Int("uploads_deleted", res.Uploads), slog.Duration("took", res.Finished.Sub(res.Started)))
	}
}
