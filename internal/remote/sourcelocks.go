package remote

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
)

// SourceOptions change how a Source treats locked items.
type SourceOptions struct {
	// IncludeLocked reports tags and manifests locked on their own (a
	// lock on the tag or the digest) as unlocked, so the retention rules
	// decide them, and clears such a lock just before deleting its item,
	// as az acr purge --include-locked does. Repository locks and
	// immutability rules are never cleared: they are policy over many
	// items, and a purge of a few must not switch them off for all;
	// what they protect stays Locked.
	IncludeLocked bool
}

// NewSourceWith returns a retention source over the Berth server c talks
// to, with options.
func NewSourceWith(c *Client, opts SourceOptions) *Source {
	return &Source{c: c, opts: opts}
}

// markTags sets Locked on the tags of repo the server would refuse to
// delete.
func (s *Source) markTags(ctx context.Context, repo string, tags []retention.Tag) error {
	rl, err := s.locks.get(ctx, s.c, repo)
	if err != nil {
		return err
	}
	for i := range tags {
		name := tags[i].Name
		tags[i].Locked = rl.repo || rl.tagImmutable(name) || (rl.tags[name] && !s.opts.IncludeLocked)
	}
	return nil
}

// markManifests sets Locked on the manifests of repo the server would
// refuse to delete for a lock of their own or of the repository. A
// manifest whose tag is locked is kept by that tag already.
func (s *Source) markManifests(ctx context.Context, repo string, ms []retention.Manifest) error {
	rl, err := s.locks.get(ctx, s.c, repo)
	if err != nil {
		return err
	}
	for i := range ms {
		ms[i].Locked = rl.repo || (rl.digests[ms[i].Digest] && !s.opts.IncludeLocked)
	}
	return nil
}

// unlockForDelete clears the lock of repo:tag or repo@d before deleting it,
// when IncludeLocked is set and the plan was built over such a lock. A
// lock cleared by someone else meanwhile is not an error.
func (s *Source) unlockForDelete(ctx context.Context, repo, tag string, d digest.Digest) error {
	if !s.opts.IncludeLocked {
		return nil
	}
	rl, err := s.locks.get(ctx, s.c, repo)
	if err != nil {
		return err
	}
	if (tag != "" && !rl.tags[tag]) || (tag == "" && !rl.digests[d]) {
		return nil
	}
	if err := s.c.ClearLock(ctx, repo, tag, d); err != nil && !IsNotFound(err) {
		return err
	}
	return nil
}
