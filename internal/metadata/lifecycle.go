package metadata

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrConflict is returned when a change would undo a newer one, such as a
// restore onto a tag that was pushed again since it was deleted.
var ErrConflict = errors.New("conflict")

// Event types of the recycle bin and of locks.
const (
	EventManifestTrashed  = "manifest.trashed"
	EventTagTrashed       = "tag.trashed"
	EventManifestRestored = "manifest.restored"
	EventTagRestored      = "tag.restored"
	EventLockSet          = "lock.set"
	EventLockCleared      = "lock.cleared"
	EventRuleAdded        = "immutable_rule.added"
	EventRuleDeleted      = "immutable_rule.deleted"
)

// TrashEntry is a deleted tag or manifest held in the recycle bin. A
// trashed manifest keeps its content, references and blob links, so
// garbage collection keeps its blobs until the entry is purged.
type TrashEntry struct {
	ID     int64         `json:"id"`
	Repo   string        `json:"repository"`
	Digest digest.Digest `json:"digest"`
	// Tag names a deleted tag; it is empty for a deleted manifest.
	Tag string `json:"tag,omitempty"`
	// Tags are the tags a deleted manifest had, in bytewise order.
	Tags      []string  `json:"tags,omitempty"`
	MediaType string    `json:"mediaType"`
	Size      int64     `json:"size"`
	TrashedAt time.Time `json:"trashedAt"`
	Actor     string    `json:"actor,omitempty"`
}

// Trash is the recycle bin: deletions that can be undone for a while.
type Trash interface {
	// TrashTag moves a tag into the bin; ErrNotFound if absent.
	TrashTag(ctx context.Context, repo, tag string) error
	// TrashManifest hides a manifest from every read and moves its tags
	// into the bin with it, returning them; ErrNotFound if absent or
	// already in the bin. Pushing the same manifest again brings it back.
	TrashManifest(ctx context.Context, repo string, d digest.Digest) ([]string, error)
	// ListTrash returns entries of repo ("" for every repository) in
	// the order they were trashed, after the entry whose ID is p.Last.
	ListTrash(ctx context.Context, repo string, p Page) ([]TrashEntry, error)
	// Restore puts back the newest entry of repo:tag (when tag is set)
	// or of the manifest repo@d, with the tags it had, and returns it.
	// A tag that now points at other content is ErrConflict unless force;
	// no such entry is ErrNotFound.
	Restore(ctx context.Context, repo, tag string, d digest.Digest, force bool) (*TrashEntry, error)
	// PurgeTrash deletes for good the entries of repo ("" for all)
	// trashed before cutoff, and returns how many.
	PurgeTrash(ctx context.Context, repo string, cutoff time.Time) (int, error)
}

// Lock holds ACR-style attributes on a repository (Tag and Digest
// empty), a tag or a manifest digest. A false attribute forbids.
type Lock struct {
	Repo          string        `json:"repository"`
	Tag           string        `json:"tag,omitempty"`
	Digest        digest.Digest `json:"digest,omitempty"`
	WriteEnabled  bool          `json:"writeEnabled"`
	DeleteEnabled bool          `json:"deleteEnabled"`
	ReadEnabled   bool          `json:"readEnabled"`
	Updated       time.Time     `json:"updated"`
	Actor         string        `json:"actor,omitempty"`
}

// Locks stores lock attributes. A lock may name a repository, tag or
// digest that does not exist yet.
type Locks interface {
	// SetLock creates or replaces the lock of l.Repo, l.Tag, l.Digest.
	SetLock(ctx context.Context, l Lock) error
	// ClearLock removes a lock; ErrNotFound if there is none.
	ClearLock(ctx context.Context, repo, tag string, d digest.Digest) error
	// ListLocks returns the locks of repo ("" for all), ordered by
	// repository, tag, digest.
	ListLocks(ctx context.Context, repo string) ([]Lock, error)
	// ManifestTags returns the tags pointing at a live manifest, which a
	// lock check on a digest needs; empty if none or absent.
	ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error)
}

// ImmutableRule makes tags immutable once pushed: a tag whose name fully
// matches Tags in a repository fully matching Repos cannot be moved or
// deleted (Harbor's immutability rules).
type ImmutableRule struct {
	ID      int64     `json:"id"`
	Repos   string    `json:"repositories"`
	Tags    string    `json:"tags"`
	Created time.Time `json:"created"`
	Actor   string    `json:"actor,omitempty"`
}

// ImmutableRules stores immutability rules. Backends store patterns as
// given; callers validate them.
type ImmutableRules interface {
	// AddImmutableRule stores r and returns it with its ID and time.
	AddImmutableRule(ctx context.Context, r ImmutableRule) (ImmutableRule, error)
	// ListImmutableRules returns every rule in ID order.
	ListImmutableRules(ctx context.Context) ([]ImmutableRule, error)
	// DeleteImmutableRule removes a rule; ErrNotFound if absent.
	DeleteImmutableRule(ctx context.Context, id int64) error
}
