package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
)

// DefaultConcurrency is how many deletions Apply runs at once when
// ApplyOptions.Concurrency is 0.
const DefaultConcurrency = 4

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Concurrency bounds deletions in flight; 0 means DefaultConcurrency.
	Concurrency int
	// DryRun performs the re-checks, which only read, and reports what
	// would be deleted without calling the Deleter.
	DryRun bool
	// Observe, if set, is called once per outcome as it happens, one call
	// at a time, for progress and events.
	Observe func(Outcome)
}

// Kind says whether an Outcome is about a tag or a manifest.
type Kind string

// Kinds of Outcome.
const (
	KindTag      Kind = "tag"
	KindManifest Kind = "manifest"
)

// Outcome is what happened to one planned deletion.
type Outcome struct {
	Kind   Kind          `json:"kind"`
	Repo   string        `json:"repository"`
	Tag    string        `json:"tag,omitempty"`
	Digest digest.Digest `json:"digest"`
	// Reason is the plan's reason for a deletion, or why it was skipped.
	Reason string `json:"reason"`
	Err    error  `json:"-"`
	Error  string `json:"error,omitempty"`
}

// Result sums up an Apply run. Each list is sorted by repository, kind,
// then tag or digest.
type Result struct {
	DryRun bool `json:"dryRun,omitempty"`
	// Deleted includes what was already gone: a rerun finishes the job.
	Deleted []Outcome `json:"deleted"`
	Skipped []Outcome `json:"skipped"`
	Failed  []Outcome `json:"failed"`
}

// Apply deletes what p plans to delete: tags first, then manifests wave by
// wave. Just before deleting a tag it re-reads it and skips it if its digest
// or push time differ from the plan's; just before deleting a manifest it
// skips it if any tag points at it. A manifest whose planned tags were not
// all deleted is kept, and so are the children and referrers the plan would
// have deleted with it. When ctx ends, Apply stops starting deletions,
// records the rest as skipped and returns the partial Result with ctx's
// error.
func Apply(ctx context.Context, p *Plan, del Deleter, check Checker, opts ApplyOptions) (*Result, error) {
	if check == nil || (del == nil && !opts.DryRun) {
		return nil, errors.New("applying plan: a Checker and, unless dry run, a Deleter are required")
	}
	a := &applier{del: del, check: check, opts: opts, res: &Result{DryRun: opts.DryRun}}
	if a.opts.Concurrency <= 0 {
		a.opts.Concurrency = DefaultConcurrency
	}

	type tagItem struct {
		repo string
		tag  Tag
		why  string
	}
	var tags []tagItem
	for _, r := range p.Repositories {
		for _, t := range r.Tags {
			if t.Delete {
				tags = append(tags, tagItem{r.Name, t.Tag, t.Reason})
			}
		}
	}
	// blocked[repo][digest] says why a planned manifest deletion is off.
	blocked := make(map[string]map[digest.Digest]string)
	var mu sync.Mutex
	// block records why d stays; false if it was already blocked, which
	// also stops spreading around a reference cycle.
	block := func(repo string, d digest.Digest, why string) bool {
		mu.Lock()
		defer mu.Unlock()
		if blocked[repo] == nil {
			blocked[repo] = make(map[digest.Digest]string)
		}
		if _, ok := blocked[repo][d]; ok {
			return false
		}
		blocked[repo][d] = why
		return true
	}
	isBlocked := func(repo string, d digest.Digest) bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := blocked[repo][d]
		return ok
	}
	interrupted := a.forEach(ctx, len(tags), func(i int) {
		it := tags[i]
		if !a.deleteTag(ctx, it.repo, it.tag, it.why) {
			block(it.repo, it.tag.Digest, fmt.Sprintf("tag %s was not deleted", it.tag.Name))
		}
	})
	for _, i := range interrupted {
		it := tags[i]
		a.record(&a.res.Skipped, Outcome{Kind: KindTag, Repo: it.repo, Tag: it.tag.Name, Digest: it.tag.Digest, Reason: "interrupted"})
		block(it.repo, it.tag.Digest, "interrupted")
	}

	type manifestItem struct {
		repo string
		ms   []ManifestPlan
		i    int
		g    *graph
	}
	var waves [][]manifestItem
	graphs := make(map[string]*graph)
	for ri := range p.Repositories {
		r := &p.Repositories[ri]
		for mi, m := range r.Manifests {
			if !m.Delete {
				continue
			}
			g := graphs[r.Name]
			if g == nil {
				g = newGraph(r.Manifests)
				graphs[r.Name] = g
			}
			w := max(m.Wave, 0)
			for len(waves) <= w {
				waves = append(waves, nil)
			}
			waves[w] = append(waves[w], manifestItem{r.Name, r.Manifests, mi, g})
		}
	}
	// A kept manifest keeps what the plan would have deleted with it:
	// its children and its referrers, transitively.
	var spread func(repo string, g *graph, ms []ManifestPlan, i int)
	spread = func(repo string, g *graph, ms []ManifestPlan, i int) {
		for _, next := range []struct {
			role string
			js   []int
		}{{"index", g.children[i]}, {"subject", g.referrers[i]}} {
			for _, j := range next.js {
				if ms[j].Delete && block(repo, ms[j].Digest, fmt.Sprintf("%s %s was not deleted", next.role, ShortDigest(ms[i].Digest))) {
					spread(repo, g, ms, j)
				}
			}
		}
	}
	for _, wave := range waves {
		for _, it := range wave {
			if isBlocked(it.repo, it.ms[it.i].Digest) {
				spread(it.repo, it.g, it.ms, it.i)
			}
		}
	}
	for _, wave := range waves {
		interrupted := a.forEach(ctx, len(wave), func(i int) {
			it := wave[i]
			m := &it.ms[it.i]
			mu.Lock()
			why, blockedNow := blocked[it.repo][m.Digest]
			mu.Unlock()
			if blockedNow {
				a.record(&a.res.Skipped, manifestOutcome(it.repo, m, why))
				return
			}
			if !a.deleteManifest(ctx, it.repo, m) {
				block(it.repo, m.Digest, "not deleted")
				spread(it.repo, it.g, it.ms, it.i)
			}
		})
		for _, i := range interrupted {
			it := wave[i]
			a.record(&a.res.Skipped, manifestOutcome(it.repo, &it.ms[it.i], "interrupted"))
		}
	}
	a.res.sort()
	if err := ctx.Err(); err != nil {
		return a.res, fmt.Errorf("applying plan: %w", err)
	}
	return a.res, nil
}

