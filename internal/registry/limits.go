package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/storage"
)

// Limiter admits pushes; *quota.Limiter is the implementation. Refusals
// are *quota.ExceededError or *quota.LowDiskError.
type Limiter interface {
	// AdmitBlob refuses n more bytes (0 when unknown) for repo.
	AdmitBlob(ctx context.Context, repo string, n int64) error
	// AdmitManifest refuses a manifest for a repository over its quota.
	AdmitManifest(ctx context.Context, repo string) error
}

// Reserver is a Limiter that can also hold admitted bytes while they are
// written (*quota.Limiter is one), so that parallel uploads of declared
// size see each other's bytes.
type Reserver interface {
	Reserve(ctx context.Context, repo string, n int64) (release func(), err error)
}

// admitBlob asks the limiter, if any, before bytes are written.
func (r *Registry) admitBlob(ctx context.Context, repo string, n int64) error {
	if r.opts.Limits == nil {
		return nil
	}
	return r.opts.Limits.AdmitBlob(ctx, repo, max(n, 0))
}

// reserveBlob is admitBlob for bytes about to be written: when the limiter
// can, the n bytes are reserved until the caller calls release (never
// nil), once they are written and linked or the upload failed.
func (r *Registry) reserveBlob(ctx context.Context, repo string, n int64) (release func(), err error) {
	release = func() {}
	if res, ok := r.opts.Limits.(Reserver); ok && n > 0 {
		rel, err := res.Reserve(ctx, repo, n)
		if err != nil {
			return release, err
		}
		return rel, nil
	}
	return release, r.admitBlob(ctx, repo, n)
}

func (r *Registry) admitManifest(ctx context.Context, repo string) error {
	if r.opts.Limits == nil {
		return nil
	}
	return r.opts.Limits.AdmitManifest(ctx, repo)
}

// limitError maps the refusals of quotas, the disk watermark and the
// garbage collector; ok is false for any other error. A quota is a policy
// (403 DENIED); a full disk is the server's condition, answered 507 with
// the DENIED code so that clients print the message.
func limitError(err error) (*oci.Error, bool) {
	var (
		qe *quota.ExceededError
		le *quota.LowDiskError
	)
	switch {
	case errors.As(err, &qe):
		return oci.Errorf(oci.CodeDenied, "%s", qe.Error()).Wrap(err), true
	case errors.As(err, &le):
		return oci.Errorf(oci.CodeDenied, "%s", le.Error()).WithStatus(http.StatusInsufficientStorage).Wrap(err), true
	case errors.Is(err, metadata.ErrBlobCollecting):
		return oci.Errorf(oci.CodeBlobUploadInvalid, "blob was being garbage collected; upload it again").
			WithStatus(http.StatusServiceUnavailable).Wrap(err), true
	}
	return nil, false
}

// link records that name holds d. The bytes are checked to exist inside
// the linking transaction when the store can: a blob found by a mount or
// deduplicated by a commit may be deleted by the collector in between, and
// a link to missing bytes would let a manifest PUT succeed unpullable.
func (r *Registry) link(ctx context.Context, name string, d digest.Digest, size int64) error {
	cl, ok := r.opts.Meta.(metadata.CheckedLinker)
	if !ok {
		return r.opts.Meta.LinkBlob(ctx, name, d, size)
	}
	return cl.LinkBlobChecked(ctx, name, d, size, func(ctx context.Context) error {
		if _, err := r.opts.Blobs.Stat(ctx, d); errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("%w: bytes already deleted", metadata.ErrBlobCollecting)
		} else if err != nil {
			return err
		}
		return nil
	})
}
