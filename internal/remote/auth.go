package remote

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/oci"
)

// ACRTokenUser is the user name az acr login --expose-token prints: the
// password next to it is an ACR refresh token, not a password.
const ACRTokenUser = "00000000-0000-0000-0000-000000000000"

// maxTokenBody bounds a token endpoint's answer.
const maxTokenBody = 1 << 20

// Credential is what the client presents to a registry. The zero value is
// anonymous.
type Credential struct {
	Username string
	Password string
	// IdentityToken is an OAuth2 refresh token (docker's identitytoken, an
	// ACR refresh token): it is exchanged at the token realm with
	// grant_type=refresh_token instead of sending a password.
	IdentityToken string
	// AADAccessToken is an Azure AD access token, exchanged once at the
	// registry's /oauth2/exchange for an ACR refresh token.
	AADAccessToken string
}

// normalize turns the ACR convention (the all-zero user with a refresh
// token as password) into an identity token, as docker does.
func (c Credential) normalize() Credential {
	if c.Username == ACRTokenUser && c.Password != "" && c.IdentityToken == "" {
		c.IdentityToken, c.Password = c.Password, ""
	}
	return c
}

// Empty reports whether c holds no secret at all.
func (c Credential) Empty() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == "" && c.AADAccessToken == ""
}

// challenge is a parsed WWW-Authenticate header.
type challenge struct {
	scheme string // "basic" or "bearer", lower case
	params map[string]string
}

// parseChallenge reads the first challenge of a WWW-Authenticate value:
// Scheme k="v",k2="v2" (quoted values may hold commas and escapes).
func parseChallenge(h string) (challenge, bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	ch := challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
	if ch.scheme != "basic" && ch.scheme != "bearer" {
		return ch, false
	}
	s := strings.TrimSpace(rest)
	for s != "" {
		k, after, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		var v strings.Builder
		if strings.HasPrefix(after, `"`) {
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				v.WriteByte(after[i])
			}
			s = after[min(i+1, len(after)):]
		} else {
			val, r, _ := strings.Cut(after, ",")
			v.WriteString(strings.TrimSpace(val))
			s = "," + r
		}
		ch.params[k] = v.String()
		s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), ","))
	}
	return ch, true
}

// token is a bearer token and when to stop using it.
type token struct {
	value   string
	expires time.Time
}

// authorizer answers a registry's challenges: Basic by sending the
// credential, Bearer by the distribution token flow, with tokens cached per
// scope until they expire. Safe for concurrent use.
type authorizer struct {
	cred   Credential
	base   *url.URL
	client *http.Client
	ua     string
	now    func() time.Time

	mu      sync.Mutex
	basic   bool
	realm   string
	service string
	tokens  map[string]token
	// inflight holds the token requests under way, by scope.
	inflight map[string]chan struct{}
	// refresh is the refresh token an AAD exchange produced.
	refresh string
}

func newAuthorizer(cred Credential, base *url.URL, hc *http.Client, ua string) *authorizer {
	return &authorizer{cred: cred.normalize(), base: base, client: hc, ua: ua, now: time.Now, tokens: map[string]token{}, inflight: map[string]chan struct{}{}}
}

// header returns the Authorization value to send with a request to path,
// or "" while no challenge has been seen or no token is cached.
func (a *authorizer) header(method, path string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.basic {
		return basicValue(a.cred)
	}
	if a.realm == "" {
		return ""
	}
	t, ok := a.tokens[scopeFor(method, path)]
	if !ok || !a.now().Before(t.expires) {
		return ""
	}
	return "Bearer " + t.value
}

func basicValue(c Credential) string {
	if c.Username == "" && c.Password == "" {
		return ""
	}
	req := http.Request{Header: http.Header{}}
	req.SetBasicAuth(c.Username, c.Password)
	return req.Header.Get("Authorization")
}

// answer handles a 401's challenge so that the request can be sent again;
// an error says why it cannot be.
func (a *authorizer) answer(ctx context.Context, method, path, sent string, h http.Header) error {
	ch, ok := parseChallenge(h.Get("WWW-Authenticate"))
	if !ok {
		return fmt.Errorf("401 without a Basic or Bearer challenge (%q)", h.Get("WWW-Authenticate"))
	}
	if ch.scheme == "basic" {
		if basicValue(a.cred) == "" {
			return errors.New("the registry wants a user name and password (--username, BERTH_USERNAME or docker login)")
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.basic && sent == basicValue(a.cred) {
			return errors.New("credentials refused")
		}
		a.basic = true
		return nil
	}
	realm, err := url.Parse(ch.params["realm"])
	if err != nil || realm.Host == "" || (realm.Scheme != "https" && !(realm.Scheme == "http" && a.base.Scheme == "http")) {
		// A plain-HTTP realm would see the credentials in clear text.
		return fmt.Errorf("token realm %q not usable", ch.params["realm"])
	}
	key := scopeFor(method, path)
	// Requests that raced to the same 401 share one token request, and a
	// request sent before a token arrived just retries with it.
	for {
		a.mu.Lock()
		if t, ok := a.tokens[key]; ok && a.now().Before(t.expires) && "Bearer "+t.value != sent {
			a.mu.Unlock()
			return nil
		}
		wait, busy := a.inflight[key]
		if !busy {
			break // still locked
		}
		a.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	done := make(chan struct{})
	a.inflight[key] = done
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.inflight, key)
		a.mu.Unlock()
		close(done)
	}()
	scope := ch.params["scope"]
	if scope == "" {
		scope = key
	} else {
		// The registry names the scope of the request; a mount also needs
		// pull on the repository it mounts from, which only we know.
		for _, k := range strings.Fields(key) {
			if !slices.Contains(strings.Fields(scope), k) {
				scope += " " + k
			}
		}
	}
	t, err := a.fetch(ctx, realm, ch.params["service"], scope)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.realm, a.service = realm.String(), ch.params["service"]
	a.tokens[key] = t
	return nil
}

