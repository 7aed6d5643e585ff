package registry

import (
	"context"
	"fmt"
	"regexp"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// Trasher moves deletions into the recycle bin instead of doing them.
type Trasher interface {
	TrashTag(ctx context.Context, repo, tag string) error
	TrashManifest(ctx context.Context, repo string, d digest.Digest) ([]string, error)
}

// LockReader is what lock enforcement reads.
type LockReader interface {
	ListLocks(ctx context.Context, repo string) ([]metadata.Lock, error)
	ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error)
	ListImmutableRules(ctx context.Context) ([]metadata.ImmutableRule, error)
}

// removeTag deletes a tag, into the bin when there is one, if no lock or
// immutability rule forbids it.
func (r *Registry) removeTag(ctx context.Context, repo, tag string) error {
	if err := r.checkDelete(ctx, repo, []string{tag}, ""); err != nil {
		return err
	}
	if r.opts.Trash != nil {
		return r.opts.Trash.TrashTag(ctx, repo, tag)
	}
	return r.opts.Meta.DeleteTag(ctx, repo, tag)
}

// removeManifest deletes a manifest and its tags, into the bin when there
// is one, if no lock on the repository, the digest or any of its tags, and
// no immutability rule over those tags, forbids it.
func (r *Registry) removeManifest(ctx context.Context, repo string, d digest.Digest) error {
	if r.opts.Locks != nil {
		tags, err := r.opts.Locks.ManifestTags(ctx, repo, d)
		if err != nil {
			return err
		}
		if err := r.checkDelete(ctx, repo, tags, d); err != nil {
			return err
		}
	}
	if r.opts.Trash != nil {
		_, err := r.opts.Trash.TrashManifest(ctx, repo, d)
		return err
	}
	_, err := r.opts.Meta.DeleteManifest(ctx, repo, d)
	return err
}

// denied is the 403 every refusal by a lock or rule answers with.
func denied(format string, args ...any) error {
	return oci.Errorf(oci.CodeDenied, format, args...)
}

// lockSet is the locks of one repository, indexed.
type lockSet struct {
	repo    *metadata.Lock
	tags    map[string]metadata.Lock
	digests map[digest.Digest]metadata.Lock
}

func (r *Registry) locksOf(ctx context.Context, repo string) (*lockSet, error) {
	ls := &lockSet{tags: map[string]metadata.Lock{}, digests: map[digest.Digest]metadata.Lock{}}
	if r.opts.Locks == nil {
		return ls, nil
	}
	all, err := r.opts.Locks.ListLocks(ctx, repo)
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
	return ls, nil
}

// immutable returns the first rule making repo:tag immutable, or nil.
func (r *Registry) immutable(ctx context.Context, repo string, tags []string) (*metadata.ImmutableRule, string, error) {
	if r.opts.Locks == nil || len(tags) == 0 {
		return nil, "", nil
	}
	rules, err := r.opts.Locks.ListImmutableRules(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("reading immutability rules: %w", err)
	}
	for _, rule := range rules {
		// Patterns were validated when stored; one that no longer
		// compiles protects nothing rather than blocking every push.
		reRepo, err1 := regexp.Compile(`^(?:` + rule.Repos + `)$`)
		reTag, err2 := regexp.Compile(`^(?:` + rule.Tags + `)$`)
		if err1 != nil || err2 != nil || !reRepo.MatchString(repo) {
			continue
		}
		for _, t := range tags {
			if reTag.MatchString(t) {
				return &rule, t, nil
			}
		}
	}
	return nil, "", nil
}

// checkDelete refuses deleting tags (and the manifest d, when set) of repo.
func (r *Registry) checkDelete(ctx context.Context, repo string, tags []string, d digest.Digest) error {
	ls, err := r.locksOf(ctx, repo)
	if err != nil {
		return err
	}
	if l := ls.repo; l != nil {
		if err := deleteLocked(*l, "repository "+repo); err != nil {
			return err
		}
	}
	if l, ok := ls.digests[d]; ok && d != "" {
		if err := deleteLocked(l, "manifest "+repo+"@"+d.String()); err != nil {
			return err
		}
	}
	for _, t := range tags {
		if l, ok := ls.tags[t]; ok {
			if err := deleteLocked(l, "tag "+repo+":"+t); err != nil {
				return err
			}
		}
	}
	rule, tag, err := r.immutable(ctx, repo, tags)
	if err != nil {
		return err
	}
	if rule != nil {
		return denied("tag %s:%s is immutable (rule %d: repositories %q, tags %q)", repo, tag, rule.ID, rule.Repos, rule.Tags)
	}
	return nil
}

func deleteLocked(l metadata.Lock, what string) error {
	switch {
	case !l.WriteEnabled:
		return denied("%s is locked (write-enabled=false)", what)
	case !l.DeleteEnabled:
		return denied("%s is locked (delete-enabled=false)", what)
	}
	return nil
}

// checkPut refuses a push of d to repo that would move a locked or
// immutable tag, or any push into a write-locked repository. Pointing a
// tag at the content it already has, or creating a new tag, moves nothing.
func (r *Registry) checkPut(ctx context.Context, repo string, d digest.Digest, tags []string) error {
	if r.opts.Locks == nil {
		return nil
	}
	ls, err := r.locksOf(ctx, repo)
	if err != nil {
		return err
	}
	if ls.repo != nil && !ls.repo.WriteEnabled {
		return denied("repository %s is locked (write-enabled=false)", repo)
	}
	var moved []string
	for _, t := range tags {
		cur, err := r.opts.Meta.TaggedManifest(ctx, repo, t)
		if err != nil || cur.Digest == d {
			continue // absent (or unreadable: PutManifest will say) or unchanged
		}
		if l, ok := ls.tags[t]; ok && !l.WriteEnabled {
			return denied("tag %s:%s is locked (write-enabled=false)", repo, t)
		}
		if l, ok := ls.digests[cur.Digest]; ok && !l.WriteEnabled {
			return denied("manifest %s@%s is locked (write-enabled=false); its tag %s cannot move", repo, cur.Digest, t)
		}
		moved = append(moved, t)
	}
	rule, tag, err := r.immutable(ctx, repo, moved)
	if err != nil {
		return err
	}
	if rule != nil {
		return denied("tag %s:%s is immutable (rule %d: repositories %q, tags %q)", repo, tag, rule.ID, rule.Repos, rule.Tags)
	}
	return nil
}

// checkRead refuses a pull of m (asked for by ref) that a read lock forbids.
func (r *Registry) checkRead(ctx context.Context, rt route, m *metadata.Manifest) error {
	if r.opts.Locks == nil {
		return nil
	}
	ls, err := r.locksOf(ctx, rt.name)
	if err != nil {
		return err
	}
	if ls.repo != nil && !ls.repo.ReadEnabled {
		return denied("repository %s is locked (read-enabled=false)", rt.name)
	}
	if l, ok := ls.tags[rt.ref]; ok && !l.ReadEnabled && !oci.IsDigest(rt.ref) {
		return denied("tag %s:%s is locked (read-enabled=false)", rt.name, rt.ref)
	}
	if l, ok := ls.digests[m.Digest]; ok && !l.ReadEnabled {
		return denied("manifest %s@%s is locked (read-enabled=false)", rt.name, m.Digest)
	}
	return nil
}

// checkBlobDelete refuses unlinking a blob from a locked repository.
func (r *Registry) checkBlobDelete(ctx context.Context, repo string) error {
	ls, err := r.locksOf(ctx, repo)
	if err != nil || ls.repo == nil {
		return err
	}
	return deleteLocked(*ls.repo, "repository "+repo)
}
