package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// The types below are the client's reading of Berth's /api/v1 (docs/api.md);
// they are declared here rather than imported so that the client does not
// pull in the server.

// Repository is an entry of GET /api/v1/repositories.
type Repository struct {
	Name          string    `json:"name"`
	TagCount      int       `json:"tagCount"`
	ManifestCount int       `json:"manifestCount"`
	Size          int64     `json:"size"`
	Updated       time.Time `json:"updated"`
}

// TagInfo is an entry of GET /api/v1/repositories/{name}/tags.
type TagInfo struct {
	Name        string        `json:"name"`
	Digest      digest.Digest `json:"digest"`
	MediaType   string        `json:"mediaType"`
	Size        int64         `json:"size"`
	FirstPushed time.Time     `json:"firstPushed"`
	Updated     time.Time     `json:"updated"`
	LastPulled  *time.Time    `json:"lastPulled"`
}

// BlobInfo is a blob a listed manifest references.
type BlobInfo struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// ManifestInfo is an entry of GET /api/v1/repositories/{name}/manifests.
type ManifestInfo struct {
	Digest       digest.Digest   `json:"digest"`
	MediaType    string          `json:"mediaType"`
	ArtifactType string          `json:"artifactType"`
	Size         int64           `json:"size"`
	Subject      digest.Digest   `json:"subject"`
	Children     []digest.Digest `json:"children"`
	Blobs        []BlobInfo      `json:"blobs"`
	Tags         []string        `json:"tags"`
	Pushed       time.Time       `json:"pushed"`
	LastPulled   *time.Time      `json:"lastPulled"`
}

// Repositories lists every repository of a Berth server.
func (c *Client) Repositories(ctx context.Context) ([]Repository, error) {
	var all []Repository
	err := c.apiWalk(ctx, "/api/v1/repositories", func(body []byte) (string, error) {
		var page struct {
			Repositories []Repository `json:"repositories"`
			Next         string       `json:"next"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return "", fmt.Errorf("decoding repositories: %w", err)
		}
		all = append(all, page.Repositories...)
		return page.Next, nil
	})
	return all, err
}

// TagDetails calls fn with each page of repo's tags in name order, starting
// after the tag named after ("" for the first); fn returns false to stop.
// n is the page size asked for; 0 lets the server choose.
func (c *Client) TagDetails(ctx context.Context, repo, after string, n int, fn func([]TagInfo) bool) error {
	if !oci.ValidName(repo) {
		return fmt.Errorf("invalid repository name %q", repo)
	}
	q := url.Values{"orderby": {"name"}}
	if after != "" {
		q.Set("last", after)
	}
	if n > 0 {
		q.Set("n", fmt.Sprint(n))
	}
	path := "/api/v1/repositories/" + repo + "/tags?" + q.Encode()
	return c.apiWalk(ctx, path, func(body []byte) (string, error) {
		var page struct {
			Tags []TagInfo `json:"tags"`
			Next string    `json:"next"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return "", fmt.Errorf("decoding tags of %s: %w", repo, err)
		}
		if !fn(page.Tags) {
			return "", nil
		}
		return page.Next, nil
	})
}

// Manifests calls fn with each page of repo's manifests, tagged or not, in
// digest order after the digest after ("" for the first); fn returns false
// to stop. n is the page size asked for; 0 lets the server choose.
func (c *Client) Manifests(ctx context.Context, repo string, after digest.Digest, n int, fn func([]ManifestInfo) bool) error {
	if !oci.ValidName(repo) {
		return fmt.Errorf("invalid repository name %q", repo)
	}
	q := url.Values{}
	if after != "" {
		q.Set("last", after.String())
	}
	if n > 0 {
		q.Set("n", fmt.Sprint(n))
	}
	path := "/api/v1/repositories/" + repo + "/manifests"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.apiWalk(ctx, path, func(body []byte) (string, error) {
		var page struct {
			Manifests []ManifestInfo `json:"manifests"`
			Next      string         `json:"next"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return "", fmt.Errorf("decoding manifests of %s: %w", repo, err)
		}
		if !fn(page.Manifests) {
			return "", nil
		}
		return page.Next, nil
	})
}

// apiWalk follows the next links of /api/v1 listings; page returns the
// next link, or "" to stop.
func (c *Client) apiWalk(ctx context.Context, path string, page func(body []byte) (string, error)) error {
	for range maxPages {
		resp, err := c.do(ctx, "GET", path, jsonHeader())
		if err != nil {
			return err
		}
		next, err := page(resp.body)
		if err != nil {
			return fmt.Errorf("%w (body %q)", err, trimBody(resp.body))
		}
		if next == "" {
			return nil
		}
		path = next
	}
	return fmt.Errorf("listing %s: more than %d pages", path, maxPages)
}
