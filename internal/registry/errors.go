package registry

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/storage"
)

// notFound marks a missing thing with the OCI code of what was looked up,
// so that toOCI can tell a missing blob from a missing manifest.
type notFound struct {
	code oci.Code
	what string
	err  error
}

func (e *notFound) Error() string { return e.what + ": " + e.err.Error() }
func (e *notFound) Unwrap() error { return e.err }

// missing wraps err, if it is a not-found condition of storage or metadata,
// so that it is answered with code; any other error is returned as is.
func missing(err error, code oci.Code, what string) error {
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, metadata.ErrNotFound) {
		return &notFound{code: code, what: what, err: err}
	}
	return err
}

// toOCI is the one place where the sentinels of storage and metadata become
// OCI error codes. Anything unrecognised is an internal error whose cause is
// kept for the log and hidden from the client.
func toOCI(err error) *oci.Error {
	var (
		oe  *oci.Error
		nf  *notFound
		mr  *metadata.MissingRefError
		mbe *http.MaxBytesError
	)
	if le, ok := limitError(err); ok {
		return le
	}
	switch {
	case errors.As(err, &oe):
		return oe
	case errors.As(err, &nf):
		return oci.Errorf(nf.code, "%s not found", nf.what).Wrap(err)
	case errors.As(err, &mr):
		return oci.Errorf(oci.CodeManifestBlobUnknown, "%s", mr.Error()).
			WithDetail(map[string]string{"digest": mr.Digest.String()}).Wrap(err)
	case errors.As(err, &mbe):
		return oci.Errorf(oci.CodeManifestInvalid, "body larger than %d bytes", mbe.Limit).
			WithStatus(http.StatusRequestEntityTooLarge).Wrap(err)
	case errors.Is(err, storage.ErrUploadUnknown):
		return oci.Errorf(oci.CodeBlobUploadUnknown, "upload unknown").Wrap(err)
	case errors.Is(err, storage.ErrDigestMismatch):
		return oci.Errorf(oci.CodeDigestInvalid, "content does not match digest").Wrap(err)
	case errors.Is(err, storage.ErrSizeMismatch):
		return oci.Errorf(oci.CodeSizeInvalid, "content does not match size").Wrap(err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return oci.Errorf(oci.CodeBlobUploadInvalid, "request body ended early").Wrap(err)
	case errors.Is(err, storage.ErrOffset):
		return oci.Errorf(oci.CodeRangeInvalid, "chunk does not start where the upload ends").Wrap(err)
	case errors.Is(err, metadata.ErrRepoNotFound):
		return oci.Errorf(oci.CodeNameUnknown, "repository not found").Wrap(err)
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, metadata.ErrNotFound):
		return oci.Errorf(oci.CodeNameUnknown, "not found").WithStatus(http.StatusNotFound).Wrap(err)
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return oci.Errorf(oci.CodeInternal, "request canceled").WithStatus(499).Wrap(err)
	}
	return oci.AsError(err)
}
