package authn

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/token"
	"github.com/berth-registry/berth/internal/oci"
)

// TokenEndpoint serves /token, the registry token endpoint of the Docker
// token specification. GET takes Basic credentials (or none, for anonymous
// access) and ?scope=…; POST is the OAuth2 form docker login and oras use,
// grant_type=password (which returns a refresh token, docker's "identity
// token") or grant_type=refresh_token. Either way the signed token grants
// the intersection of the scopes asked for and what the principal may do.
type TokenEndpoint struct {
	Auth   *Authenticator
	Issuer *token.Issuer
	Policy authz.Policy
	TTL    time.Duration
	// RefreshTTL is the lifetime of refresh tokens; 0 means 30 days.
	RefreshTTL time.Duration
	Log        *slog.Logger
}

// The RFC 8693 token exchange that berth login --oidc uses to trade an
// OpenID Connect ID token for Berth tokens.
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeIDToken   = "urn:ietf:params:oauth:token-type:id_token"
)

// maxTokenForm bounds a POST body: a refresh token, a password and scopes.
const maxTokenForm = 64 << 10

type tokenResponse struct {
	Token        string `json:"token,omitempty"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	Scope        string `json:"scope,omitempty"`
}

func (t *TokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet:
		t.serveGet(w, r)
	case http.MethodPost:
		t.servePost(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		oci.WriteError(w, oci.Errorf(oci.CodeUnsupported, "the token endpoint answers GET and POST").WithStatus(http.StatusMethodNotAllowed))
	}
}

func (t *TokenEndpoint) serveGet(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.RawQuery) > 16<<10 {
		oci.WriteError(w, oci.Errorf(oci.CodeDenied, "query too long").WithStatus(http.StatusBadRequest))
		return
	}
	q := r.URL.Query()
	requested, err := token.ParseScopes(q["scope"])
	if err != nil {
		oci.WriteError(w, oci.Errorf(oci.CodeDenied, "%v", err).WithStatus(http.StatusBadRequest))
		return
	}
	var (
		p  *authz.Principal
		fp string
	)
	name, pw, basic := r.BasicAuth()
	switch {
	case basic:
		p, fp, err = t.Auth.LoginForRefresh(r, name, pw)
	case r.Header.Get("Authorization") == "":
		p = &authz.Principal{}
	default:
		err = errors.New("the token endpoint takes Basic credentials or none")
	}
	if err != nil {
		t.refuse(w, r, err)
		return
	}
	offline := q.Get("offline_token") == "true" && !p.Anonymous()
	t.respond(w, r, p, fp, requested, offline, "", true)
}

func (t *TokenEndpoint) servePost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		oci.WriteError(w, oci.Errorf(oci.CodeDenied, "form larger than %d bytes", maxTokenForm).WithStatus(http.StatusBadRequest))
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		oci.WriteError(w, oci.Errorf(oci.CodeDenied, "malformed form").WithStatus(http.StatusBadRequest))
		return
	}
	// OAuth2 separates scopes with spaces; each is one registry scope.
	requested, err := token.ParseScopes(strings.Fields(form.Get("scope")))
	if err != nil {
		oci.WriteError(w, oci.Errorf(oci.CodeDenied, "%v", err).WithStatus(http.StatusBadRequest))
		return
	}
	var (
		p       *authz.Principal
		fp      string
		refresh string
	)
	switch form.Get("grant_type") {
	case "password":
		p, fp, err = t.Auth.LoginForRefresh(r, form.Get("username"), form.Get("password"))
	case "refresh_token":
		refresh = form.Get("refresh_token")
		p, fp, err = t.Auth.Refresh(r, refresh)
	case grantTokenExchange:
		if form.Get("subject_token_type") != tokenTypeIDToken {
			oci.WriteError(w, oci.Errorf(oci.CodeUnsupported, "subject_token_type: want %s", tokenTypeIDToken).WithStatus(http.StatusBadRequest))
			return
		}
		p, fp, err = t.Auth.ExchangeIDToken(r, form.Get("subject_token"))
	default:
		oci.WriteError(w, oci.Errorf(oci.CodeUnsupported, "grant_type: want password, refresh_token or %s", grantTokenExchange).WithStatus(http.StatusBadRequest))
		return
	}
	if err != nil {
		t.refuse(w, r, err)
		return
	}
	// access_type=offline asks for a refresh token; a refresh grant hands
	// back the one it was given, as distribution does.
	offline := form.Get("access_type") == "offline"
	t.respond(w, r, p, fp, requested, offline && refresh == "", refresh, false)
}

// refuse answers a failed login: 429 while throttled, 401 for bad
// credentials, 500 (logged) for anything else.
func (t *TokenEndpoint) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if wait, ok := ThrottledFor(err); ok {
		t.Log.WarnContext(r.Context(), "token endpoint: login throttled", slog.Duration("retry_after", wait))
		WriteThrottled(w, wait)
		return
	}
	if !errors.Is(err, ErrCredentials) {
		t.Log.ErrorContext(r.Context(), "token endpoint", "err", err)
		oci.WriteError(w, err)
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	oci.WriteError(w, oci.Errorf(oci.CodeUnauthorized, "authentication required"))
}

func (t *TokenEndpoint) respond(w http.ResponseWriter, r *http.Request, p *authz.Principal, fp string,
	requested []token.Access, offline bool, refresh string, legacy bool) {
	granted := t.Policy.GrantTo(p, requested)
	tok, err := t.Issuer.IssueBound(p.Name, granted, p.CIDRs, t.TTL)
	if err != nil {
		t.Log.ErrorContext(r.Context(), "token endpoint: issuing", "err", err)
		oci.WriteError(w, err)
		return
	}
	out := tokenResponse{AccessToken: tok, RefreshToken: refresh, ExpiresIn: int(t.TTL / time.Second),
		IssuedAt: time.Now().UTC().Format(time.RFC3339)}
	if legacy {
		out.Token = tok
	}
	if offline {
		ttl := t.RefreshTTL
		if ttl <= 0 {
			ttl = 30 * 24 * time.Hour
		}
		if out.RefreshToken, err = t.Issuer.IssueRefresh(p.Name, fp, p.CIDRs, ttl); err != nil {
			t.Log.ErrorContext(r.Context(), "token endpoint: issuing refresh token", "err", err)
			oci.WriteError(w, err)
			return
		}
	}
	var scopes []string
	for _, a := range granted {
		scopes = append(scopes, a.String())
	}
	out.Scope = strings.Join(scopes, " ")
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}
