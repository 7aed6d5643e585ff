package retention

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// memSource is an in-memory registry: the fixture every test plans against
// and applies to. It counts deletions so that tests can prove a dry run
// called nothing.
type memSource struct {
	mu      sync.Mutex
	repos   map[string]*memRepo
	deletes int
	// onCheck, if set, runs before Tag answers: the hook a test uses to
	// move a tag between plan and deletion.
	onCheck func(repo, tag string)
}

type memRepo struct {
	tags      map[string]Tag
	manifests map[digest.Digest]Manifest
}

var (
	_ Source  = (*memSource)(nil)
	_ Deleter = (*memSource)(nil)
	_ Checker = (*memSource)(nil)
)

func newMem() *memSource { return &memSource{repos: make(map[string]*memRepo)} }

func (s *memSource) repo(name string) *memRepo {
	r := s.repos[name]
	if r == nil {
		r = &memRepo{tags: make(map[string]Tag), manifests: make(map[digest.Digest]Manifest)}
		s.repos[name] = r
	}
	return r
}

// put adds a manifest and points tags at it, all pushed at the manifest's time.
func (s *memSource) put(repo string, m Manifest, tags ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(repo)
	r.manifests[m.Digest] = m
	for _, t := range tags {
		r.tags[t] = Tag{Name: t, Digest: m.Digest, PushedAt: m.PushedAt}
	}
}

func (s *memSource) setTag(repo string, t Tag) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repo(repo).tags[t.Name] = t
}

func (s *memSource) Repositories(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.repos)), nil
}

func (s *memSource) Tags(_ context.Context, repo string) ([]Tag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return nil, fmt.Errorf("repository %s: %w", repo, ErrNotFound)
	}
	return slices.Collect(maps.Values(r.tags)), nil
}

func (s *memSource) Manifests(_ context.Context, repo string) ([]Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return nil, fmt.Errorf("repository %s: %w", repo, ErrNotFound)
	}
	return slices.Collect(maps.Values(r.manifests)), nil
}

func (s *memSource) Tag(_ context.Context, repo, name string) (Tag, error) {
	if s.onCheck != nil {
		s.onCheck(repo, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.repos[repo]; ok {
		if t, ok := r.tags[name]; ok {
			return t, nil
		}
	}
	return Tag{}, fmt.Errorf("tag %s:%s: %w", repo, name, ErrNotFound)
}

func (s *memSource) ManifestTags(_ context.Context, repo string, d digest.Digest) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[repo]
	if !ok {
		return nil, fmt.Errorf("repository %s: %w", repo, ErrNotFound)
	}
	if _, ok := r.manifests[d]; !ok {
		return nil, fmt.Errorf("manifest %s@%s: %w", repo, d, ErrNotFound)
	}
	var names []string
	for _, t := range r.tags {
		if t.Digest == d {
			names = append(names, t.Name)
		}
	}
	return names, nil
}

func (s *memSource) DeleteTag(_ context.Context, repo, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletes++
	r, ok := s.repos[repo]
	if !ok {
		return ErrNotFound
	}
	if _, ok := r.tags[name]; !ok {
		return ErrNotFound
	}
	delete(r.tags, name)
	return nil
}

// DeleteManifest refuses a tagged manifest, as a careful backend should.
func (s *memSource) DeleteManifest(_ context.Context, repo string, d digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletes++
	r, ok := s.repos[repo]
	if !ok {
		return ErrNotFound
	}
	if _, ok := r.manifests[d]; !ok {
		return ErrNotFound
	}
	for _, t := range r.tags {
		if t.Digest == d {
			return fmt.Errorf("manifest %s is tagged %s", d, t.Name)
		}
	}
	delete(r.manifests, d)
	return nil
}

// state is a comparable snapshot: repo → sorted "tag=digest@time" and digests.
func (s *memSource) state() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]string)
	for name, r := range s.repos {
		var l []string
		for _, t := range r.tags {
			l = append(l, fmt.Sprintf("tag %s=%s@%d", t.Name, t.Digest, t.PushedAt.UnixNano()))
		}
		for d := range r.manifests {
			l = append(l, "manifest "+string(d))
		}
		slices.Sort(l)
		out[name] = l
	}
	return out
}

// dg makes a readable fake digest: dg("a") is sha256:a000…
func dg(name string) digest.Digest {
	h := fmt.Sprintf("%x", name)
	for len(h) < 64 {
		h += "0"
	}
	return digest.Digest("sha256:" + h[:64])
}

// t0 is the plan instant of every test.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return t0.Add(-d) }

func dur(s string) *Duration {
	d, err := ParseDuration(s)
	if err != nil {
		panic(err) // test literals only
	}
	return &d
}

func intp(n int) *int { return &n }
