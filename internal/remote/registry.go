package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// maxPages bounds any listing walk, so that a server whose Link headers
// loop cannot keep a client busy forever.
const maxPages = 100000

// manifestAccept lists the manifest types a HEAD or GET accepts.
var manifestAccept = strings.Join([]string{
	oci.MediaTypeImageManifest, oci.MediaTypeImageIndex, oci.MediaTypeDockerV2, oci.MediaTypeDockerList,
}, ", ")

// Descriptor is what a manifest HEAD or GET tells about the manifest.
type Descriptor struct {
	MediaType string
	Digest    digest.Digest
	Size      int64
}

// Catalog calls fn with each page of repository names from /v2/_catalog,
// following Link headers. n is the page size asked for; 0 lets the server
// choose.
func (c *Client) Catalog(ctx context.Context, n int, fn func(names []string) error) error {
	return c.walk(ctx, withN("/v2/_catalog", n), func(body []byte) error {
		var page struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("decoding catalog: %w", err)
		}
		return fn(page.Repositories)
	})
}

// Tags returns every tag of repo from /v2/<repo>/tags/list, following Link
// headers.
func (c *Client) Tags(ctx context.Context, repo string, n int) ([]string, error) {
	if !oci.ValidName(repo) {
		return nil, fmt.Errorf("invalid repository name %q", repo)
	}
	var all []string
	err := c.walk(ctx, withN("/v2/"+repo+"/tags/list", n), func(body []byte) error {
		var page struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("decoding tags of %s: %w", repo, err)
		}
		all = append(all, page.Tags...)
		return nil
	})
	return all, err
}

// walk GETs path and each next page, handing every body to fn.
func (c *Client) walk(ctx context.Context, path string, fn func(body []byte) error) error {
	for range maxPages {
		resp, err := c.do(ctx, http.MethodGet, path, jsonHeader())
		if err != nil {
			return err
		}
		if err := fn(resp.body); err != nil {
			return err
		}
		if path = nextLink(resp.header); path == "" {
			return nil
		}
	}
	return fmt.Errorf("listing %s: more than %d pages", path, maxPages)
}

func withN(path string, n int) string {
	if n <= 0 {
		return path
	}
	return path + "?n=" + strconv.Itoa(n)
}

// HeadManifest resolves ref (a tag or a digest) in repo without pulling it,
// so the registry records no pull.
func (c *Client) HeadManifest(ctx context.Context, repo, ref string) (Descriptor, error) {
	p, err := manifestPath(repo, ref)
	if err != nil {
		return Descriptor{}, err
	}
	resp, err := c.do(ctx, http.MethodHead, p, http.Header{"Accept": {manifestAccept}})
	if err != nil {
		return Descriptor{}, err
	}
	return describe(resp, ref)
}

// GetManifest pulls the manifest ref of repo and checks its digest when
// the registry names one or ref is a digest.
func (c *Client) GetManifest(ctx context.Context, repo, ref string) (Descriptor, []byte, error) {
	p, err := manifestPath(repo, ref)
	if err != nil {
		return Descriptor{}, nil, err
	}
	resp, err := c.do(ctx, http.MethodGet, p, http.Header{"Accept": {manifestAccept}})
	if err != nil {
		return Descriptor{}, nil, err
	}
	d, err := describe(resp, ref)
	if err != nil {
		return Descriptor{}, nil, err
	}
	actual := digest.FromBytes(resp.body)
	if d.Digest != "" && d.Digest.Algorithm() == digest.SHA256 && d.Digest != actual {
		return Descriptor{}, nil, fmt.Errorf("manifest %s:%s: body digest %s differs from %s", repo, ref, actual, d.Digest)
	}
	if d.Digest == "" {
		d.Digest = actual
	}
	d.Size = int64(len(resp.body))
	return d, resp.body, nil
}

func describe(resp *response, ref string) (Descriptor, error) {
	d := Descriptor{MediaType: resp.header.Get("Content-Type")}
	if s := resp.header.Get("Docker-Content-Digest"); s != "" {
		dg, err := oci.ParseDigest(s)
		if err != nil {
			return Descriptor{}, fmt.Errorf("Docker-Content-Digest %q: %w", s, err)
		}
		d.Digest = dg
	} else if oci.IsDigest(ref) {
		d.Digest = digest.Digest(ref)
	}
	if cl := resp.header.Get("Content-Length"); cl != "" {
		d.Size, _ = strconv.ParseInt(cl, 10, 64)
	}
	return d, nil
}

// DeleteTag removes tag from repo through the OCI API (DELETE
// /v2/<repo>/manifests/<tag>). Registries that cannot untag answer 400 or
// 405; the error says so.
func (c *Client) DeleteTag(ctx context.Context, repo, tag string) error {
	if !oci.ValidTag(tag) {
		return fmt.Errorf("invalid tag %q", tag)
	}
	return c.deleteManifest(ctx, repo, tag)
}

// DeleteManifest removes the manifest d from repo. On most registries that
// also removes every tag pointing at it.
func (c *Client) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("invalid digest %q: %w", d, err)
	}
	return c.deleteManifest(ctx, repo, d.String())
}

func (c *Client) deleteManifest(ctx context.Context, repo, ref string) error {
	p, err := manifestPath(repo, ref)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil)
	return err
}

func manifestPath(repo, ref string) (string, error) {
	if !oci.ValidName(repo) {
		return "", fmt.Errorf("invalid repository name %q", repo)
	}
	if ref == "" || strings.ContainsAny(ref, "/?#") {
		return "", fmt.Errorf("invalid reference %q", ref)
	}
	return "/v2/" + repo + "/manifests/" + url.PathEscape(ref), nil
}
