// Package metadata defines what Berth knows about its content: repositories,
// manifests, tags, which blobs each repository holds, what references what,
// pull times and the event outbox. Blob bytes are in package storage.
//
// The interfaces are small roles; a backend (metadata/sqlite by default)
// implements them all and metadatatest checks every backend the same way.
package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Sentinel conditions; backends wrap them with %w.
var (
	ErrNotFound     = errors.New("not found")
	ErrRepoNotFound = errors.New("repository not found")
	// ErrBlobCollecting is returned by LinkBlob for a blob the garbage
	// collector has condemned and is deleting; the client uploads it again.
	ErrBlobCollecting = errors.New("blob is being garbage collected")
)

// MissingRefError is returned by PutManifest when a manifest references a
// blob or a child manifest that the repository does not hold.
type MissingRefError struct {
	Digest digest.Digest
	// Manifest is true for a missing child manifest, false for a blob.
	Manifest bool
}

func (e *MissingRefError) Error() string {
	if e.Manifest {
		return fmt.Sprintf("referenced manifest %s is not in the repository", e.Digest)
	}
	return fmt.Sprintf("referenced blob %s is not in the repository", e.Digest)
}

// Descriptor points at content, as in an OCI descriptor.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Manifest is a stored manifest of one repository.
type Manifest struct {
	Repo         string
	Digest       digest.Digest
	MediaType    string
	ArtifactType string
	Size         int64
	// Subject is the digest in the manifest's subject field, or "".
	Subject     digest.Digest
	Annotations map[string]string
	// Content is the exact bytes pushed.
	Content []byte
	// Blobs are the config and layers that must be present in the repository.
	Blobs []digest.Digest
	// Children are the manifests an index points at.
	Children []digest.Digest
	PushedAt time.Time
	// LastPulledAt is zero if never pulled.
	LastPulledAt time.Time
}

// Descriptor returns m as a descriptor, as the referrers API lists it.
func (m *Manifest) Descriptor() Descriptor {
	return Descriptor{MediaType: m.MediaType, ArtifactType: m.ArtifactType, Digest: m.Digest, Size: m.Size, Annotations: m.Annotations}
}

// TagInfo is a tag with the facts lifecycle and the API sort by.
type TagInfo struct {
	Repo         string        `json:"repository"`
	Name         string        `json:"name"`
	Digest       digest.Digest `json:"digest"`
	MediaType    string        `json:"mediaType"`
	Size         int64         `json:"size"` // manifest plus the blobs it references, children included
	FirstPushed  time.Time     `json:"firstPushed"`
	Updated      time.Time     `json:"updated"`
	LastPulledAt time.Time     `json:"lastPulled"`
}

// BlobRef is a blob a manifest references, with its size.
type BlobRef struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// ManifestInfo is a manifest without its bytes, as lifecycle lists it: the
// OCI API cannot list untagged manifests, retention must.
type ManifestInfo struct {
	Repo         string
	Digest       digest.Digest
	MediaType    string
	ArtifactType string
	Size         int64
	// Subject is the digest in the manifest's subject field, or "".
	Subject digest.Digest
	// Children are the manifests an index points at, in digest order.
	Children []digest.Digest
	// Blobs are the config and layers, in digest order.
	Blobs    []BlobRef
	PushedAt time.Time
	// LastPulledAt is zero if never pulled.
	LastPulledAt time.Time
	// Tags point at the manifest, in bytewise order; empty if untagged.
	Tags []string
}

// RepoSummary is a repository with its totals.
type RepoSummary struct {
	Name      string    `json:"name"`
	TagCount  int       `json:"tagCount"`
	Manifests int       `json:"manifestCount"`
	Size      int64     `json:"size"` // distinct blobs linked plus manifests
	Updated   time.Time `json:"updated"`
}

// Order sorts tag listings.
type Order int

// Orders of TagDetails.
const (
	OrderName Order = iota
	OrderTimeAsc
	OrderTimeDesc
)

// Page bounds a listing: entries after Last, at most N (0 = backend default).
type Page struct {
	Last string
	N    int
}

// Repos lists repositories.
type Repos interface {
	// ListRepos returns repository names in lexical order after p.Last.
	ListRepos(ctx context.Context, p Page) ([]string, error)
	// RepoSummaries returns repositories with totals in lexical order.
	RepoSummaries(ctx context.Context, p Page) ([]RepoSummary, error)
}

// Blobs records which repository holds which blob.
type Blobs interface {
	// LinkBlob records that repo holds d, creating the repository if needed;
	// ErrBlobCollecting if the garbage collector is deleting d.
	LinkBlob(ctx context.Context, repo string, d digest.Digest, size int64) error
	// StatBlob returns the size of d in repo, or ErrNotFound.
	StatBlob(ctx context.Context, repo string, d digest.Digest) (int64, error)
	// UnlinkBlob removes d from repo, or returns ErrNotFound.
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error
	// FindBlob returns the size of d if any repository holds it, or ErrNotFound.
	FindBlob(ctx context.Context, d digest.Digest) (int64, error)
}

