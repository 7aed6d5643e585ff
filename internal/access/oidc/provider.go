// Package oidc is an OpenID Connect relying party for Berth: discovery,
// the authorization code flow with PKCE (S256), state and nonce checks,
// and ID token verification against the issuer's JWKS. It signs nothing
// and stores nothing; a login's outcome is an Identity, which Mapper turns
// into a Berth principal.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config names the issuer and this client.
type Config struct {
	// Issuer is the issuer URL; discovery reads
	// <Issuer>/.well-known/openid-configuration.
	Issuer   string
	ClientID string
	// ClientSecret is empty for a public client (the CLI), which PKCE
	// protects.
	ClientSecret string
	// Scopes are requested besides openid; default email, profile, groups.
	Scopes []string
	// HTTP is the client for the issuer; default a 10-second timeout.
	HTTP *http.Client
}

// maxDocument bounds what is read from the issuer (discovery, JWKS,
// token answers).
const maxDocument = 1 << 20

// Provider is a discovered issuer.
type Provider struct {
	cfg      Config
	authURL  string
	tokenURL string
	keys     *keySet
}

type discovery struct {
	Issuer        string   `json:"issuer"`
	AuthEndpoint  string   `json:"authorization_endpoint"`
	TokenEndpoint string   `json:"token_endpoint"`
	JWKSURI       string   `json:"jwks_uri"`
	Methods       []string `json:"code_challenge_methods_supported"`
}

// Discover reads the issuer's configuration. The issuer it states must be
// exactly the one configured (OpenID Connect Discovery 1.0, section 4.3).
func Discover(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oidc: client ID is required")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"email", "profile", "groups"}
	}
	u := strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/openid-configuration"
	var d discovery
	if err := getJSON(ctx, cfg.HTTP, u, &d); err != nil {
		return nil, fmt.Errorf("oidc discovery: %w", err)
	}
	if d.Issuer != cfg.Issuer {
		return nil, fmt.Errorf("oidc discovery: issuer %q is not the configured %q", d.Issuer, cfg.Issuer)
	}
	for _, e := range []string{d.AuthEndpoint, d.TokenEndpoint, d.JWKSURI} {
		if pu, err := url.Parse(e); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return nil, fmt.Errorf("oidc discovery: endpoint %q is not an http(s) URL", e)
		}
	}
	return &Provider{cfg: cfg, authURL: d.AuthEndpoint, tokenURL: d.TokenEndpoint,
		keys: &keySet{url: d.JWKSURI, http: cfg.HTTP}}, nil
}

// Issuer is the configured issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// ClientID is the configured client ID.
func (p *Provider) ClientID() string { return p.cfg.ClientID }

func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.Unmarshal(b, v)
}

// Flow is one login attempt's secrets: state (CSRF), nonce (binds the ID
// token to this attempt) and the PKCE verifier. All are 256 random bits.
type Flow struct {
	State, Nonce, Verifier string
	RedirectURL            string
}

// NewFlow starts a login that will return to redirectURL.
func NewFlow(redirectURL string) (*Flow, error) {
	f := &Flow{RedirectURL: redirectURL}
	for _, p := range []*string{&f.State, &f.Nonce, &f.Verifier} {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("oidc: %w", err)
		}
		*p = base64.RawURLEncoding.EncodeToString(b[:])
	}
	return f, nil
}

// challenge is the PKCE S256 code challenge of a verifier (RFC 7636).
func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// AuthURL is where the user's browser goes to log in.
func (p *Provider) AuthURL(f *Flow) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {p.cfg.ClientID},
		"redirect_uri":          {f.RedirectURL},
		"scope":                 {strings.Join(append([]string{"openid"}, p.cfg.Scopes...), " ")},
		"state":                 {f.State},
		"nonce":                 {f.Nonce},
		"code_challenge":        {challenge(f.Verifier)},
		"code_challenge_method": {"S256"},
	}
	sep := "?"
	if strings.Contains(p.authURL, "?") {
		sep = "&"
	}
	return p.authURL + sep + q.Encode()
}

// Exchange trades the code the callback received for a verified identity
// and the raw ID token. state is the callback's state parameter, checked
// against the flow's.
func (p *Provider) Exchange(ctx context.Context, f *Flow, state, code string) (*Identity, string, error) {
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		return nil, "", errors.New("oidc: state does not match this login")
	}
	if code == "" || len(code) > 4096 {
		return nil, "", errors.New("oidc: no authorization code")
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {f.RedirectURL},
		"client_id":     {p.cfg.ClientID},
		"code_verifier": {f.Verifier},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p.cfg.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(p.cfg.ClientID), url.QueryEscape(p.cfg.ClientSecret))
	}
	resp, err := p.cfg.HTTP.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("oidc token request: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	if err != nil {
		return nil, "", fmt.Errorf("oidc token request: %w", err)
	}
	var tr struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal(b, &tr); err != nil || resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("oidc token request: %s %.200q", resp.Status, tr.Error)
	}
	id, err := p.Verify(ctx, tr.IDToken, f.Nonce)
	return id, tr.IDToken, err
}
