package registry

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/guard"
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

// locks reads the locks of repo, and the immutability rules over it when
// withRules; nil when the registry runs without lock support.
func (r *Registry) locks(ctx context.Context, repo string, withRules bool) (*guard.Locks, error) {
	if r.opts.Locks == nil {
		return nil, nil
	}
	if withRules {
		return guard.Load(ctx, r.opts.Locks, repo)
	}
	return guard.LoadLocks(ctx, r.opts.Locks, repo)
}

// refusal turns a guard refusal into the 403 DENIED it is answered with.
func refusal(err error) error {
	var d *guard.Denied
	if errors.As(err, &d) {
		return denied("%s", d.Reason)
	}
	return err
}

// checkDelete refuses deleting tags (and the manifest d, when set) of repo.
func (r *Registry) checkDelete(ctx context.Context, repo string, tags []string, d digest.Digest) error {
	ls, err := r.locks(ctx, repo, len(tags) > 0)
	if err != nil || ls == nil {
		return err
	}
	return refusal(ls.CheckDelete(tags, d))
}

// checkPut refuses a push of d to repo that would move a locked or
// immutable tag, or any push into a write-locked repository. Pointing a
// tag at the content it already has, or creating a new tag, moves nothing.
func (r *Registry) checkPut(ctx context.Context, repo string, d digest.Digest, tags []string) error {
	ls, err := r.locks(ctx, repo, len(tags) > 0)
	if err != nil || ls == nil {
		return err
	}
	if err := ls.CheckRepoWrite(); err != nil {
		return refusal(err)
	}
	var moved []string
	for _, t := range tags {
		cur, err := r.opts.Meta.TaggedManifest(ctx, repo, t)
		if err != nil || cur.Digest == d {
			continue // absent (or unreadable: PutManifest will say) or unchanged
		}
		if err := ls.CheckMove(t, cur.Digest); err != nil {
			return refusal(err)
		}
		moved = append(moved, t)
	}
	return refusal(ls.CheckImmutable(moved))
}

// checkRead refuses a pull of m (asked for by ref) that a read lock forbids.
func (r *Registry) checkRead(ctx context.Context, rt route, m *metadata.Manifest) error {
	ls, err := r.locks(ctx, rt.name, false)
	if err != nil || ls == nil {
		return err
	}
	tag := rt.ref
	if oci.IsDigest(tag) {
		tag = ""
	}
	return refusal(ls.CheckRead(tag, m.Digest))
}

// checkBlobDelete refuses unlinking a blob from a locked repository.
func (r *Registry) checkBlobDelete(ctx context.Context, repo string) error {
	ls, err := r.locks(ctx, repo, false)
	if err != nil || ls == nil {
		return err
	}
	return refusal(ls.CheckRepoDelete())
}
