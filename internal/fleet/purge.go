package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/remote"
)

// MaxConcurrency is the most deletions in flight per registry: ACR's limit.
const MaxConcurrency = 32

// Planner builds a registry's plan from its source.
type Planner func(ctx context.Context, src Source, now time.Time) (*retention.Plan, error)

// PurgeOptions tune one registry's purge.
type PurgeOptions struct {
	DryRun bool
	// AllowCollateral lets a digest deletion take kept tags along.
	AllowCollateral bool
	// UsesAge is true when the policy deletes by age (--ago), which needs
	// usable times; Force goes ahead anyway.
	UsesAge bool
	Force   bool
	// Concurrency bounds deletions in flight, 1 to MaxConcurrency.
	Concurrency int
	// Progress gets a line now and then while deleting; nil is silent.
	Progress io.Writer
}

// Report is what a purge of one registry did.
type Report struct {
	Registry   string            `json:"registry"`
	Kind       string            `json:"kind"`
	Times      string            `json:"times"`
	Mode       remote.DeleteMode `json:"deleteMode"`
	Unusable   int               `json:"unusableTimes,omitempty"`
	Plan       *retention.Plan   `json:"plan,omitempty"`
	Collateral []Collateral      `json:"collateral,omitempty"`
	Result     *retention.Result `json:"result,omitempty"`
	Error      string            `json:"error,omitempty"`
	Err        error             `json:"-"`
}

// ErrCollateral is a refusal to delete tags the plan keeps.
var ErrCollateral = errors.New("deleting by digest would also delete kept tags; rerun with --allow-collateral to delete them too")

// ErrUnusableTimes is a refusal to delete by age without usable times.
var ErrUnusableTimes = errors.New("tag times are unusable (image configs say 1970-01-01 or 0001-01-01, as reproducible builds do), so --ago cannot order them; rerun with --force to go ahead")

// Purge plans and, unless a dry run, applies one registry's purge. The
// report is always returned; Err says why the run stopped short.
func Purge(ctx context.Context, reg *Registry, plan Planner, opts PurgeOptions) *Report {
	rep := &Report{Registry: reg.URL, Kind: reg.Kind, Times: reg.Times, Mode: reg.Mode}
	fail := func(err error) *Report {
		rep.Err, rep.Error = err, err.Error()
		return rep
	}
	p, err := plan(ctx, reg.Source, time.Now().UTC())
	if err != nil {
		return fail(fmt.Errorf("planning: %w", err))
	}
	rep.Plan, rep.Unusable = p, reg.Unusable()
	if reg.Mode == "" && len(p.Repositories) > 0 {
		if err := reg.ResolveMode(ctx, p.Repositories[0].Name); err != nil {
			return fail(err)
		}
		rep.Mode = reg.Mode
	}
	if reg.Mode == remote.DeleteDigest {
		rep.Collateral = ForDigestDeletes(p, opts.AllowCollateral)
	}
	if opts.UsesAge && rep.Unusable > 0 && !opts.Force && p.Summary.TagsDeleted > 0 {
		return fail(fmt.Errorf("%d tags: %w", rep.Unusable, ErrUnusableTimes))
	}
	if len(rep.Collateral) > 0 && !opts.AllowCollateral {
		return fail(fmt.Errorf("%d kept tags: %w", len(rep.Collateral), ErrCollateral))
	}
	if opts.DryRun {
		return rep
	}
	total := p.Summary.TagsDeleted + p.Summary.ManifestsDeleted
	var done atomic.Int64
	var mu sync.Mutex
	last := time.Now()
	observe := func(retention.Outcome) {
		n := done.Add(1)
		if opts.Progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(last) >= time.Second || int(n) == total {
			last = now
			fmt.Fprintf(opts.Progress, "%s: %d/%d deletions done\n", reg.URL, n, total)
		}
	}
	conc := min(max(opts.Concurrency, 1), MaxConcurrency)
	res, err := retention.Apply(ctx, p, reg.Source, reg.Source, retention.ApplyOptions{Concurrency: conc, Observe: observe})
	rep.Result = res
	if err != nil {
		return fail(err)
	}
	if n := len(res.Failed); n > 0 {
		return fail(fmt.Errorf("%d deletions failed", n))
	}
	return rep
}
