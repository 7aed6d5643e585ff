package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// ACRTag is an entry of Azure Container Registry's GET
// /acr/v1/{repo}/_tags, in the shape recorded in docs/fleet.md.
type ACRTag struct {
	Name                 string        `json:"name"`
	Digest               digest.Digest `json:"digest"`
	CreatedTime          time.Time     `json:"createdTime"`
	LastUpdateTime       time.Time     `json:"lastUpdateTime"`
	Signed               bool          `json:"signed"`
	ChangeableAttributes struct {
		DeleteEnabled *bool `json:"deleteEnabled"`
		WriteEnabled  *bool `json:"writeEnabled"`
	} `json:"changeableAttributes"`
}

// locked is ACR's delete lock (az acr repository update --delete-enabled
// false).
func (t ACRTag) locked() bool {
	d := t.ChangeableAttributes.DeleteEnabled
	return d != nil && !*d
}

// acrPage is ACR's page size limit for _tags.
const acrPage = 100

// ACRTags calls fn with each page of repo's tags from ACR's metadata API,
// following Link headers: the one OCI-adjacent API that says when a tag
// last moved.
func (c *Client) ACRTags(ctx context.Context, repo string, fn func([]ACRTag) error) error {
	if !oci.ValidName(repo) {
		return fmt.Errorf("invalid repository name %q", repo)
	}
	return c.walk(ctx, fmt.Sprintf("/acr/v1/%s/_tags?n=%d", repo, acrPage), func(body []byte) error {
		var page struct {
			Tags []ACRTag `json:"tags"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("decoding ACR tags of %s: %w (body %q)", repo, err, trimBody(body))
		}
		return fn(page.Tags)
	})
}

// ACRUntag removes tag from repo through ACR's metadata API (DELETE
// /acr/v1/{repo}/_tags/{tag}, what az acr repository untag calls), leaving
// the manifest.
func (c *Client) ACRUntag(ctx context.Context, repo, tag string) error {
	if !oci.ValidName(repo) || !oci.ValidTag(tag) {
		return fmt.Errorf("invalid tag %s:%s", repo, tag)
	}
	_, err := c.do(ctx, http.MethodDelete, "/acr/v1/"+repo+"/_tags/"+tag, nil)
	return err
}