// Manifests stores manifests and resolves tags.
type Manifests interface {
	// PutManifest stores m and points tags at it in one transaction, with
	// the references and an outbox event. Every digest in m.Blobs must be
	// linked and every one in m.Children stored in m.Repo, else
	// *MissingRefError and nothing is written.
	PutManifest(ctx context.Context, m *Manifest, tags []string) error
	// Manifest returns a manifest of repo by digest, or ErrNotFound.
	Manifest(ctx context.Context, repo string, d digest.Digest) (*Manifest, error)
	// TaggedManifest returns the manifest a tag points at, or ErrNotFound.
	TaggedManifest(ctx context.Context, repo, tag string) (*Manifest, error)
	// DeleteManifest removes a manifest and every tag pointing at it, and
	// returns those tags; ErrNotFound if absent.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) ([]string, error)
	// Referrers lists manifests of repo whose subject is d, optionally only
	// those of one artifact type.
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]Descriptor, error)
	// ListManifests returns every manifest of repo, tagged or not, in
	// digest order after p.Last; ErrRepoNotFound if the repository does
	// not exist.
	ListManifests(ctx context.Context, repo string, p Page) ([]ManifestInfo, error)
}

// Tags lists and removes tags.
type Tags interface {
	// ListTags returns tag names of repo in lexical order after p.Last;
	// ErrRepoNotFound if the repository does not exist.
	ListTags(ctx context.Context, repo string, p Page) ([]string, error)
	// TagDetails returns tags with digests, sizes and times.
	TagDetails(ctx context.Context, repo string, order Order, p Page) ([]TagInfo, error)
	// DeleteTag removes a tag, or returns ErrNotFound.
	DeleteTag(ctx context.Context, repo, tag string) error
}

// Pull is one observed manifest pull.
type Pull struct {
	Repo   string
	Digest digest.Digest
	At     time.Time
}

// Pulls records when manifests were pulled. Callers batch: pulls are hot.
type Pulls interface {
	RecordPulls(ctx context.Context, pulls []Pull) error
}