type applier struct {
	del   Deleter
	check Checker
	opts  ApplyOptions
	mu    sync.Mutex
	res   *Result
}

func (a *applier) record(list *[]Outcome, o Outcome) {
	if o.Err != nil {
		o.Error = o.Err.Error()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	*list = append(*list, o)
	if a.opts.Observe != nil {
		a.opts.Observe(o)
	}
}

// deleteTag re-checks and deletes one tag; true if the tag is gone (or
// would be, in a dry run).
func (a *applier) deleteTag(ctx context.Context, repo string, planned Tag, why string) bool {
	o := Outcome{Kind: KindTag, Repo: repo, Tag: planned.Name, Digest: planned.Digest, Reason: why}
	cur, err := a.check.Tag(ctx, repo, planned.Name)
	switch {
	case errors.Is(err, ErrNotFound):
		o.Reason = "already gone"
		a.record(&a.res.Deleted, o)
		return true
	case err != nil:
		o.Err = fmt.Errorf("re-checking tag %s:%s: %w", repo, planned.Name, err)
		a.record(&a.res.Failed, o)
		return false
	case cur.Digest != planned.Digest || !cur.PushedAt.Equal(planned.PushedAt):
		o.Reason = fmt.Sprintf("changed since plan: now %s pushed %s", ShortDigest(cur.Digest), cur.PushedAt.UTC().Format("2006-01-02T15:04:05Z"))
		a.record(&a.res.Skipped, o)
		return false
	case cur.Locked:
		o.Reason = "locked since plan"
		a.record(&a.res.Skipped, o)
		return false
	}
	return a.finish(o, "tag "+repo+":"+planned.Name, func() error {
		if cd, ok := a.del.(CheckedDeleter); ok {
			return cd.DeleteTagAt(ctx, repo, planned.Name, planned.Digest)
		}
		return a.del.DeleteTag(ctx, repo, planned.Name)
	})
}

// deleteManifest re-checks and deletes one manifest; true if it is gone.
func (a *applier) deleteManifest(ctx context.Context, repo string, m *ManifestPlan) bool {
	o := manifestOutcome(repo, m, m.Reason)
	tags, err := a.check.ManifestTags(ctx, repo, m.Digest)
	if a.opts.DryRun && err == nil {
		// The dry run deleted no tags, so those the plan deletes are still
		// there; only a tag the plan did not see is news.
		tags = slices.DeleteFunc(tags, func(t string) bool { return slices.Contains(m.Tags, t) })
	}
	switch {
	case errors.Is(err, ErrNotFound):
		o.Reason = "already gone"
		a.record(&a.res.Deleted, o)
		return true
	case err != nil:
		o.Err = fmt.Errorf("re-checking manifest %s@%s: %w", repo, m.Digest, err)
		a.record(&a.res.Failed, o)
		return false
	case len(tags) > 0:
		slices.Sort(tags)
		o.Reason = "tagged since plan: " + strings.Join(tags, ", ")
		a.record(&a.res.Skipped, o)
		return false
	}
	return a.finish(o, "manifest "+repo+"@"+m.Digest.String(), func() error { return a.del.DeleteManifest(ctx, repo, m.Digest) })
}

// finish deletes through del, unless this is a dry run, and records the
// outcome; something already gone counts as deleted, something changed or
// locked after the re-check as skipped.
func (a *applier) finish(o Outcome, what string, del func() error) bool {
	if !a.opts.DryRun {
		switch err := del(); {
		case errors.Is(err, ErrNotFound):
			o.Reason = "already gone"
		case errors.Is(err, ErrChanged), errors.Is(err, ErrLocked):
			o.Reason, o.Err = err.Error(), nil
			a.record(&a.res.Skipped, o)
			return false
		case err != nil:
			o.Err = fmt.Errorf("deleting %s: %w", what, err)
			a.record(&a.res.Failed, o)
			return false
		}
	}
	a.record(&a.res.Deleted, o)
	return true
}

// forEach runs fn over 0..n-1 on the applier's workers and returns the
// indexes it never started because ctx ended.
func (a *applier) forEach(ctx context.Context, n int, fn func(i int)) []int {
	started := make([]bool, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(a.opts.Concurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				started[i] = true
				fn(i)
			}
		})
	}
	wg.Wait()
	var rest []int
	for i, s := range started {
		if !s {
			rest = append(rest, i)
		}
	}
	return rest
}

func manifestOutcome(repo string, m *ManifestPlan, why string) Outcome {
	return Outcome{Kind: KindManifest, Repo: repo, Digest: m.Digest, Reason: why}
}

func (r *Result) sort() {
	for _, l := range [][]Outcome{r.Deleted, r.Skipped, r.Failed} {
		slices.SortFunc(l, func(a, b Outcome) int {
			return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Tag, b.Tag), cmp.Compare(a.Digest, b.Digest))
		})
	}
}