// fetch asks the realm for a token covering scope.
func (a *authorizer) fetch(ctx context.Context, realm *url.URL, service, scope string) (token, error) {
	refresh, err := a.refreshToken(ctx, realm, service)
	if err != nil {
		return token{}, err
	}
	var req *http.Request
	if refresh != "" {
		// The OAuth2 form docker uses for identity tokens and ACR for its
		// refresh tokens (see docs/fleet.md, "Recorded exchanges").
		form := url.Values{"grant_type": {"refresh_token"}, "service": {service}, "refresh_token": {refresh}, "client_id": {"berth"}}
		if scope != "" {
			form.Set("scope", scope)
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, realm.String(), strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		u := *realm
		q := u.Query()
		if service != "" {
			q.Set("service", service)
		}
		for _, s := range strings.Fields(scope) {
			q.Add("scope", s)
		}
		if a.cred.Username != "" {
			q.Set("account", a.cred.Username)
		}
		q.Set("client_id", "berth")
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err == nil {
			if v := basicValue(a.cred); v != "" {
				req.Header.Set("Authorization", v)
			}
		}
	}
	if err != nil {
		return token{}, fmt.Errorf("building token request: %w", err)
	}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		IssuedAt    string `json:"issued_at"`
	}
	if err := a.post(req, &tr); err != nil {
		return token{}, err
	}
	v := cmp.Or(tr.AccessToken, tr.Token)
	if v == "" {
		return token{}, fmt.Errorf("token endpoint %s sent no token", realm.Redacted())
	}
	// The distribution spec: 60 seconds when expires_in is missing. A
	// margin keeps a token from expiring between our check and the
	// registry's.
	life := time.Duration(cmp.Or(tr.ExpiresIn, 60)) * time.Second
	issued := a.now()
	if t, err := time.Parse(time.RFC3339, tr.IssuedAt); err == nil && t.Before(issued) && issued.Sub(t) < life {
		issued = t
	}
	return token{value: v, expires: issued.Add(life - min(10*time.Second, life/4))}, nil
}

// refreshToken is the refresh token to present, exchanging an AAD access
// token for one first (POST /oauth2/exchange on the registry host).
func (a *authorizer) refreshToken(ctx context.Context, realm *url.URL, service string) (string, error) {
	if a.cred.IdentityToken != "" || a.cred.AADAccessToken == "" {
		return a.cred.IdentityToken, nil
	}
	a.mu.Lock()
	r := a.refresh
	a.mu.Unlock()
	if r != "" {
		return r, nil
	}
	u := *realm
	u.Path, u.RawQuery = "/oauth2/exchange", ""
	form := url.Values{"grant_type": {"access_token"}, "service": {service}, "access_token": {a.cred.AADAccessToken}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("building token exchange: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var er struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := a.post(req, &er); err != nil {
		return "", fmt.Errorf("exchanging the AAD token: %w", err)
	}
	if er.RefreshToken == "" {
		return "", fmt.Errorf("%s sent no refresh_token", u.Redacted())
	}
	a.mu.Lock()
	a.refresh = er.RefreshToken
	a.mu.Unlock()
	return er.RefreshToken, nil
}

// post sends a token request and decodes a 200 answer into out.
func (a *authorizer) post(req *http.Request, out any) error {
	req.Header.Set("User-Agent", a.ua)
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil {
		return fmt.Errorf("reading token answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Redacted(), resp.Status, trimBody(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding token answer: %w", err)
	}
	return nil
}

// scopeFor is the token scope a request needs, per the distribution token
// specification, and the key its token is cached under.
func scopeFor(method, path string) string {
	p, query, _ := strings.Cut(path, "?")
	if p == "/v2/_catalog" {
		return "registry:catalog:*"
	}
	name, ok := repoOf(p)
	if !ok {
		return ""
	}
	if strings.HasPrefix(p, "/acr/v1/") {
		if method == http.MethodDelete {
			return "repository:" + name + ":delete"
		}
		return "repository:" + name + ":metadata_read"
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		return "repository:" + name + ":pull"
	case http.MethodDelete:
		return "repository:" + name + ":delete"
	}
	scope := "repository:" + name + ":pull,push"
	if q, err := url.ParseQuery(query); err == nil && q.Get("mount") != "" {
		if from := q.Get("from"); from != name && oci.ValidName(from) {
			scope += " repository:" + from + ":pull"
		}
	}
	return scope
}

// repoOf finds the repository name in /v2/<name>/{manifests,blobs,tags,
// referrers}/… and /acr/v1/<name>/_tags…, reading from the right as the
// name may hold slashes.
func repoOf(p string) (string, bool) {
	var rest string
	switch {
	case strings.HasPrefix(p, "/v2/"):
		rest = p[len("/v2/"):]
		for _, k := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
			if i := strings.LastIndex(rest, k); i > 0 {
				return rest[:i], true
			}
		}
	case strings.HasPrefix(p, "/acr/v1/"):
		rest = p[len("/acr/v1/"):]
		for _, k := range []string{"/_tags", "/_manifests"} {
			if i := strings.LastIndex(rest, k); i > 0 {
				return rest[:i], true
			}
		}
	}
	return "", false
}
