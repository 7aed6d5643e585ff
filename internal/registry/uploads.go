package registry

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/storage"
)

// startUpload serves POST /v2/<name>/blobs/uploads/: a cross-repository
// mount (?mount=&from=), a monolithic upload (?digest=) or the start of a
// resumable upload.
func (r *Registry) startUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	q := req.URL.Query()
	if q.Has("mount") {
		done, err := r.mount(w, req, rt.name, q.Get("mount"), q.Get("from"))
		if done || err != nil {
			return err
		}
		// The blob cannot be mounted: the spec says to start an upload instead.
	}
	ctx := req.Context()
	// Refuse before anything is written. A monolithic POST's declared size
	// is admitted, and reserved, where its body is written (appendBody).
	declared := req.ContentLength
	if q.Has("digest") {
		declared = 0
	}
	if err := r.admitBlob(ctx, rt.name, declared); err != nil {
		return err
	}
	if q.Has("digest") {
		d, err := parseDigest(q.Get("digest"))
		if err != nil {
			return err
		}
		info, err := r.opts.Blobs.Create(ctx, rt.name)
		if err != nil {
			return err
		}
		if err := r.finish(w, req, rt.name, info, d); err != nil {
			// The client was never told where this upload is: drop it.
			_ = r.opts.Blobs.Cancel(context.WithoutCancel(ctx), info.ID)
			return err
		}
		return nil
	}
	info, err := r.opts.Blobs.Create(ctx, rt.name)
	if err != nil {
		return err
	}
	writeUploadState(w, rt.name, info, http.StatusAccepted)
	return nil
}

// mount links an existing blob into name and answers 201. It returns false
// without answering when the blob is not available to mount.
func (r *Registry) mount(w http.ResponseWriter, req *http.Request, name, dgst, from string) (bool, error) {
	d, err := oci.ParseDigest(dgst)
	if err != nil {
		return false, nil // an unusable mount request is just an upload
	}
	ctx := req.Context()
	var size int64
	switch {
	case from == "":
		// Anonymous mount: any repository's blob will do.
		size, err = r.opts.Meta.FindBlob(ctx, d)
	case oci.ValidName(from):
		size, err = r.opts.Meta.StatBlob(ctx, from, d)
	default:
		return false, nil
	}
	if errors.Is(err, metadata.ErrNotFound) || errors.Is(err, metadata.ErrRepoNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// Metadata may outlive the bytes (a blob being collected): trust storage.
	if _, err := r.opts.Blobs.Stat(ctx, d); errors.Is(err, storage.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err := r.link(ctx, name, d, size); errors.Is(err, metadata.ErrBlobCollecting) {
		return false, nil // being collected: upload it instead
	} else if err != nil {
		return false, err
	}
	writeCommitted(w, name, d)
	return true, nil
}

// patchUpload serves PATCH: append a chunk, or the whole stream.
func (r *Registry) patchUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	info, err := r.upload(req.Context(), rt)
	if err != nil {
		return err
	}
	info, release, err := r.appendBody(w, req, rt.name, info)
	defer release()
	if err != nil {
		return err
	}
	writeUploadState(w, rt.name, info, http.StatusAccepted)
	return nil
}

// putUpload serves PUT ?digest=: append an optional last chunk and commit.
func (r *Registry) putUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := parseDigest(req.URL.Query().Get("digest"))
	if err != nil {
		return err
	}
	info, err := r.upload(req.Context(), rt)
	if err != nil {
		return err
	}
	return r.finish(w, req, rt.name, info, d)
}

// finish appends the request body, if any, commits the upload against d
// and links the blob into name.
func (r *Registry) finish(w http.ResponseWriter, req *http.Request, name string, info storage.UploadInfo, d digest.Digest) error {
	ctx := req.Context()
	if req.ContentLength != 0 {
		var (
			release func()
			err     error
		)
		info, release, err = r.appendBody(w, req, name, info)
		// Held until the blob is linked, when its bytes count as usage.
		defer release()
		if err != nil {
			return err
		}
	}
	size, err := r.opts.Blobs.Commit(ctx, info.ID, d)
	if err != nil {
		if errors.Is(err, storage.ErrDigestMismatch) || errors.Is(err, storage.ErrSizeMismatch) {
			// The bytes are gone with the failed commit; do not leave a
			// husk that can never succeed.
			_ = r.opts.Blobs.Cancel(context.WithoutCancel(ctx), info.ID)
		}
		return err
	}
	if err := r.link(ctx, name, d, size); err != nil {
		return err
	}
	writeCommitted(w, name, d)
	return nil
}

