package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// Rule is the stable, machine-readable name of what decided an item; the
// Reason next to it is the human sentence.
type Rule string

// Rules that decide tags.
const (
	RuleUnselected    Rule = "unselected"
	RuleLocked        Rule = "locked"
	RuleKeep          Rule = "keep"
	RulePulledWithin  Rule = "pulledWithin"
	RuleOlderThan     Rule = "olderThan"
	RuleMaxTags       Rule = "maxTags"
	RuleNoDeleteMatch Rule = "noDeleteRule"
)

// Rules that decide manifests (RuleLocked and RulePulledWithin too).
const (
	RuleTagged            Rule = "tagged"
	RuleTagsDeleted       Rule = "tagsDeleted"
	RuleUntaggedOlderThan Rule = "untaggedOlderThan"
	RuleUntagged          Rule = "untagged"
	RuleChild             Rule = "child"
	RuleReferrer          Rule = "referrer"
)

// Decision is the verdict on one tag or manifest.
type Decision struct {
	Delete bool   `json:"delete"`
	Rule   Rule   `json:"rule"`
	Reason string `json:"reason"`
}

func kept(r Rule, format string, args ...any) Decision {
	return Decision{Rule: r, Reason: "kept: " + fmt.Sprintf(format, args...)}
}

func deleted(r Rule, format string, args ...any) Decision {
	return Decision{Delete: true, Rule: r, Reason: "deleted: " + fmt.Sprintf(format, args...)}
}

// TagPlan is a tag and its verdict.
type TagPlan struct {
	Tag
	Decision
}

// ManifestPlan is a manifest and its verdict.
type ManifestPlan struct {
	Manifest
	// Tags are the tags that pointed at the manifest when planned.
	Tags []string `json:"tags,omitempty"`
	Decision
	// Wave orders deletions: an index before its children and a referrer
	// before its subject, so that no live manifest ever points at a
	// missing one. Apply deletes wave 0 first.
	Wave int `json:"wave,omitempty"`
}

// RepoPlan is the plan for one repository.
type RepoPlan struct {
	Name string `json:"name"`
	// Tags are newest first; Manifests are newest first.
	Tags      []TagPlan      `json:"tags"`
	Manifests []ManifestPlan `json:"manifests"`
	// BytesFreed estimates the bytes deleted manifests free in this
	// repository: their own size plus blobs no kept manifest here uses.
	// Blobs shared with other repositories make it an upper bound.
	BytesFreed int64 `json:"bytesFreed"`
}

// Summary counts a plan.
type Summary struct {
	Repositories     int   `json:"repositories"`
	TagsKept         int   `json:"tagsKept"`
	TagsDeleted      int   `json:"tagsDeleted"`
	ManifestsKept    int   `json:"manifestsKept"`
	ManifestsDeleted int   `json:"manifestsDeleted"`
	BytesFreed       int64 `json:"bytesFreed"`
}

// Plan is every verdict of one policy at one instant.
type Plan struct {
	Policy       string     `json:"policy,omitempty"`
	Now          time.Time  `json:"now"`
	Repositories []RepoPlan `json:"repositories"`
	Summary      Summary    `json:"summary"`
}

// planConcurrency bounds how many repositories are read at once; remote
// registries answer slowly, one repository at a time would take minutes.
const planConcurrency = 8

// BuildPlan evaluates policy over every repository of src it selects, as of
// now. It changes nothing. Repositories that vanish while planning are left
// out.
func BuildPlan(ctx context.Context, src Source, policy *Policy, now time.Time) (*Plan, error) {
	c, err := policy.compile()
	if err != nil {
		return nil, err
	}
	var repos []*RepoPlan
	if snap, ok := src.(Snapshotter); ok {
		repos, err = planSnapshot(ctx, snap, c, now)
	} else {
		repos, err = planEach(ctx, src, c, now)
	}
	if err != nil {
		return nil, err
	}

	p := &Plan{Policy: policy.Name, Now: now, Repositories: make([]RepoPlan, 0, len(repos))}
	for _, rp := range repos {
		if rp == nil {
			continue
		}
		p.Repositories = append(p.Repositories, *rp)
		p.Summary.add(rp)
	}
	return p, nil
}

