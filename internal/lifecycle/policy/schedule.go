package policy

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/lifecycle/schedule"
	"github.com/berth-registry/berth/internal/metadata"
)

// Scheduler runs due policies, one at a time, every tick.
type Scheduler struct {
	runner *Runner
	tick   time.Duration
	log    *slog.Logger
	// last is when each policy last started a real (not dry) run, read
	// from the history the first time the policy is seen.
	last map[string]time.Time
}

// NewScheduler returns a scheduler that looks for due policies every tick.
func NewScheduler(r *Runner, tick time.Duration) *Scheduler {
	return &Scheduler{runner: r, tick: tick, log: r.opts.Logger, last: make(map[string]time.Time)}
}

// Start runs the scheduler until ctx ends or stop is called; stop
// interrupts a run in progress and waits for it to be recorded, so the
// stores are not closed under it.
func (s *Scheduler) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.RunDue(ctx)
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// RunDue runs every enabled policy that is due (its interval has passed
// since its last run started, or its cron time has come since), and
// returns how many it ran.
func (s *Scheduler) RunDue(ctx context.Context) int {
	pols, err := s.runner.store.ListRetentionPolicies(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "listing retention policies", slog.Any("err", err))
		}
		return 0
	}
	ran := 0
	for _, p := range pols {
		if ctx.Err() != nil {
			return ran
		}
		sched, err := schedule.Parse(p.Schedule)
		if !p.Enabled || sched.IsZero() || err != nil {
			continue
		}
		last, err := s.lastRun(ctx, p.Name)
		if err != nil {
			s.log.ErrorContext(ctx, "reading retention runs", slog.String("policy", p.Name), slog.Any("err", err))
			continue
		}
		// A cron schedule never run fires at its first time after the
		// policy was stored; an interval never run fires at once.
		now := s.runner.opts.Now()
		if !sched.Due(last, p.Updated, now) {
			continue
		}
		s.last[p.Name] = now
		ran++
		rep, err := s.runner.Run(ctx, p.Name, false)
		if rep != nil {
			s.last[p.Name] = rep.Run.Started
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			s.log.ErrorContext(ctx, "scheduled retention run", slog.String("policy", p.Name), slog.Any("err", err))
		}
	}
	return ran
}

// historyScan bounds how far back lastRun looks past dry runs.
const historyScan = 100

func (s *Scheduler) lastRun(ctx context.Context, name string) (time.Time, error) {
	if t, ok := s.last[name]; ok {
		return t, nil
	}
	runs, err := s.runner.store.RetentionRuns(ctx, name, historyScan)
	if err != nil {
		return time.Time{}, err
	}
	var last time.Time
	for _, r := range runs {
		if !r.DryRun {
			last = r.Started
			break
		}
	}
	s.last[name] = last
	return last, nil
}

// Declared is a policy declared in the configuration file.
type Declared struct {
	Name     string
	Schedule string
	Enabled  bool
	Policy   retention.Policy
}

// Upsert validates declared policies and stores them, replacing stored
// policies of the same names; the others are left alone.
func Upsert(ctx context.Context, store metadata.RetentionPolicies, ds []Declared) error {
	for _, d := range ds {
		if err := Validate(d.Name, d.Schedule, &d.Policy); err != nil {
			return err
		}
		d.Policy.Name = ""
		raw, err := encode(&d.Policy)
		if err != nil {
			return err
		}
		if err := store.PutRetentionPolicy(metadata.WithActor(ctx, "berth:config"),
			metadata.RetentionPolicy{Name: d.Name, Policy: raw, Schedule: d.Schedule, Enabled: d.Enabled}); err != nil {
			return err
		}
	}
	return nil
}