// uploadStatus serves GET: where the upload stands, so a client can resume.
func (r *Registry) uploadStatus(w http.ResponseWriter, req *http.Request, rt route) error {
	info, err := r.upload(req.Context(), rt)
	if err != nil {
		return err
	}
	writeUploadState(w, rt.name, info, http.StatusNoContent)
	return nil
}

// cancelUpload serves DELETE: forget the upload and its bytes.
func (r *Registry) cancelUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	info, err := r.upload(req.Context(), rt)
	if err != nil {
		return err
	}
	if err := r.opts.Blobs.Cancel(req.Context(), info.ID); err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}

// upload returns the state of the upload a route names. An upload belongs
// to the repository it was created in: another repository's is unknown here.
func (r *Registry) upload(ctx context.Context, rt route) (storage.UploadInfo, error) {
	if !validUploadID(rt.ref) {
		return storage.UploadInfo{}, oci.Errorf(oci.CodeBlobUploadUnknown, "upload unknown")
	}
	info, err := r.opts.Blobs.Status(ctx, rt.ref)
	if err != nil {
		return storage.UploadInfo{}, err
	}
	if info.Repo != rt.name {
		return storage.UploadInfo{}, oci.Errorf(oci.CodeBlobUploadUnknown, "upload unknown")
	}
	return info, nil
}

// appendBody streams the request body into the upload. A Content-Range
// must start where the upload ends; anything else is an out-of-order chunk
// and is refused with 416 and the current state, so the client can resume.
//
// A declared length is admitted against the quotas with the upload's bytes
// so far and reserved until the caller calls release (never nil).
func (r *Registry) appendBody(w http.ResponseWriter, req *http.Request, name string, info storage.UploadInfo) (storage.UploadInfo, func(), error) {
	release := func() {}
	if cr := req.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok || start != info.Size || (req.ContentLength >= 0 && end-start+1 != req.ContentLength) {
			setUploadHeaders(w, name, info)
			return info, release, oci.Errorf(oci.CodeRangeInvalid, "chunk range %.64q does not continue upload at %d", cr, info.Size)
		}
	}
	if req.ContentLength > 0 {
		var err error
		if release, err = r.reserveBlob(req.Context(), name, info.Size+req.ContentLength); err != nil {
			// The upload cannot finish: drop it rather than leave it behind.
			_ = r.opts.Blobs.Cancel(context.WithoutCancel(req.Context()), info.ID)
			return info, release, err
		}
	}
	next, err := r.opts.Blobs.Append(req.Context(), info.ID, info.Size, req.Body)
	if errors.Is(err, storage.ErrOffset) {
		setUploadHeaders(w, name, info)
	}
	// Storage keeps whatever arrived so the client can resume; a body that
	// ended before its declared length must still not look like success.
	if err == nil && req.ContentLength >= 0 && next.Size-info.Size != req.ContentLength {
		setUploadHeaders(w, name, next)
		return next, release, oci.Errorf(oci.CodeSizeInvalid, "chunk ended after %d of %d bytes; resume at %d", next.Size-info.Size, req.ContentLength, next.Size)
	}
	return next, release, err
}

// parseContentRange parses the "<start>-<end>" of a chunk, tolerating the
// "bytes " prefix some clients send.
func parseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "bytes "), "bytes=")
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

// validUploadID keeps IDs to a safe alphabet before they reach storage,
// which may build file names from them.
func validUploadID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

// setUploadHeaders describes an upload: where to continue and what the
// registry holds. An empty upload reports "0-0", as distribution does.
func setUploadHeaders(w http.ResponseWriter, name string, info storage.UploadInfo) {
	h := w.Header()
	h.Set("Location", uploadLocation(name, info.ID))
	h.Set("Range", "0-"+strconv.FormatInt(max(info.Size-1, 0), 10))
	h.Set("Docker-Upload-UUID", info.ID)
}

func writeUploadState(w http.ResponseWriter, name string, info storage.UploadInfo, status int) {
	setUploadHeaders(w, name, info)
	writeEmpty(w, status)
}

func writeCommitted(w http.ResponseWriter, name string, d digest.Digest) {
	h := w.Header()
	h.Set("Location", blobLocation(name, d))
	h.Set("Docker-Content-Digest", d.String())
	writeEmpty(w, http.StatusCreated)
}
