// Package guard decides whether locks and immutability rules forbid an
// operation: deleting or moving a tag, deleting a manifest, pushing into a
// repository, pulling. The registry and retention's in-process deleter both
// ask it, so the paths cannot disagree.
package guard

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// ErrDenied is matched by every refusal; the HTTP edge maps it to 403 DENIED.
var ErrDenied = errors.New("denied")

// Denied is a refusal; its text names the lock or rule.
type Denied struct{ Reason string }

func (d *Denied) Error() string { return d.Reason }

// Is makes errors.Is(err, ErrDenied) hold for every refusal.
func (d *Denied) Is(target error) bool { return target == ErrDenied }

func deny(format string, args ...any) error {
	return &Denied{Reason: fmt.Sprintf(format, args...)}
}

// LockLister reads the locks of a repository.
type LockLister interface {
	ListLocks(ctx context.Context, repo string) ([]metadata.Lock, error)
}

// Reader is what Load reads; metadata.Store satisfies it.
type Reader interface {
	LockLister
	ListImmutableRules(ctx context.Context) ([]metadata.ImmutableRule, error)
}

// Locks are the locks of one repository and the immutability rules that
// apply to it, as read at one moment.
type Locks struct {
	repoName string
	repo     *metadata.Lock
	tags     map[string]metadata.Lock
	digests  map[digest.Digest]metadata.Lock
	rules    []rule
}

type rule struct {
	metadata.ImmutableRule
	tags *regexp.Regexp
}

// LoadLocks reads the locks of repo only: enough for pulls, which no
// immutability rule concerns.
func LoadLocks(ctx context.Context, r LockLister, repo string) (*Locks, error) {
	all, err := r.ListLocks(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("reading locks of %s: %w", repo, err)
	}
	return newLocks(repo, all), nil
}

func newLocks(repo string, all []metadata.Lock) *Locks {
	ls := &Locks{repoName: repo, tags: map[string]metadata.Lock{}, digests: map[digest.Digest]metadata.Lock{}}
	for _, l := range all {
		if l.Repo != repo {
			continue
		}
		switch {
		case l.Tag != "":
			ls.tags[l.Tag] = l
		case l.Digest != "":
			ls.digests[l.Digest] = l
		default:
			ls.repo = &l
		}
	}
	return ls
}

// Load reads the locks of repo and the immutability rules matching it.
func Load(ctx context.Context, r Reader, repo string) (*Locks, error) {
	ls, err := LoadLocks(ctx, r, repo)
	if err != nil {
		return nil, err
	}
	rules, err := r.ListImmutableRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading immutability rules: %w", err)
	}
	ls.rules = matching(compileRules(rules), repo)
	return ls, nil
}

// Snapshot is every lock and rule as read at one moment, for callers that
// decide over many repositories (a retention plan) or that read the rows
// inside their own transaction (a deletion that must not miss a lock set
// just before it commits).
type Snapshot struct {
	locks map[string][]metadata.Lock
	rules []compiledRule
}

type compiledRule struct {
	rule
	repos *regexp.Regexp
}

// NewSnapshot indexes locks (of any repositories) and rules.
func NewSnapshot(locks []metadata.Lock, rules []metadata.ImmutableRule) *Snapshot {
	s := &Snapshot{locks: make(map[string][]metadata.Lock), rules: compileRules(rules)}
	for _, l := range locks {
		s.locks[l.Repo] = append(s.locks[l.Repo], l)
	}
	return s
}

// LoadSnapshot reads every lock and rule.
func LoadSnapshot(ctx context.Context, r Reader) (*Snapshot, error) {
	locks, err := r.ListLocks(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("reading locks: %w", err)
	}
	rules, err := r.ListImmutableRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading immutability rules: %w", err)
	}
	return NewSnapshot(locks, rules), nil
}

// For returns the locks of repo and the rules matching it.
func (s *Snapshot) For(repo string) *Locks {
	ls := newLocks(repo, s.locks[repo])
	ls.rules = matching(s.rules, repo)
	return ls
}

