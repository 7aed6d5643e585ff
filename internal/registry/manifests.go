package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// getManifest serves GET and HEAD of a manifest by tag or digest: one
// metadata read and no write; a GET is remembered as a pull in memory.
func (r *Registry) getManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	m, err := r.lookupManifest(req.Context(), rt)
	if err != nil {
		return err
	}
	if err := r.checkRead(req.Context(), rt, m); err != nil {
		return err
	}
	if r.opts.Gate != nil {
		if err := r.opts.Gate.CheckPull(req, rt.name, rt.ref, m); err != nil {
			return err
		}
	}
	h := w.Header()
	etag := `"` + m.Digest.String() + `"`
	h.Set("Docker-Content-Digest", m.Digest.String())
	h.Set("ETag", etag)
	if inm := req.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if req.Method == http.MethodGet {
		now := time.Now()
		r.pulls.record(rt.name, m.Digest, now)
		if r.opts.PullObserver != nil {
			r.opts.PullObserver.ObservePull(req, rt.name, rt.ref, m.Digest, now)
		}
	}
	writeJSON(w, req, http.StatusOK, m.MediaType, m.Content)
	return nil
}

// lookupManifest resolves a reference: a digest (any supported algorithm)
// or a tag.
func (r *Registry) lookupManifest(ctx context.Context, rt route) (*metadata.Manifest, error) {
	var (
		m   *metadata.Manifest
		err error
	)
	if oci.IsDigest(rt.ref) {
		d, perr := parseDigest(rt.ref)
		if perr != nil {
			return nil, perr
		}
		m, err = r.opts.Meta.Manifest(ctx, rt.name, d)
	} else {
		if !oci.ValidTag(rt.ref) {
			return nil, oci.Errorf(oci.CodeManifestUnknown, "invalid tag %.150q", rt.ref).WithStatus(http.StatusNotFound)
		}
		m, err = r.opts.Meta.TaggedManifest(ctx, rt.name, rt.ref)
	}
	if err != nil {
		if errors.Is(err, metadata.ErrRepoNotFound) {
			return nil, oci.Errorf(oci.CodeManifestUnknown, "manifest unknown").Wrap(err)
		}
		return nil, missing(err, oci.CodeManifestUnknown, "manifest")
	}
	return m, nil
}

// putManifest serves PUT of a manifest by tag or by digest (optionally with
// ?tag= parameters). The body is bounded by MaxManifestBytes, validated,
// and stored with its tags in one metadata transaction, which also checks
// that every referenced blob and child manifest is in the repository.
func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	var (
		tags []string
		want digest.Digest
	)
	if oci.IsDigest(rt.ref) {
		d, err := parseDigest(rt.ref)
		if err != nil {
			return err
		}
		want = d
	} else {
		if !oci.ValidTag(rt.ref) {
			return oci.Errorf(oci.CodeManifestInvalid, "invalid tag %.150q", rt.ref)
		}
		tags = append(tags, rt.ref)
	}
	for _, t := range req.URL.Query()["tag"] {
		if !oci.ValidTag(t) {
			return oci.Errorf(oci.CodeManifestInvalid, "invalid tag %.150q", t)
		}
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	body, err := r.readManifest(w, req)
	if err != nil {
		return err
	}
	d := digest.Canonical.FromBytes(body)
	if want != "" {
		if d = want.Algorithm().FromBytes(body); d != want {
			return oci.Errorf(oci.CodeDigestInvalid, "manifest does not hash to %s", want)
		}
	}
	p, err := parseManifest(body, req.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	m := &metadata.Manifest{
		Repo:         rt.name,
		Digest:       d,
		MediaType:    p.mediaType,
		ArtifactType: p.artifactType,
		Size:         int64(len(body)),
		Subject:      p.subject,
		Annotations:  p.annotations,
		Content:      body,
		Blobs:        p.blobs,
		Children:     p.children,
		PushedAt:     time.Now().UTC(),
	}
	if err := r.checkPut(req.Context(), rt.name, d, tags); err != nil {
		return err
	}
	if err := r.admitManifest(req.Context(), rt.name); err != nil {
		return err
	}
	if err := r.opts.Meta.PutManifest(req.Context(), m, tags); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", "/v2/"+rt.name+"/manifests/"+d.String())
	h.Set("Docker-Content-Digest", d.String())
	if p.subject != "" {
		h.Set("OCI-Subject", p.subject.String())
	}
	// Tags given as parameters are echoed so a client knows they were applied.
	if want != "" && len(tags) > 0 {
		h.Set("OCI-Tag", strings.Join(tags, ", "))
	}
	writeEmpty(w, http.StatusCreated)
	return nil
}

// readManifest reads the body, refusing with 413 anything over the cap
// before reading it when the length is declared, and while reading if not.
func (r *Registry) readManifest(w http.ResponseWriter, req *http.Request) ([]byte, error) {
	limit := r.opts.MaxManifestBytes
	if req.ContentLength > limit {
		return nil, oci.Errorf(oci.CodeManifestInvalid, "manifest larger than %d bytes", limit).
			WithStatus(http.StatusRequestEntityTooLarge)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, oci.Errorf(oci.CodeManifestInvalid, "reading manifest: %v", err).Wrap(err)
	}
	if len(body) == 0 {
		return nil, manifestInvalid("empty manifest")
	}
	return body, nil
}

// deleteManifest serves DELETE by digest (the manifest and its tags) or by
// tag (only the tag).
func (r *Registry) deleteManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	if oci.IsDigest(rt.ref) {
		d, err := parseDigest(rt.ref)
		if err != nil {
			return err
		}
		if err := r.removeManifest(ctx, rt.name, d); err != nil {
			return notFoundManifest(err)
		}
	} else {
		if !oci.ValidTag(rt.ref) {
			return oci.Errorf(oci.CodeManifestUnknown, "invalid tag %.150q", rt.ref).WithStatus(http.StatusNotFound)
		}
		if err := r.removeTag(ctx, rt.name, rt.ref); err != nil {
			return notFoundManifest(err)
		}
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func notFoundManifest(err error) error {
	if errors.Is(err, metadata.ErrRepoNotFound) {
		return oci.Errorf(oci.CodeManifestUnknown, "manifest unknown").Wrap(err)
	}
	return missing(err, oci.CodeManifestUnknown, "manifest")
}

// etagMatches implements the weak comparison of If-None-Match.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
