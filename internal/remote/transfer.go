package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// The primitives berth copy and the server-side import are built from:
// existence checks, the referrers API, manifest puts that report whether
// the registry took the subject, and blobs streamed from one registry into
// another (or mounted within one).

// BlobExists reports whether repo has blob d, by HEAD.
func (c *Client) BlobExists(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	if !oci.ValidName(repo) {
		return false, fmt.Errorf("invalid repository name %q", repo)
	}
	if err := d.Validate(); err != nil {
		return false, fmt.Errorf("invalid digest %q: %w", d, err)
	}
	_, err := c.do(ctx, http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), nil)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// ReferrerDescriptor is one entry of a referrers index.
type ReferrerDescriptor struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// referrersIndex is the body of the referrers API and of a fallback tag.
type referrersIndex struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Manifests     []ReferrerDescriptor `json:"manifests"`
}

// Referrers lists the referrers of d in repo through the referrers API.
// api is false when the registry has none (it answers 404 or 400 to the
// endpoint); its referrers then live under the fallback tag
// sha256-<hex>, which FallbackReferrers reads.
func (c *Client) Referrers(ctx context.Context, repo string, d digest.Digest) (refs []ReferrerDescriptor, api bool, err error) {
	if !oci.ValidName(repo) {
		return nil, false, fmt.Errorf("invalid repository name %q", repo)
	}
	if err := d.Validate(); err != nil {
		return nil, false, fmt.Errorf("invalid digest %q: %w", d, err)
	}
	resp, err := c.do(ctx, http.MethodGet, "/v2/"+repo+"/referrers/"+d.String(), http.Header{"Accept": {oci.MediaTypeImageIndex}})
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusBadRequest || se.Status == http.StatusMethodNotAllowed) {
			return nil, false, nil
		}
		return nil, false, err
	}
	var idx referrersIndex
	if err := json.Unmarshal(resp.body, &idx); err != nil {
		return nil, true, fmt.Errorf("decoding referrers of %s@%s: %w", repo, d, err)
	}
	return idx.Manifests, true, nil
}

// FallbackTag is the tag registries without the referrers API keep the
// referrers of d under (OCI distribution spec, referrers tag schema).
func FallbackTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded()
}

// FallbackReferrers reads the fallback tag of d; none is no referrers.
func (c *Client) FallbackReferrers(ctx context.Context, repo string, d digest.Digest) ([]ReferrerDescriptor, error) {
	_, body, err := c.GetManifest(ctx, repo, FallbackTag(d))
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var idx referrersIndex
	if err := json.Unmarshal(body, &idx); err != nil {
		return nil, fmt.Errorf("decoding fallback tag %s of %s: %w", FallbackTag(d), repo, err)
	}
	return idx.Manifests, nil
}

// AddFallbackReferrer adds r to the fallback tag of subject in repo,
// creating the tag; an entry already there is left alone. Two writers at
// once can lose an entry, as with any client of the tag schema.
func (c *Client) AddFallbackReferrer(ctx context.Context, repo string, subject digest.Digest, r ReferrerDescriptor) error {
	refs, err := c.FallbackReferrers(ctx, repo, subject)
	if err != nil {
		return err
	}
	for _, x := range refs {
		if x.Digest == r.Digest {
			return nil
		}
	}
	body, err := json.Marshal(referrersIndex{SchemaVersion: 2, MediaType: oci.MediaTypeImageIndex, Manifests: append(refs, r)})
	if err != nil {
		return err
	}
	_, err = c.PutManifest(ctx, repo, FallbackTag(subject), oci.MediaTypeImageIndex, body)
	return err
}

// PutManifest puts body as ref of repo, exactly these bytes so that the
// digest is kept, and reports whether the registry took the manifest's
// subject (it answers OCI-Subject when it serves the referrers API).
func (c *Client) PutManifest(ctx context.Context, repo, ref, mediaType string, body []byte) (subjectTaken bool, err error) {
	p, err := manifestPath(repo, ref)
	if err != nil {
		return false, err
	}
	if len(body) > maxPushBytes {
		return false, fmt.Errorf("pushing manifest to %s: %d bytes is too large", repo, len(body))
	}
	resp, err := c.send(ctx, http.MethodPut, p, http.Header{"Content-Type": {mediaType}}, body)
	if err != nil {
		return false, fmt.Errorf("pushing manifest %s:%s: %w", repo, ref, err)
	}
	return resp.header.Get("OCI-Subject") != "", nil
}

// BlobMove says how a blob reached the destination.
type BlobMove int

const (
	BlobCopied  BlobMove = iota // streamed from the source
	BlobMounted                 // linked from the source repository, same registry
)

