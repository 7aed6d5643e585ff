package server

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/lifecycle/policy"
)

// openPolicies stores the policies the configuration declares and returns
// the runner the API and the scheduler share.
func (s *Server) openPolicies(ctx context.Context, store policy.RunStore) (*policy.Runner, error) {
	declared, err := s.cfg.Retention.Policies.List()
	if err != nil {
		return nil, err
	}
	ds := make([]policy.Declared, len(declared))
	for i, d := range declared {
		ds[i] = policy.Declared{Name: d.Name, Schedule: d.Schedule, Enabled: d.IsEnabled(), Policy: d.Policy}
	}
	if err := policy.Upsert(ctx, store, ds); err != nil {
		return nil, fmt.Errorf("storing retention.policies: %w", err)
	}
	return policy.NewRunner(store, policy.Options{Trash: s.cfg.Lifecycle.TrashDays > 0, Logger: s.log}), nil
}

// startPolicies runs due policies every retention.check_interval until ctx
// ends or stop is called; stop interrupts a run in progress and waits for
// it to be recorded.
func (s *Server) startPolicies(ctx context.Context) (stop func()) {
	if s.cfg.Retention.CheckInterval <= 0 || s.policies == nil {
		return func() {}
	}
	return policy.NewScheduler(s.policies, s.cfg.Retention.CheckInterval).Start(ctx)
}