// planEach reads the selected repositories of src, several at a time.
func planEach(ctx context.Context, src Source, c *compiled, now time.Time) ([]*RepoPlan, error) {
	names, err := src.Repositories(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing repositories: %w", err)
	}
	selected := make([]string, 0, len(names))
	for _, n := range names {
		if c.repos.match(n) {
			selected = append(selected, n)
		}
	}
	slices.Sort(selected)
	selected = slices.Compact(selected)
	repos := make([]*RepoPlan, len(selected))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(planConcurrency, len(selected)) {
		wg.Go(func() {
			for i := range next {
				rp, err := planRepo(ctx, src, c, selected[i], now)
				if err != nil {
					cancel(err)
					continue
				}
				repos[i] = rp
			}
		})
	}
feed:
	for i := range selected {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return repos, nil
}

// planSnapshot evaluates the repositories snap streams, on planConcurrency
// workers while the snapshot is still being read.
func planSnapshot(ctx context.Context, snap Snapshotter, c *compiled, now time.Time) ([]*RepoPlan, error) {
	type job struct {
		i         int
		repo      string
		tags      []Tag
		manifests []Manifest
	}
	var (
		repos []*RepoPlan
		mu    sync.Mutex
		wg    sync.WaitGroup
	)
	jobs := make(chan job, planConcurrency)
	for range planConcurrency {
		wg.Go(func() {
			for j := range jobs {
				rp := evaluate(c, j.repo, j.tags, j.manifests, now)
				mu.Lock()
				repos[j.i] = rp
				mu.Unlock()
			}
		})
	}
	n := 0
	err := snap.EachRepository(ctx, func(repo string, tags []Tag, manifests []Manifest) error {
		if !c.repos.match(repo) {
			return nil
		}
		mu.Lock()
		repos = append(repos, nil)
		mu.Unlock()
		select {
		case jobs <- job{n, repo, tags, manifests}:
		case <-ctx.Done():
			return ctx.Err()
		}
		n++
		return nil
	})
	close(jobs)
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("reading repositories: %w", err)
	}
	return repos, nil
}

func (s *Summary) add(rp *RepoPlan) {
	s.Repositories++
	for _, t := range rp.Tags {
		if t.Delete {
			s.TagsDeleted++
		} else {
			s.TagsKept++
		}
	}
	for _, m := range rp.Manifests {
		if m.Delete {
			s.ManifestsDeleted++
		} else {
			s.ManifestsKept++
		}
	}
	s.BytesFreed += rp.BytesFreed
}

// planRepo reads one repository and evaluates it; nil, nil if it is gone.
func planRepo(ctx context.Context, src Source, c *compiled, repo string, now time.Time) (*RepoPlan, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tags, err := src.Tags(ctx, repo)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("repository %q: listing tags: %w", repo, err)
	}
	manifests, err := src.Manifests(ctx, repo)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("repository %q: listing manifests: %w", repo, err)
	}
	return evaluate(c, repo, tags, manifests, now), nil
}

// evaluate is the whole decision for one repository, free of I/O.
func evaluate(c *compiled, repo string, tags []Tag, manifests []Manifest, now time.Time) *RepoPlan {
	rp := &RepoPlan{Name: repo, Tags: make([]TagPlan, len(tags)), Manifests: make([]ManifestPlan, len(manifests))}
	// Sorting a permutation moves ints instead of large structs, and
	// leaves the Source's slices alone.
	for i, j := range sortedOrder(len(tags), func(a, b int) int {
		return cmp.Or(tags[b].PushedAt.Compare(tags[a].PushedAt), cmp.Compare(tags[a].Name, tags[b].Name))
	}) {
		rp.Tags[i].Tag = tags[j]
	}
	for i, j := range sortedOrder(len(manifests), func(a, b int) int {
		return cmp.Or(manifests[b].PushedAt.Compare(manifests[a].PushedAt), cmp.Compare(manifests[a].Digest, manifests[b].Digest))
	}) {
		rp.Manifests[i].Manifest = manifests[j]
	}
	// A Source listing a digest twice would make the graph ambiguous; the
	// newest entry wins and the rest are dropped.
	rp.Manifests = slices.CompactFunc(rp.Manifests, func(a, b ManifestPlan) bool { return a.Digest == b.Digest })
	g := newGraph(rp.Manifests)

	decideTags(c, rp.Tags, g, now)
	for _, t := range rp.Tags {
		if i, ok := g.index[t.Digest]; ok {
			rp.Manifests[i].Tags = append(rp.Manifests[i].Tags, t.Name)
		}
	}
	decideManifests(c, rp, g, now)
	rp.BytesFreed = bytesFreed(rp.Manifests)
	return rp
}

func sortedOrder(n int, cmp func(a, b int) int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, cmp)
	return order
}

func decideTags(c *compiled, tags []TagPlan, g *graph, now time.Time) {
	r := &c.reasons
	rank := 0
	for i := range tags {
		t := &tags[i]
		if !c.tags.match(t.Name) {
			t.Decision = kept(RuleUnselected, "not selected")
			continue
		}
		n := rank
		rank++
		older := c.OlderThan != nil && now.Sub(t.PushedAt) >= time.Duration(*c.OlderThan)
		beyond := c.MaxTags != nil && n >= *c.MaxTags
		switch {
		case t.Locked:
			t.Decision = r.locked
		case g.locked(t.Digest):
			t.Decision = r.manifestLocked
		case n < c.Keep:
			t.Decision = r.newest
		case pulledWithin(c.PulledWithin, t.LastPulledAt, now):
			t.Decision = kept(RulePulledWithin, "pulled %s ago", age(now.Sub(t.LastPulledAt)))
		case older:
			t.Decision = r.olderThan
		case beyond:
			t.Decision = r.beyondMax
		default:
			t.Decision = r.noDelete
		}
	}
}