// CopyBlob streams blob d of size bytes from srcRepo of src into dstRepo of
// dst, never holding it whole: the source's body is the upload's body, its
// digest and size checked on the way (the destination checks them too).
// When src and dst are the same registry a cross-repository mount is tried
// first. The transfer is one attempt; the caller retries.
func CopyBlob(ctx context.Context, src *Client, srcRepo string, dst *Client, dstRepo string, d digest.Digest, size int64) (BlobMove, error) {
	if !oci.ValidName(srcRepo) || !oci.ValidName(dstRepo) {
		return 0, fmt.Errorf("invalid repository name %q or %q", srcRepo, dstRepo)
	}
	if err := d.Validate(); err != nil {
		return 0, fmt.Errorf("invalid digest %q: %w", d, err)
	}
	if size < 0 {
		return 0, fmt.Errorf("blob %s: negative size", d)
	}
	start := "/v2/" + dstRepo + "/blobs/uploads/"
	mount := src.Base() == dst.Base() && srcRepo != dstRepo
	p := start
	if mount {
		p += "?" + url.Values{"mount": {d.String()}, "from": {srcRepo}}.Encode()
	}
	resp, err := dst.send(ctx, http.MethodPost, p, nil, nil)
	if err != nil {
		return 0, fmt.Errorf("opening upload of %s to %s: %w", d, dstRepo, err)
	}
	if resp.status == http.StatusCreated {
		return BlobMounted, nil
	}
	if mount && dst.auth.header(http.MethodPut, start) == "" {
		// The mount was refused and its token covers the mount's scopes:
		// the streamed PUT (which cannot answer a 401) needs the upload's
		// own, which a plain POST gets. The first session expires unused.
		if resp, err = dst.send(ctx, http.MethodPost, start, nil, nil); err != nil {
			return 0, fmt.Errorf("opening upload of %s to %s: %w", d, dstRepo, err)
		}
	}
	loc, err := dst.sameHost(resp.header.Get("Location"))
	if err != nil {
		return 0, fmt.Errorf("upload of %s to %s: %w", d, dstRepo, err)
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()

	// The HEAD answers the source's challenge, so the streamed GET (which
	// cannot be replayed after a 401) carries a token.
	p = "/v2/" + srcRepo + "/blobs/" + d.String()
	if _, err := src.do(ctx, http.MethodHead, p, nil); err != nil {
		return 0, err
	}
	u, _ := src.base.Parse(p)
	err = src.stream(ctx, http.MethodGet, u, nil, nil, 0, func(body io.Reader) error {
		vr := &verifyingReader{r: body, d: d, h: d.Algorithm().Hash(), left: size}
		return dst.stream(ctx, http.MethodPut, loc, http.Header{"Content-Type": {"application/octet-stream"}}, io.NopCloser(vr), size, nil)
	})
	if err != nil {
		return 0, fmt.Errorf("copying blob %s to %s: %w", d, dstRepo, err)
	}
	return BlobCopied, nil
}

// errCorruptBlob marks a source blob that is not what its descriptor
// says: another attempt would read the same bytes.
var errCorruptBlob = errors.New("corrupt blob")

// verifyingReader passes a blob through and fails the read that ends it if
// the bytes are more or fewer than declared or do not match the digest,
// so that a corrupt source aborts the upload instead of completing it.
type verifyingReader struct {
	r    io.Reader
	d    digest.Digest
	h    hash.Hash
	left int64
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if int64(len(p)) > v.left+1 {
		p = p[:v.left+1]
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.left -= int64(n)
	if v.left < 0 {
		return n, fmt.Errorf("blob %s: longer than its descriptor says: %w", v.d, errCorruptBlob)
	}
	if err == io.EOF {
		if v.left > 0 {
			return n, fmt.Errorf("blob %s: %d bytes short: %w", v.d, v.left, io.ErrUnexpectedEOF)
		}
		if got := digest.NewDigest(v.d.Algorithm(), v.h); got != v.d {
			return n, fmt.Errorf("blob %s: content has digest %s: %w", v.d, got, errCorruptBlob)
		}
	}
	return n, err
}

// OpenBlob opens blob d of repo for streaming; the caller closes it and
// verifies what it reads (the scanner does, layer by layer). A HEAD first
// answers the registry's challenge, so that the GET carries credentials.
func (c *Client) OpenBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, error) {
	if !oci.ValidName(repo) {
		return nil, fmt.Errorf("invalid repository name %q", repo)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("invalid digest %q: %w", d, err)
	}
	p := "/v2/" + repo + "/blobs/" + d.String()
	if _, err := c.do(ctx, http.MethodHead, p, nil); err != nil {
		return nil, err
	}
	u, _ := c.base.Parse(p)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if v := c.auth.header(http.MethodGet, u.Path); v != "" {
		req.Header.Set("Authorization", v)
	}
	// The shared client's timeout would cut a large blob short; the
	// context bounds the read.
	hc := *c.opts.HTTPClient
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, &StatusError{Method: http.MethodGet, URL: u.Redacted(), Status: resp.StatusCode, Errors: oci.DecodeErrors(resp.StatusCode, b)}
	}
	return resp.Body, nil
}
