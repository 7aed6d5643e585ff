// Package guard decides whether locks and immutability rules forbid
// deleting a tag or a manifest. The registry's DELETE and retention's
// in-process deleter both ask it, so the two paths cannot disagree.
package guard

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// ErrDenied is wrapped by every refusal; the HTTP edge maps it to 403 DENIED.
var ErrDenied = errors.New("denied")

// Reader is what the guard reads; metadata.Store satisfies it.
type Reader interface {
	ListLocks(ctx context.Context, repo string) ([]metadata.Lock, error)
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

// Load reads the locks of repo and the rules matching it.
func Load(ctx context.Context, r Reader, repo string) (*Locks, error) {
	ls := &Locks{repoName: repo, tags: map[string]metadata.Lock{}, digests: map[digest.Digest]metadata.Lock{}}
	all, err := r.ListLocks(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("reading locks of %s: %w", repo, err)
	}
	for _, l := range all {
		switch {
		case l.Tag != "":
			ls.tags[l.Tag] = l
		case l.Digest != "":
			ls.digests[l.Digest] = l
		default:
			ls.repo = &l
		}
	}
	rules, err := r.ListImmutableRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading immutability rules: %w", err)
	}
	for _, ir := range rules {
		// Patterns were validated when stored; one that no longer
		// compiles protects nothing rather than blocking every delete.
		reRepo, err1 := regexp.Compile(`^(?:` + ir.Repos + `)$`)
		reTag, err2 := regexp.Compile(`^(?:` + ir.Tags + `)$`)
		if err1 != nil || err2 != nil || !reRepo.MatchString(repo) {
			continue
		}
		ls.rules = append(ls.rules, rule{ir, reTag})
	}
	return ls, nil
}

// CheckDelete returns an error wrapping ErrDenied, naming the lock or
// rule, if deleting tags (and the manifest d, when set) is forbidden.
func (ls *Locks) CheckDelete(tags []string, d digest.Digest) error {
	if l := ls.repo; l != nil {
		if err := deleteLocked(*l, "repository "+ls.repoName); err != nil {
			return err
		}
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
	for _, r := range ls.rules {
		for _, t := range tags {
			if r.tags.MatchString(t) {
				return fmt.Errorf("%w: tag %s:%s is immutable (rule %d: repositories %q, tags %q)", ErrDenied, ls.repoName, t, r.ID, r.Repos, r.ImmutableRule.Tags)
			}
		}
	}
	return nil
}

func deleteLocked(l metadata.Lock, what string) error {
	switch {
	case !l.WriteEnabled:
		return fmt.Errorf("%w: %s is locked (write-enabled=false)", ErrDenied, what)
	case !l.DeleteEnabled:
		return fmt.Errorf("%w: %s is locked (delete-enabled=false)", ErrDenied, what)
	}
	return nil
}