// reasons are the decisions that do not depend on the item, built once per
// plan: 100,000 tags must not mean 100,000 Sprintf calls.
type reasons struct {
	locked, manifestLocked, newest, olderThan, beyondMax, noDelete Decision
	noTagLeft, childDeleted, referrerDeleted, untaggedOlder        Decision
	untaggedKept, childKept, referrerKept                          Decision
}

func newReasons(p *Policy) reasons {
	r := reasons{
		locked:          kept(RuleLocked, "locked"),
		manifestLocked:  kept(RuleLocked, "manifest locked"),
		newest:          kept(RuleKeep, "newest %d", p.Keep),
		noDelete:        kept(RuleNoDeleteMatch, "no delete rule"),
		noTagLeft:       deleted(RuleTagsDeleted, "no tag left"),
		childDeleted:    deleted(RuleChild, "child of deleted index"),
		referrerDeleted: deleted(RuleReferrer, "referrer of deleted manifest"),
		untaggedKept:    kept(RuleUntagged, "untagged, no untagged rule"),
		childKept:       kept(RuleChild, "child of kept index"),
		referrerKept:    kept(RuleReferrer, "referrer of kept manifest"),
	}
	if p.MaxTags != nil {
		r.beyondMax = deleted(RuleMaxTags, "beyond max %d tags", *p.MaxTags)
		r.noDelete = kept(RuleNoDeleteMatch, "within max %d tags", *p.MaxTags)
	}
	if p.OlderThan != nil {
		r.olderThan = deleted(RuleOlderThan, "older than %s", *p.OlderThan)
		r.noDelete = kept(RuleNoDeleteMatch, "newer than %s", *p.OlderThan)
	}
	if p.UntaggedOlderThan != nil {
		r.untaggedOlder = deleted(RuleUntaggedOlderThan, "untagged older than %s", *p.UntaggedOlderThan)
		r.untaggedKept = kept(RuleUntagged, "untagged, newer than %s", *p.UntaggedOlderThan)
	}
	return r
}

func pulledWithin(within Duration, last, now time.Time) bool {
	return within > 0 && !last.IsZero() && now.Sub(last) < time.Duration(within)
}

// decideManifests gives every manifest an initial verdict, then spreads
// "kept" from every kept manifest to its children and referrers.
func decideManifests(c *compiled, rp *RepoPlan, g *graph, now time.Time) {
	keptTag := make(map[digest.Digest]string)
	for _, t := range rp.Tags {
		if _, seen := keptTag[t.Digest]; !t.Delete && !seen {
			keptTag[t.Digest] = t.Name
		}
	}
	r := &c.reasons
	ms := rp.Manifests
	live := make([]int, 0, len(ms))
	for i := range ms {
		m := &ms[i]
		if m.Locked {
			m.Decision = r.locked
		} else if name, ok := keptTag[m.Digest]; ok {
			m.Decision = Decision{Rule: RuleTagged, Reason: "kept: tagged " + name}
		} else if pulledWithin(c.PulledWithin, m.LastPulledAt, now) {
			m.Decision = kept(RulePulledWithin, "pulled %s ago", age(now.Sub(m.LastPulledAt)))
		} else if len(m.Tags) > 0 {
			m.Decision = r.noTagLeft
		} else if len(g.parents[i]) > 0 {
			// Untagged and part of an index: it lives or dies with it.
			m.Decision = r.childDeleted
		} else if g.hasSubject(i) {
			m.Decision = r.referrerDeleted
		} else if c.UntaggedOlderThan != nil && now.Sub(m.PushedAt) >= time.Duration(*c.UntaggedOlderThan) {
			m.Decision = r.untaggedOlder
		} else {
			m.Decision = r.untaggedKept
		}
		if !m.Delete {
			live = append(live, i)
		}
	}
	for len(live) > 0 {
		i := live[0]
		live = live[1:]
		for _, ch := range g.children[i] {
			if ms[ch].Delete {
				ms[ch].Decision = r.childKept
				live = append(live, ch)
			}
		}
		for _, ref := range g.referrers[i] {
			if ms[ref].Delete {
				ms[ref].Decision = r.referrerKept
				live = append(live, ref)
			}
		}
	}
	g.assignWaves(ms)
}

// bytesFreed is the size of deleted manifests plus the blobs that only
// deleted manifests of the repository use.
func bytesFreed(ms []ManifestPlan) int64 {
	keptBlobs := make(map[digest.Digest]struct{})
	for _, m := range ms {
		if !m.Delete {
			for _, b := range m.Blobs {
				keptBlobs[b.Digest] = struct{}{}
			}
		}
	}
	var n int64
	counted := make(map[digest.Digest]struct{})
	for _, m := range ms {
		if !m.Delete {
			continue
		}
		n += max(m.Size, 0)
		for _, b := range m.Blobs {
			if _, k := keptBlobs[b.Digest]; k {
				continue
			}
			if _, c := counted[b.Digest]; c {
				continue
			}
			counted[b.Digest] = struct{}{}
			n += max(b.Size, 0)
		}
	}
	return n
}