func compileRules(rules []metadata.ImmutableRule) []compiledRule {
	out := make([]compiledRule, 0, len(rules))
	for _, ir := range rules {
		// Patterns were validated when stored; one that no longer
		// compiles protects nothing rather than blocking every delete.
		reRepo, err1 := regexp.Compile(`^(?:` + ir.Repos + `)$`)
		reTag, err2 := regexp.Compile(`^(?:` + ir.Tags + `)$`)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, compiledRule{rule{ir, reTag}, reRepo})
	}
	return out
}

func matching(rules []compiledRule, repo string) []rule {
	var out []rule
	for _, r := range rules {
		if r.repos.MatchString(repo) {
			out = append(out, r.rule)
		}
	}
	return out
}

// CheckDelete refuses deleting tags (and the manifest d, when set) if a
// lock on the repository, the digest or one of the tags, or an
// immutability rule over the tags, forbids it.
func (ls *Locks) CheckDelete(tags []string, d digest.Digest) error {
	if err := ls.CheckRepoDelete(); err != nil {
		return err
	}
	if l, ok := ls.digests[d]; ok && d != "" {
		if err := deleteLocked(l, "manifest "+ls.repoName+"@"+d.String()); err != nil {
			return err
		}
	}
	for _, t := range tags {
		if l, ok := ls.tags[t]; ok {
			if err := deleteLocked(l, "tag "+ls.repoName+":"+t); err != nil {
				return err
			}
		}
	}
	return ls.CheckImmutable(tags)
}

// CheckRepoDelete refuses any deletion in a repository locked against it,
// unlinking a blob included.
func (ls *Locks) CheckRepoDelete() error {
	if ls.repo == nil {
		return nil
	}
	return deleteLocked(*ls.repo, "repository "+ls.repoName)
}

// CheckRepoWrite refuses any push into a write-locked repository.
func (ls *Locks) CheckRepoWrite() error {
	if ls.repo != nil && !ls.repo.WriteEnabled {
		return deny("repository %s is locked (write-enabled=false)", ls.repoName)
	}
	return nil
}

// CheckMove refuses moving tag away from the manifest from when the tag or
// that manifest is write-locked. Immutability is CheckImmutable's.
func (ls *Locks) CheckMove(tag string, from digest.Digest) error {
	if l, ok := ls.tags[tag]; ok && !l.WriteEnabled {
		return deny("tag %s:%s is locked (write-enabled=false)", ls.repoName, tag)
	}
	if l, ok := ls.digests[from]; ok && !l.WriteEnabled {
		return deny("manifest %s@%s is locked (write-enabled=false); its tag %s cannot move", ls.repoName, from, tag)
	}
	return nil
}

// CheckImmutable refuses changing any of tags that an immutability rule
// covers.
func (ls *Locks) CheckImmutable(tags []string) error {
	for _, r := range ls.rules {
		for _, t := range tags {
			if r.tags.MatchString(t) {
				return deny("tag %s:%s is immutable (rule %d: repositories %q, tags %q)", ls.repoName, t, r.ID, r.Repos, r.ImmutableRule.Tags)
			}
		}
	}
	return nil
}

// CheckRead refuses a pull of the manifest d, asked for by tag ("" for a
// pull by digest), that a read lock forbids.
func (ls *Locks) CheckRead(tag string, d digest.Digest) error {
	if err := ls.CheckRepoRead(); err != nil {
		return err
	}
	if l, ok := ls.tags[tag]; ok && tag != "" && !l.ReadEnabled {
		return deny("tag %s:%s is locked (read-enabled=false)", ls.repoName, tag)
	}
	if l, ok := ls.digests[d]; ok && !l.ReadEnabled {
		return deny("manifest %s@%s is locked (read-enabled=false)", ls.repoName, d)
	}
	return nil
}

// CheckRepoRead refuses reading anything of a read-locked repository.
func (ls *Locks) CheckRepoRead() error {
	if ls.repo != nil && !ls.repo.ReadEnabled {
		return deny("repository %s is locked (read-enabled=false)", ls.repoName)
	}
	return nil
}

func deleteLocked(l metadata.Lock, what string) error {
	switch {
	case !l.WriteEnabled:
		return deny("%s is locked (write-enabled=false)", what)
	case !l.DeleteEnabled:
		return deny("%s is locked (delete-enabled=false)", what)
	}
	return nil
}