// Event is an outbox entry, written in the transaction of the change it
// describes so that no change goes unannounced.
type Event struct {
	ID        int64         `json:"id"`
	Type      string        `json:"type"`
	Repo      string        `json:"repository"`
	Digest    digest.Digest `json:"digest,omitempty"`
	Tag       string        `json:"tag,omitempty"`
	MediaType string        `json:"mediaType,omitempty"`
	Size      int64         `json:"size,omitempty"`
	Actor     string        `json:"actor,omitempty"`
	// ClientIP is the address the change came from (WithClientIP), or "".
	ClientIP string    `json:"clientIP,omitempty"`
	At       time.Time `json:"at"`
	// Detail is a type-specific JSON summary, e.g. a retention run's counts.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Event types written by the registry's changes.
const (
	EventManifestPushed  = "manifest.pushed"
	EventManifestDeleted = "manifest.deleted"
	EventTagDeleted      = "tag.deleted"
	EventBlobDeleted     = "blob.deleted"
)

// Quota events: a quota's usage crossed its warning share, or a push was
// refused for a quota or the free-disk watermark. They announce no stored
// change and are written with EventRecorder.
const (
	EventQuotaWarning  = "quota.warning"
	EventQuotaExceeded = "quota.exceeded"
)

// EventRecorder writes an event that is not part of a change (a quota
// warning) to the outbox on its own.
type EventRecorder interface {
	RecordEvent(ctx context.Context, e Event) error
}

// Outbox hands events to relays (audit, webhooks, scanner).
type Outbox interface {
	// PendingEvents returns up to n events with ID > after, oldest first.
	PendingEvents(ctx context.Context, after int64, n int) ([]Event, error)
}

// ErrExists reports that a name is already taken (CreateUser).
var ErrExists = errors.New("already exists")

// User is an account that logs in with a password. Grants say what it may
// do; package authz interprets them.
type User struct {
	Name string
	// PasswordHash is a PHC string (package authn); never a password.
	PasswordHash string
	Disabled     bool
	Grants       []Grant
	Created      time.Time
}

// Grant gives Role on every repository matching Pattern.
type Grant struct {
	Pattern string `json:"pattern"`
	Role    string `json:"role"`
}

// Users stores accounts. Names are unique and compared bytewise.
type Users interface {
	// CreateUser stores u, or returns ErrExists.
	CreateUser(ctx context.Context, u *User) error
	// User returns the account named name, or ErrNotFound.
	User(ctx context.Context, name string) (*User, error)
	// ListUsers returns every account in name order.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser replaces the hash, disabled flag and grants of the
	// account named u.Name, or returns ErrNotFound.
	UpdateUser(ctx context.Context, u *User) error
}

// ScopedToken is a named machine credential (package access/scoped): a
// fixed set of grants, two password slots so that one can be replaced
// while the other still works, and optional expiry and client networks.
type ScopedToken struct {
	Name string
	// Creator is the account that made the token; its grants bounded them.
	Creator string
	Grants  []TokenGrant
	// Hash1 and Hash2 are PHC strings of the two passwords; "" is an
	// empty slot.
	Hash1, Hash2 string
	Disabled     bool
	// CIDRs, if any, are the client networks the token may be used from.
	CIDRs []string
	// Expires is zero for a token that does not expire.
	Expires  time.Time
	Created  time.Time
	LastUsed time.Time // zero if never used
}

// TokenGrant gives Actions on every repository matching Pattern.
type TokenGrant struct {
	Pattern string   `json:"pattern"`
	Actions []string `json:"actions"`
}

// ScopedTokens stores scoped tokens. Names are unique.
type ScopedTokens interface {
	CreateScopedToken(ctx context.Context, t *ScopedToken) error
	// ScopedToken returns the token named name, or ErrNotFound.
	ScopedToken(ctx context.Context, name string) (*ScopedToken, error)
	ListScopedTokens(ctx context.Context) ([]ScopedToken, error)
	// UpdateScopedToken replaces grants, hashes, disabled, CIDRs and
	// expiry, or returns ErrNotFound.
	UpdateScopedToken(ctx context.Context, t *ScopedToken) error
	DeleteScopedToken(ctx context.Context, name string) error
	// TouchScopedTokens records last-use times, never moving one back.
	TouchScopedTokens(ctx context.Context, used map[string]time.Time) error
}

// Collection is what the garbage collector needs of metadata (see
// package lifecycle/gc). A blob is live at a cutoff when any manifest
// (trashed or not) references it, or a repository linked it at or after
// the cutoff; a link older than the cutoff that no manifest needs is an
// orphan and does not keep the blob.
type Collection interface {
	// LiveBlobs calls fn for every digest live at since, in no order; a
	// digest may be reported more than once.
	LiveBlobs(ctx context.Context, since time.Time, fn func(digest.Digest) error) error
	// CondemnBlobs re-checks each digest in one transaction and, for those
	// still not live at since, removes their repository links and records
	// a tombstone that makes LinkBlob fail with ErrBlobCollecting. It
	// returns the digests condemned.
	CondemnBlobs(ctx context.Context, ds []digest.Digest, since time.Time) ([]digest.Digest, error)
	// Condemned lists tombstoned digests, left by an interrupted run.
	Condemned(ctx context.Context) ([]digest.Digest, error)
	// ReleaseBlobs removes the tombstones of ds once their bytes are gone.
	ReleaseBlobs(ctx context.Context, ds []digest.Digest) error
}

// CheckedLinker links a blob only if check passes inside the linking
// transaction, which the collector's deletions cannot overtake. The
// registry checks that the bytes exist this way; a check made before
// LinkBlob could be stale by the time the link is written.
type CheckedLinker interface {
	// LinkBlobChecked is LinkBlob, failing with check's error if any.
	LinkBlobChecked(ctx context.Context, repo string, d digest.Digest, size int64, check func(context.Context) error) error
}

// GCRun is one garbage collection run, as the history keeps it.
type GCRun struct {
	ID       int64         `json:"id"`
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	DryRun   bool          `json:"dryRun"`
	Grace    time.Duration `json:"gracePeriod"`
	Scanned  int           `json:"blobsScanned"`
	Blobs    int           `json:"blobsDeleted"`
	Bytes    int64         `json:"bytesDeleted"`
	Uploads  int           `json:"uploadsDeleted"`
	Error    string        `json:"error,omitempty"`
}

// EventGCCompleted is the outbox event of a recorded GC run.
const EventGCCompleted = "gc.completed"

// GCHistory keeps the history of garbage collection runs.
type GCHistory interface {
	// RecordGCRun stores a run with a gc.completed outbox event in one
	// transaction and returns its ID.
	RecordGCRun(ctx context.Context, run GCRun) (int64, error)
	// GCRuns returns up to n runs, newest first.
	GCRuns(ctx context.Context, n int) ([]GCRun, error)
}

// BlobUsage answers usage and quota questions from repository links.
type BlobUsage interface {
	// RepoBytes is the total size of the blobs repo links (0 if unknown).
	RepoBytes(ctx context.Context, repo string) (int64, error)
	// LinkedBytes is the total size of distinct blobs any repository links.
	LinkedBytes(ctx context.Context) (int64, error)
	// RepoLinks calls fn for every repository link, in repository order.
	RepoLinks(ctx context.Context, fn func(repo string, d digest.Digest, size int64) error) error
}

// Store is everything a metadata backend provides.
type Store interface {
	Repos
	Blobs
	Manifests
	Tags
	Pulls
	Outbox
	Trash
	Locks
	ImmutableRules
	Close() error
}

type actorKey struct{}

// WithActor names who acts in ctx; backends stamp it on outbox events.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor set by WithActor, or "".
func ActorFrom(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}
