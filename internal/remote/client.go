// Package remote talks to registries over HTTP: the OCI Distribution API
// that every registry serves (catalog, tags, manifests, deletes) and Berth's
// own /api/v1, which adds what the OCI API lacks (push and pull times,
// untagged manifests). Source adapts a Berth server to the retention
// engine.
//
// Every request is retried on 429 and 5xx with exponential backoff,
// honouring Retry-After within a bound, and every response body is read
// through a limit.
package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/oci"
)

// Limits on what a server may send back.
const (
	// maxBody bounds a listing page or a manifest.
	maxBody = 8 << 20
	// maxErrorBody bounds an error answer; more is not an error message.
	maxErrorBody = 64 << 10
)

// Options tune a Client. The zero value is usable.
type Options struct {
	// HTTPClient sends the requests; nil means a client with a 60s timeout.
	HTTPClient *http.Client
	// Retries is how many times a request answered 429 or 5xx, or failing
	// to connect, is sent again; 0 means 4, negative means none.
	Retries int
	// MinBackoff is the first wait between attempts, doubled each time;
	// 0 means 500ms.
	MinBackoff time.Duration
	// MaxBackoff caps any wait, Retry-After included; 0 means 30s.
	MaxBackoff time.Duration
	// UserAgent is sent with every request; "" means "berth".
	UserAgent string
	// Credential answers the registry's 401 challenges (Basic, or a
	// Bearer token flow); the zero value stays anonymous.
	Credential Credential
}

// Client is a registry at one base URL, safe for concurrent use.
type Client struct {
	base *url.URL
	opts Options
	auth *authorizer
}

// New returns a client for the registry at base, such as
// http://127.0.0.1:5000. Only http and https are accepted; the path must be
// empty because the APIs live at fixed paths.
func New(base string, opts Options) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("registry URL %q: %w", base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("registry URL %q: want http://host[:port] or https://host[:port]", base)
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("registry URL %q: must have no path, query or credentials", base)
	}
	u.Path, u.RawPath = "", ""
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	switch {
	case opts.Retries == 0:
		opts.Retries = 4
	case opts.Retries < 0:
		opts.Retries = 0
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "berth"
	}
	c := &Client{base: u, opts: opts}
	c.auth = newAuthorizer(opts.Credential, u, opts.HTTPClient, opts.UserAgent)
	return c, nil
}

// Base is the registry's base URL.
func (c *Client) Base() string { return c.base.String() }

// StatusError is a response outside 2xx. Errors holds the OCI error body
// when the server sent one.
type StatusError struct {
	Method string
	URL    string
	Status int
	Errors *oci.Errors
	// RetryAfter is the answer's Retry-After, for callers that retry a
	// streamed request themselves; zero when absent.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := http.StatusText(e.Status)
	if e.Errors != nil && len(e.Errors.Errors) > 0 {
		parts := make([]string, len(e.Errors.Errors))
		for i, oe := range e.Errors.Errors {
			parts[i] = string(oe.Code) + ": " + oe.Message
		}
		msg = strings.Join(parts, "; ")
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, msg)
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}

// response is a completed exchange with its body read.
type response struct {
	// sentAuth is the Authorization the request carried.
	sentAuth string
	status   int
	header   http.Header
	body     []byte
}

// do sends a request to path (with its query) and reads the answer. A
// non-2xx answer becomes a *StatusError once retries are spent.
func (c *Client) do(ctx context.Context, method, path string, header http.Header) (*response, error) {
	return c.send(ctx, method, path, header, nil)
}

// send is do with a request body, sent again on each attempt.
func (c *Client) send(ctx context.Context, method, path string, header http.Header, body []byte) (*response, error) {
	u, err := c.base.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("building URL for %q: %w", path, err)
	}
	if u.Host != c.base.Host || u.Scheme != c.base.Scheme {
		// A Link header pointing elsewhere is not followed: the registry
		// could send our requests to any host.
		return nil, fmt.Errorf("refusing to follow %s: not on %s", u.Redacted(), c.base.Host)
	}
	answered := false
	for attempt := 0; ; attempt++ {
		resp, err := c.once(ctx, method, u, header, body)
		if err == nil && resp.status == http.StatusUnauthorized && !answered {
			// One answer to the challenge per request: a second 401 means
			// the credentials were refused.
			answered = true
			if aerr := c.auth.answer(ctx, method, authPath(u), resp.sentAuth, resp.header); aerr != nil {
				return nil, fmt.Errorf("%s %s: authenticating: %w", method, u.Redacted(), aerr)
			}
			attempt--
			continue
		}
		retry := err != nil && ctx.Err() == nil
		var wait time.Duration
		if err == nil && (resp.status == http.StatusTooManyRequests || resp.status >= 500) {
			retry = true
			wait = retryAfter(resp.header.Get("Retry-After"), time.Now())
		}
		if !retry || attempt >= c.opts.Retries {
			if err != nil {
				return nil, err
			}
			if resp.status < 200 || resp.status > 299 {
				return nil, &StatusError{Method: method, URL: u.Redacted(), Status: resp.status, Errors: oci.DecodeErrors(resp.status, resp.body),
					RetryAfter: retryAfter(resp.header.Get("Retry-After"), time.Now())}
			}
			return resp, nil
		}
		if wait <= 0 {
			wait = c.opts.MinBackoff << min(attempt, 20)
		}
		wait = min(wait, c.opts.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %s: waiting to retry: %w", method, u.Redacted(), ctx.Err())
		case <-t.C:
		}
	}
}

func (c *Client) once(ctx context.Context, method string, u *url.URL, header http.Header, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if v := c.auth.header(method, authPath(u)); v != "" {
		req.Header.Set("Authorization", v)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	limit := int64(maxBody)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		limit = maxErrorBody
	}
	got, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", method, u.Redacted(), err)
	}
	if int64(len(got)) > limit {
		if limit == maxErrorBody {
			got = got[:limit] // an error is still an error; its message is cut
		} else {
			return nil, fmt.Errorf("%s %s: body exceeds %d bytes", method, u.Redacted(), limit)
		}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: got, sentAuth: req.Header.Get("Authorization")}, nil
}

// authPath is what the authorizer sees of a URL: the path, and the query
// when there is one (a cross-repository mount needs the source's scope).
func authPath(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Path
	}
	return u.Path + "?" + u.RawQuery
}

// retryAfter reads a Retry-After header: seconds or an HTTP date. Zero
// when absent or unreadable, so the caller falls back to its backoff.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// nextLink returns the target of a Link header's rel="next", or "".
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Trim(val, `"`) == "next" {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

// jsonHeader asks for JSON.
func jsonHeader() http.Header { return http.Header{"Accept": {"application/json"}} }

// trimBody is for error messages that quote a body.
func trimBody(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
