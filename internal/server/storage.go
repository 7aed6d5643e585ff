package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/lifecycle/gc"
	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

// storageServices are garbage collection, quotas and usage over the
// server's stores.
type storageServices struct {
	gc      *gc.Service
	limiter *quota.Limiter // nil when no limit is configured
	meter   quota.Meter
	cfg     config.GC
	log     *slog.Logger
}

func newStorageServices(cfg config.Config, blobs *fsblob.Store, meta *sqlite.Store, log *slog.Logger) (*storageServices, error) {
	col := gc.New(blobs, meta, blobs, log)
	st := &storageServices{gc: gc.NewService(col, meta, cfg.GC.GracePeriod, log), cfg: cfg.GC, log: log}
	rules, err := cfg.Quota.Rules()
	if err != nil {
		return nil, fmt.Errorf("quota.repositories: %w", err)
	}
	if cfg.Quota.Global > 0 || len(rules) > 0 || cfg.Storage.MinFreeBytes > 0 {
		opts := quota.Options{Global: int64(cfg.Quota.Global), MinFree: int64(cfg.Storage.MinFreeBytes), Dir: cfg.StorageDir(),
			WarnPercent: cfg.Quota.WarnPercent, Notify: quotaNotifier(meta, log)}
		for _, r := range rules {
			opts.Repos = append(opts.Repos, quota.Rule{Pattern: r.Pattern, Limit: int64(r.Limit)})
		}
		if st.limiter, err = quota.New(meta, opts); err != nil {
			return nil, err
		}
	}
	st.meter = quota.Meter{Blobs: blobs, Links: meta, Limiter: st.limiter, Reclaimer: col, Grace: cfg.GC.GracePeriod, Trash: meta, Totals: meta}
	return st, nil
}

// quotaNotifier writes quota warnings and refusals to the outbox, from
// which they reach the audit log and webhooks like any event. The
// request's actor and address are stamped on them by the store.
func quotaNotifier(events metadata.EventRecorder, log *slog.Logger) func(context.Context, quota.Notice) {
	return func(ctx context.Context, n quota.Notice) {
		e := metadata.Event{Type: n.Type, Repo: n.Repo}
		e.Detail, _ = json.Marshal(n) // plain fields: cannot fail
		// A refused push is answered anyway: the event must not be lost
		// because the client hung up.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := events.RecordEvent(ctx, e); err != nil {
			log.WarnContext(ctx, "recording quota event", slog.String("type", n.Type), slog.String("repository", n.Repo), slog.Any("err", err))
		}
	}
}

// limits is the registry's admission hook, nil (not a typed nil) when no
// limit is configured.
func (st *storageServices) limits() registry.Limiter {
	if st.limiter == nil {
		return nil
	}
	return st.limiter
}

// start runs scheduled collections until ctx ends; the returned func
// stops them and waits, so that the stores can be closed after it.
func (st *storageServices) start(ctx context.Context) (stop func()) {
	// Validate parsed the schedule already.
	sched, err := st.cfg.GCSchedule()
	if err != nil || sched.IsZero() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { st.gc.Loop(ctx, sched) })
	st.log.Info("scheduled garbage collection", slog.String("schedule", sched.String()), slog.Duration("grace_period", st.cfg.GracePeriod))
	return func() { cancel(); wg.Wait() }
}
