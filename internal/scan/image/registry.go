package image

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// Caps on what a registry may send besides blobs, which are verified.
const (
	maxErrorBody = 4 << 10
	maxTokenBody = 1 << 20
)

// manifestAccept is every manifest type the scanner understands.
var manifestAccept = strings.Join([]string{
	oci.MediaTypeImageIndex, oci.MediaTypeImageManifest, oci.MediaTypeDockerList, oci.MediaTypeDockerV2,
}, ", ")

// Reference is a parsed registry reference.
type Reference struct {
	Host string // registry host[:port]
	Repo string
	Tag  string
	// Digest, when set, wins over Tag (as in docker pull name:tag@digest).
	Digest digest.Digest
}

// ParseReference parses HOST[:PORT]/REPO[:TAG][@DIGEST]. As with docker,
// a first component without '.' or ':' that is not localhost is a Docker
// Hub repository, and a one-component Hub name is under library/.
func ParseReference(s string) (Reference, error) {
	var r Reference
	rest := s
	if i := strings.Index(rest, "@"); i >= 0 {
		d, err := oci.ParseDigest(rest[i+1:])
		if err != nil {
			return Reference{}, fmt.Errorf("reference %q: %w", s, err)
		}
		r.Digest, rest = d, rest[:i]
	}
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		r.Tag, rest = rest[i+1:], rest[:i]
		if !oci.ValidTag(r.Tag) {
			return Reference{}, fmt.Errorf("reference %q: invalid tag %q", s, r.Tag)
		}
	}
	host, repo, ok := strings.Cut(rest, "/")
	if !ok || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		host, repo = "registry-1.docker.io", rest
		if !strings.Contains(repo, "/") {
			repo = "library/" + repo
		}
	}
	if !oci.ValidName(repo) {
		return Reference{}, fmt.Errorf("reference %q: invalid repository name %q", s, repo)
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	r.Host, r.Repo = host, repo
	return r, nil
}

// ref is what goes in the manifests URL.
func (r Reference) ref() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// isLoopback reports whether host[:port] names this machine.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// client is a minimal anonymous OCI pull client: manifests by reference,
// blobs streamed, and the anonymous bearer-token dance public registries
// (Docker Hub, ghcr.io) require even for public images.
type client struct {
	base  string
	repo  string
	hc    *http.Client
	mu    sync.Mutex
	token string
	// first is the manifest fetched by tag, kept so resolve does not
	// fetch it twice.
	first map[digest.Digest][]byte
}

func openRegistry(ctx context.Context, s string, opts Options) (*Image, error) {
	r, err := ParseReference(s)
	if err != nil {
		return nil, err
	}
	scheme := "https"
	if opts.Insecure || isLoopback(r.Host) {
		scheme = "http"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	c := &client{base: scheme + "://" + r.Host, repo: r.Repo, hc: &http.Client{Transport: tr}, first: map[digest.Digest][]byte{}}
	d, err := c.top(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	im, err := resolve(ctx, c, d, opts.platform())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return im, nil
}

// top fetches the manifest the reference names and describes it.
func (c *client) top(ctx context.Context, r Reference) (descriptor, error) {
	resp, err := c.get(ctx, "/v2/"+c.repo+"/manifests/"+url.PathEscape(r.ref()), manifestAccept)
	if err != nil {
		return descriptor{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSON+1))
	if err != nil {
		return descriptor{}, fmt.Errorf("reading manifest: %w", err)
	}
	if len(b) > maxJSON {
		return descriptor{}, fmt.Errorf("manifest larger than %d bytes", maxJSON)
	}
	d := descriptor{MediaType: resp.Header.Get("Content-Type"), Digest: r.Digest, Size: int64(len(b))}
	if d.Digest == "" {
		d.Digest = digest.FromBytes(b)
	}
	if !oci.IsManifest(d.MediaType) {
		d.MediaType = oci.MediaTypeImageManifest
	}
	c.first[d.Digest] = b
	return d, nil
}

func (c *client) fetch(ctx context.Context, d descriptor) (io.ReadCloser, error) {
	if b, ok := c.first[d.Digest]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	if oci.IsManifest(d.MediaType) {
		resp, err := c.get(ctx, "/v2/"+c.repo+"/manifests/"+d.Digest.String(), manifestAccept)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	}
	resp, err := c.get(ctx, "/v2/"+c.repo+"/blobs/"+d.Digest.String(), "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// get sends a GET, getting an anonymous token once if challenged. A
// non-2xx answer is an error; a 2xx answer's body is the caller's to close.
func (c *client) get(ctx context.Context, p, accept string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+p, nil)
		if err != nil {
			return nil, fmt.Errorf("building request: %w", err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		req.Header.Set("User-Agent", "berth-scan")
		c.mu.Lock()
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		c.mu.Unlock()
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
		}
		if resp.StatusCode/100 == 2 {
			return resp, nil
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			if err := c.anonymousToken(ctx, resp.Header.Get("WWW-Authenticate")); err != nil {
				return nil, fmt.Errorf("GET %s: 401 and no anonymous access: %w", req.URL.Redacted(), err)
			}
			continue
		}
		err = fmt.Errorf("GET %s: %s: %s", req.URL.Redacted(), resp.Status, strings.TrimSpace(string(msg)))
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w (%w)", ErrNotFound, err)
		}
		return nil, err
	}
}

// anonymousToken answers a Bearer challenge without credentials.
func (c *client) anonymousToken(ctx context.Context, challenge string) error {
	scheme, params, _ := strings.Cut(challenge, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return fmt.Errorf("challenge %q is not Bearer; credentials are not supported yet", challenge)
	}
	kv := parseChallenge(params)
	realm, err := url.Parse(kv["realm"])
	if err != nil || (realm.Scheme != "https" && !(realm.Scheme == "http" && strings.HasPrefix(c.base, "http:"))) {
		return fmt.Errorf("token realm %q not usable", kv["realm"])
	}
	q := realm.Query()
	for _, k := range []string{"service", "scope"} {
		if kv[k] != "" {
			q.Set(k, kv[k])
		}
	}
	if q.Get("scope") == "" {
		q.Set("scope", "repository:"+c.repo+":pull")
	}
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return fmt.Errorf("building token request: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("token: %s: %w", resp.Status, errors.Join(err, errors.New(strings.TrimSpace(string(b[:min(len(b), maxErrorBody)])))))
	}
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	c.mu.Lock()
	c.token = cmp.Or(tok.Token, tok.AccessToken)
	c.mu.Unlock()
	return nil
}

// parseChallenge parses k="v",k2="v2" (quoted values may hold commas).
func parseChallenge(s string) map[string]string {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				break
			}
			v, rest = rest[1:1+end], rest[2+end:]
		} else {
			v, rest, _ = strings.Cut(rest, ",")
			rest = "," + rest
		}
		out[k] = v
		s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ","))
	}
	return out
}
