package retention

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrNotFound is wrapped by Source, Deleter and Checker implementations when
// a repository, tag or manifest does not exist. Apply treats deleting what is
// already gone as done, which makes runs idempotent.
var ErrNotFound = errors.New("not found")

// ErrChanged is wrapped by a CheckedDeleter when the tag points at another
// manifest than planned, or a manifest was tagged since; Apply skips it.
var ErrChanged = errors.New("changed since plan")

// ErrLocked is wrapped by a Deleter when a lock or immutability rule set
// since the plan forbids the deletion; Apply skips it.
var ErrLocked = errors.New("locked since plan")

// Tag is a tag as a registry reports it.
type Tag struct {
	Name   string        `json:"name"`
	Digest digest.Digest `json:"digest"`
	// PushedAt is when the tag was last pointed at Digest (ACR's
	// lastUpdateTime): moving a tag makes it new again.
	PushedAt time.Time `json:"pushedAt"`
	// LastPulledAt is zero if never pulled or unknown.
	LastPulledAt time.Time `json:"lastPulledAt,omitzero"`
	// Locked is true when the registry forbids deleting the tag.
	Locked bool `json:"locked,omitempty"`
}

// Blob is a config or layer blob a manifest references.
type Blob struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// Manifest is a manifest (image, index or artifact) as a registry reports it.
type Manifest struct {
	Digest       digest.Digest `json:"digest"`
	MediaType    string        `json:"mediaType,omitempty"`
	ArtifactType string        `json:"artifactType,omitempty"`
	// Size is the size of the manifest itself.
	Size         int64     `json:"size"`
	PushedAt     time.Time `json:"pushedAt"`
	LastPulledAt time.Time `json:"lastPulledAt,omitzero"`
	// Subject is the manifest this one refers to (signatures, SBOMs), or "".
	Subject digest.Digest `json:"subject,omitempty"`
	// Children are the manifests an index lists.
	Children []digest.Digest `json:"children,omitempty"`
	// Blobs are the config and layers, used only to estimate bytes freed;
	// a Source that cannot list them cheaply may leave them out.
	Blobs  []Blob `json:"-"`
	Locked bool   `json:"locked,omitempty"`
}

// Source lists what a registry holds. Implementations must be safe for
// concurrent use: Plan reads several repositories at once.
type Source interface {
	// Repositories returns every repository name.
	Repositories(ctx context.Context) ([]string, error)
	// Tags returns the tags of repo.
	Tags(ctx context.Context, repo string) ([]Tag, error)
	// Manifests returns every manifest of repo, tagged or not.
	Manifests(ctx context.Context, repo string) ([]Manifest, error)
}

// Deleter removes tags and manifests. Both methods return an error wrapping
// ErrNotFound when the target is already gone.
type Deleter interface {
	// DeleteTag removes the tag only, never the manifest it points at.
	DeleteTag(ctx context.Context, repo, tag string) error
	// DeleteManifest removes the manifest. A backend that can should refuse
	// when a tag points at it, closing the window after Checker's look.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
}

// Checker reads the current state of one tag or manifest, so that Apply can
// re-check a planned deletion just before doing it.
type Checker interface {
	// Tag returns the tag as it is now, or an error wrapping ErrNotFound.
	Tag(ctx context.Context, repo, name string) (Tag, error)
	// ManifestTags returns the names of the tags pointing at d now, or an
	// error wrapping ErrNotFound if the manifest is gone.
	ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error)
}

// Snapshotter is an optional Source ability: reading every repository in
// one pass, which a local database does several times faster than
// repository by repository.
type Snapshotter interface {
	// EachRepository calls fn for every repository with its tags and
	// manifests, as Tags and Manifests would return them; fn may keep the
	// slices.
	EachRepository(ctx context.Context, fn func(repo string, tags []Tag, manifests []Manifest) error) error
}

// CheckedDeleter is an optional Deleter ability: deleting a tag only if it
// still points at the planned digest, checked where the deletion happens
// (in the same transaction), which closes the window after Checker's look.
type CheckedDeleter interface {
	// DeleteTagAt removes the tag if it points at d, else returns an
	// error wrapping ErrChanged.
	DeleteTagAt(ctx context.Context, repo, tag string, d digest.Digest) error
}
