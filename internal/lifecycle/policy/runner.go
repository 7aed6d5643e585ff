package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
)

// RunStore is what a Runner needs: the adapter's store plus stored
// policies and their history.
type RunStore interface {
	Store
	metadata.RetentionPolicies
	metadata.RetentionRuns
}

// Options tune a Runner.
type Options struct {
	// Trash sends deletions to the recycle bin (lifecycle.trash_days > 0).
	Trash bool
	// Concurrency bounds deletions in flight; 0 is ApplyConcurrency.
	Concurrency int
	// Logger receives one line per run; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// ApplyConcurrency is how many deletions a run keeps in flight. Tag
// deletions of a repository are group-committed, so this is also about
// the size of a batch; most of each deletion is reads that run in
// parallel.
const ApplyConcurrency = 32

// Runner plans, applies and records stored policies, one run at a time:
// two runs of overlapping policies would race each other's re-checks for
// nothing.
type Runner struct {
	store   RunStore
	adapter *Adapter
	opts    Options
	mu      sync.Mutex
}

// NewRunner returns a runner over store.
func NewRunner(store RunStore, opts Options) *Runner {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = ApplyConcurrency
	}
	return &Runner{store: store, adapter: NewAdapter(store, opts.Trash), opts: opts}
}

// Adapter returns the in-process adapter the runner deletes through.
func (r *Runner) Adapter() *Adapter { return r.adapter }

// Report is what one run did: the recorded summary, the plan and, unless
// dry run, what Apply did.
type Report struct {
	Run    metadata.RetentionRun `json:"run"`
	Plan   *retention.Plan       `json:"plan"`
	Result *retention.Result     `json:"result,omitempty"`
}

// Actor is the actor stamped on the events of a policy's deletions.
func Actor(name string) string { return "policy:" + name }

// Decode parses a stored policy strictly and validates it.
func Decode(name string, raw json.RawMessage) (*retention.Policy, error) {
	var p retention.Policy
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policy %q: %w", name, err)
	}
	p.Name = name
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Run runs the stored policy named name and records the run, also when it
// fails part way. A dry run builds the plan and changes nothing.
func (r *Runner) Run(ctx context.Context, name string, dryRun bool) (*Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stored, err := r.store.RetentionPolicy(ctx, name)
	if err != nil {
		return nil, err
	}
	pol, err := Decode(name, stored.Policy)
	if err != nil {
		return nil, err
	}
	ctx = metadata.WithActor(ctx, Actor(name))
	rep := &Report{Run: metadata.RetentionRun{Policy: name, Started: r.opts.Now(), DryRun: dryRun}}
	runErr := r.execute(ctx, pol, rep)
	rep.Run.Finished = r.opts.Now()
	if runErr != nil {
		rep.Run.Error = runErr.Error()
	}
	// The run is recorded even when ctx ended: an interrupted run is
	// history too.
	id, err := r.store.RecordRetentionRun(context.WithoutCancel(ctx), rep.Run)
	if err != nil {
		return rep, errors.Join(runErr, err)
	}
	rep.Run.ID = id
	r.opts.Logger.InfoContext(ctx, "retention run", slog.String("policy", name), slog.Bool("dry_run", dryRun),
		slog.Int("tags_deleted", rep.Run.TagsDeleted), slog.Int("manifests_deleted", rep.Run.ManifestsDeleted),
		slog.Int("skipped", rep.Run.Skipped), slog.Int("failed", rep.Run.Failed),
		slog.Int64("bytes_freed", rep.Run.BytesFreed), slog.Any("err", runErr))
	return rep, runErr
}

func (r *Runner) execute(ctx context.Context, pol *retention.Policy, rep *Report) error {
	plan, err := retention.BuildPlan(ctx, r.adapter, pol, r.opts.Now())
	if err != nil {
		return err
	}
	rep.Plan = plan
	s := plan.Summary
	rep.Run.TagsKept, rep.Run.ManifestsKept = s.TagsKept, s.ManifestsKept
	if rep.Run.DryRun {
		rep.Run.TagsDeleted, rep.Run.ManifestsDeleted, rep.Run.BytesFreed = s.TagsDeleted, s.ManifestsDeleted, s.BytesFreed
		return nil
	}
	res, err := retention.Apply(ctx, plan, r.adapter, r.adapter, retention.ApplyOptions{Concurrency: r.opts.Concurrency})
	if res != nil {
		rep.Result = res
		summarize(&rep.Run, plan, res)
	}
	return err
}

// summarize counts what Apply did. Bytes freed is the plan's estimate for
// each repository where every planned deletion happened, so a partial run
// never claims more than it freed.
func summarize(run *metadata.RetentionRun, plan *retention.Plan, res *retention.Result) {
	for _, o := range res.Deleted {
		if o.Kind == retention.KindTag {
			run.TagsDeleted++
		} else {
			run.ManifestsDeleted++
		}
	}
	run.Skipped, run.Failed = len(res.Skipped), len(res.Failed)
	incomplete := make(map[string]bool)
	for _, o := range append(append([]retention.Outcome{}, res.Skipped...), res.Failed...) {
		incomplete[o.Repo] = true
	}
	for _, rp := range plan.Repositories {
		if !incomplete[rp.Name] {
			run.BytesFreed += rp.BytesFreed
		}
	}
}
