// Package storage defines where blob bytes live: a content-addressed blob
// store and resumable uploads into it. Metadata (which repository holds
// which blob) is not here; see package metadata.
//
// Contract shared by every implementation (checked by storagetest):
//   - a blob is visible only once complete and verified; never partially;
//   - identical content is stored once, whatever repository pushed it;
//   - an upload survives a process restart and can be resumed at Status().Size;
//   - nothing reads a whole blob into memory.
package storage

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

// Sentinel conditions; implementations wrap them with %w.
var (
	ErrNotFound       = errors.New("not found")
	ErrUploadUnknown  = errors.New("upload unknown")
	ErrDigestMismatch = errors.New("digest mismatch")
	ErrSizeMismatch   = errors.New("size mismatch")
	// ErrOffset means an append did not start where the upload ends.
	ErrOffset = errors.New("offset does not match upload size")
)

// Blob is an open blob: seekable so HTTP range requests can be served.
type Blob interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// BlobStore holds verified content by digest.
type BlobStore interface {
	// Stat returns the size of a blob, or ErrNotFound.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open returns the blob for reading, or ErrNotFound.
	Open(ctx context.Context, d digest.Digest) (Blob, error)
	// Delete removes a blob; deleting a missing blob returns ErrNotFound.
	Delete(ctx context.Context, d digest.Digest) error
}

// Walker is an optional ability of a BlobStore: list every blob, for
// garbage collection and usage accounting.
type Walker interface {
	// Walk calls fn for each stored blob until fn returns an error.
	Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error
}

// UploadInfo is the state of an upload in progress.
type UploadInfo struct {
	ID      string
	Repo    string
	Size    int64
	Started time.Time
}

// Uploads writes new blobs. Every method but Create takes the upload ID.
type Uploads interface {
	// Create starts an upload for repo and returns its ID.
	Create(ctx context.Context, repo string) (UploadInfo, error)
	// Status reports an upload, or ErrUploadUnknown.
	Status(ctx context.Context, id string) (UploadInfo, error)
	// Append writes r at offset, which must equal the current size
	// (ErrOffset otherwise), and returns the new state. On error, the upload
	// keeps the bytes that were durably written, so the client can resume.
	Append(ctx context.Context, id string, offset int64, r io.Reader) (UploadInfo, error)
	// Commit verifies the content against want (ErrDigestMismatch) and makes
	// it visible in the BlobStore atomically, then forgets the upload. The
	// content is removed if it does not match.
	Commit(ctx context.Context, id string, want digest.Digest) (int64, error)
	// Cancel forgets an upload and its bytes.
	Cancel(ctx context.Context, id string) error
}

// UploadLister is an optional ability of Uploads: list uploads, so that
// garbage collection can remove abandoned ones.
type UploadLister interface {
	ListUploads(ctx context.Context, fn func(UploadInfo) error) error
}

// Store is a blob store with its uploads.
type Store interface {
	BlobStore
	Uploads
}
