package metadata

import (
	"context"
	"encoding/json"
	"time"

	"github.com/opencontainers/go-digest"
)

// Event types of stored retention policies and their runs.
const (
	EventPolicySet     = "retention_policy.set"
	EventPolicyDeleted = "retention_policy.deleted"
	// EventRetentionRun carries the run's summary in Event.Detail.
	EventRetentionRun = "retention.run"
)

// RetentionPolicy is a retention policy the server keeps and schedules.
// Policy is the engine's policy as JSON: metadata does not depend on the
// lifecycle packages that interpret it.
type RetentionPolicy struct {
	Name   string          `json:"name"`
	Policy json.RawMessage `json:"policy"`
	// Schedule says when the server runs the policy, e.g. "0 3 * * *"
	// (cron), "24h" or "@daily"; empty runs it only on demand.
	Schedule string    `json:"schedule,omitempty"`
	Enabled  bool      `json:"enabled"`
	Updated  time.Time `json:"updated"`
	Actor    string    `json:"actor,omitempty"`
}

// RetentionRun is one recorded run of a retention policy.
type RetentionRun struct {
	ID               int64     `json:"id"`
	Policy           string    `json:"policy"`
	Started          time.Time `json:"started"`
	Finished         time.Time `json:"finished"`
	DryRun           bool      `json:"dryRun"`
	TagsDeleted      int       `json:"tagsDeleted"`
	TagsKept         int       `json:"tagsKept"`
	ManifestsDeleted int       `json:"manifestsDeleted"`
	ManifestsKept    int       `json:"manifestsKept"`
	Skipped          int       `json:"skipped"`
	Failed           int       `json:"failed"`
	BytesFreed       int64     `json:"bytesFreed"`
	Error            string    `json:"error,omitempty"`
}

// RetentionPolicies stores retention policies by name, compared bytewise.
type RetentionPolicies interface {
	// PutRetentionPolicy creates or replaces the policy named p.Name,
	// stamping Updated and the actor, with an outbox event.
	PutRetentionPolicy(ctx context.Context, p RetentionPolicy) error
	// RetentionPolicy returns the policy named name, or ErrNotFound.
	RetentionPolicy(ctx context.Context, name string) (*RetentionPolicy, error)
	// ListRetentionPolicies returns every policy in name order.
	ListRetentionPolicies(ctx context.Context) ([]RetentionPolicy, error)
	// DeleteRetentionPolicy removes a policy and its run history, with an
	// outbox event; ErrNotFound if absent.
	DeleteRetentionPolicy(ctx context.Context, name string) error
}

// RetentionRuns keeps the history of retention runs.
type RetentionRuns interface {
	// RecordRetentionRun stores run with a retention.run outbox event
	// carrying the run as its detail, in one transaction, and returns its
	// ID.
	RecordRetentionRun(ctx context.Context, run RetentionRun) (int64, error)
	// RetentionRuns returns up to n runs of policy ("" for all), newest
	// first.
	RetentionRuns(ctx context.Context, policy string, n int) ([]RetentionRun, error)
}

// TagTimes is the lean tag reading retention plans from: no sizes, which
// TagDetails computes per tag at a cost a 100,000-tag plan cannot pay.
// Size is left 0 in the results.
type TagTimes interface {
	// ListTagTimes returns every tag of repo in name order;
	// ErrRepoNotFound if the repository does not exist.
	ListTagTimes(ctx context.Context, repo string) ([]TagInfo, error)
	// TagTime returns one tag as it is now, or ErrNotFound.
	TagTime(ctx context.Context, repo, tag string) (TagInfo, error)
}

// TagBatchDeleter removes many tags of one repository in one transaction,
// each with the same events as one at a time. Retention deletes thousands
// of tags a run, and a transaction per tag bounds it by commit cost.
type TagBatchDeleter interface {
	// DeleteTags removes the named tags of repo, into the recycle bin
	// (as TrashTag) when trash is set, else for good (as DeleteTag). It
	// returns one entry per tag: nil, or ErrNotFound for a tag already
	// gone; any other failure rolls the whole batch back and is the
	// second result.
	DeleteTags(ctx context.Context, repo string, tags []string, trash bool) ([]error, error)
}

// ManifestGraph lists a repository's manifests as retention plans them:
// with subjects, children and blob sizes but without tags, in a few range
// scans rather than per-manifest lookups.
type ManifestGraph interface {
	// ListManifestGraph returns every live manifest of repo in digest
	// order, Tags left nil; ErrRepoNotFound if the repository does not
	// exist.
	ListManifestGraph(ctx context.Context, repo string) ([]ManifestInfo, error)
}

// RepoGraph is one repository as a retention plan reads it.
type RepoGraph struct {
	Repo string
	// Tags are in name order, Size 0, LastPulledAt that of the manifest.
	Tags []TagInfo
	// Manifests are the live manifests in digest order, as
	// ListManifestGraph returns them.
	Manifests []ManifestInfo
}

// GraphScanner reads every repository for a retention plan in one pass:
// a handful of table scans in one read transaction instead of a handful
// of range scans per repository, which dominate a 1,000-repository plan.
type GraphScanner interface {
	// ScanGraphs calls fn with every repository, in name order. Each
	// manifest's children are read in the manifest's snapshot; tags and
	// blob references may come from a moment apart, as separate Tags and
	// Manifests calls would.
	ScanGraphs(ctx context.Context, fn func(RepoGraph) error) error
}

// TagDeletion names a tag to delete and the manifest it must still point
// at; a tag moved since is not deleted.
type TagDeletion struct {
	Name   string
	Digest digest.Digest
}

// DeleteCheck decides, inside the deleting transaction, whether the locks
// of the repository and the immutability rules (all of them, as that
// transaction reads them) allow deleting a tag (tag set) or an untagged
// manifest (d set). It returns nil or the refusal.
type DeleteCheck func(locks []Lock, rules []ImmutableRule) func(tag string, d digest.Digest) error

// GuardedDeleter deletes for retention with its re-checks in the same
// write transaction as the deletion, so that a tag moved or a lock set
// just before the commit is never missed.
type GuardedDeleter interface {
	// DeleteTagsIf removes the tags of repo that still point at their
	// Digest and that check allows, into the recycle bin when trash is
	// set. It returns one entry per tag: nil; ErrNotFound for a tag
	// already gone; ErrConflict for a tag that points elsewhere now; or
	// check's refusal. Any other failure rolls the batch back and is the
	// second result.
	DeleteTagsIf(ctx context.Context, repo string, tags []TagDeletion, trash bool, check DeleteCheck) ([]error, error)
	// DeleteManifestIf removes manifest d of repo, into the bin when
	// trash is set, unless a tag points at it (ErrConflict) or check
	// refuses; ErrNotFound if it is gone or already in the bin.
	DeleteManifestIf(ctx context.Context, repo string, d digest.Digest, trash bool, check DeleteCheck) error
}
