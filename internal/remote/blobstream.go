package remote

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// PushBlobFile uploads the file at path to repo without holding it in
// memory: a POST opens the upload (and answers the registry's challenge),
// one PUT streams the file with its digest. A blob the registry already has
// is not sent again.
func (c *Client) PushBlobFile(ctx context.Context, repo, path string) (digest.Digest, int64, error) {
	if !oci.ValidName(repo) {
		return "", 0, fmt.Errorf("invalid repository name %q", repo)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	dg := digest.Canonical.Digester()
	size, err := io.Copy(dg.Hash(), f)
	if err != nil {
		return "", 0, fmt.Errorf("hashing %s: %w", path, err)
	}
	d := dg.Digest()
	if _, err := c.do(ctx, http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), nil); err == nil {
		return d, size, nil
	}
	resp, err := c.send(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if err != nil {
		return "", 0, fmt.Errorf("opening upload to %s: %w", repo, err)
	}
	loc, err := c.sameHost(resp.header.Get("Location"))
	if err != nil {
		return "", 0, fmt.Errorf("upload to %s: %w", repo, err)
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	if err := c.stream(ctx, http.MethodPut, loc, http.Header{"Content-Type": {"application/octet-stream"}}, io.NopCloser(f), size, nil); err != nil {
		return "", 0, fmt.Errorf("pushing %s to %s: %w", path, repo, err)
	}
	return d, size, nil
}

// GetBlobTo copies blob d of repo into w, at most max bytes, and checks its
// digest. A HEAD first answers the registry's challenge, so that the
// streamed GET carries the credentials.
func (c *Client) GetBlobTo(ctx context.Context, repo string, d digest.Digest, w io.Writer, max int64) (int64, error) {
	if !oci.ValidName(repo) {
		return 0, fmt.Errorf("invalid repository name %q", repo)
	}
	if err := d.Validate(); err != nil {
		return 0, fmt.Errorf("invalid digest %q: %w", d, err)
	}
	p := "/v2/" + repo + "/blobs/" + d.String()
	if _, err := c.do(ctx, http.MethodHead, p, nil); err != nil {
		return 0, err
	}
	u, _ := c.base.Parse(p)
	var n int64
	err := c.stream(ctx, http.MethodGet, u, nil, nil, 0, func(body io.Reader) error {
		v := d.Verifier()
		var err error
		n, err = io.Copy(io.MultiWriter(w, v), io.LimitReader(body, max+1))
		if err != nil {
			return err
		}
		if n > max {
			return fmt.Errorf("blob %s is over %d bytes", d, max)
		}
		if !v.Verified() {
			return fmt.Errorf("blob %s: body does not match its digest", d)
		}
		return nil
	})
	return n, err
}

// sameHost resolves a Location against the base and refuses other hosts,
// as send refuses Link headers elsewhere.
func (c *Client) sameHost(loc string) (*url.URL, error) {
	if loc == "" {
		return nil, fmt.Errorf("no Location in the answer")
	}
	u, err := c.base.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("location %q: %w", loc, err)
	}
	if u.Host != c.base.Host || u.Scheme != c.base.Scheme {
		return nil, fmt.Errorf("refusing upload location %s: not on %s", u.Redacted(), c.base.Host)
	}
	return u, nil
}

// stream sends one request with a streamed body (not retried: the body
// cannot be sent twice) and hands a 2xx answer's body to read.
func (c *Client) stream(ctx context.Context, method string, u *url.URL, header http.Header, body io.ReadCloser, size int64, read func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if body != nil {
		req.ContentLength = size
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if v := c.auth.header(method, u.Path); v != "" {
		req.Header.Set("Authorization", v)
	}
	// The shared client's timeout would cut a large blob short; the
	// context bounds the transfer instead.
	hc := *c.opts.HTTPClient
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return &StatusError{Method: method, URL: u.Redacted(), Status: resp.StatusCode, Errors: oci.DecodeErrors(resp.StatusCode, b),
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	if read == nil {
		return nil
	}
	return read(resp.Body)
}
