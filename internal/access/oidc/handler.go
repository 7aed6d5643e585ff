package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/metadata"
)

// Mapper turns an issuer's identity into a Berth principal: the account
// whose name is the value of Claim. The issuer authenticates; Berth's
// account (created with berth user add, its password unused) says what
// the person may do, and disabling it ends OIDC logins too.
type Mapper struct {
	Users metadata.Users
	// Claim is email (the default; it must be verified),
	// preferred_username or sub.
	Claim string
}

// ErrNoAccount reports an identity that maps to no enabled account.
var ErrNoAccount = errors.New("no enabled Berth account for this identity")

// Name is the account name an identity maps to.
func (m *Mapper) Name(id *Identity) (string, error) {
	switch m.Claim {
	case "", "email":
		if id.Email == "" || !id.EmailVerified {
			return "", fmt.Errorf("%w: no verified email", ErrNoAccount)
		}
		return id.Email, nil
	case "preferred_username":
		return id.Username, nil
	case "sub":
		return id.Subject, nil
	}
	return "", fmt.Errorf("oidc: unknown username claim %q", m.Claim)
}

// Principal returns the principal and account an identity maps to.
func (m *Mapper) Principal(ctx context.Context, id *Identity) (*authz.Principal, *metadata.User, error) {
	name, err := m.Name(id)
	if err != nil {
		return nil, nil, err
	}
	u, err := m.Users.User(ctx, name)
	if errors.Is(err, metadata.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, nil, fmt.Errorf("%w: %.100q", ErrNoAccount, name)
	}
	if err != nil {
		return nil, nil, err
	}
	return &authz.Principal{Name: u.Name, Grants: u.Grants}, u, nil
}

// Paths of the browser login.
const (
	LoginPath    = "/auth/oidc/login"
	CallbackPath = "/auth/oidc/callback"
	stateCookie  = "berth_oidc_state"
	flowTTL      = 10 * time.Minute
	maxPending   = 4096
)

// Handler is the browser login: LoginPath redirects to the issuer with a
// fresh state, nonce and PKCE verifier (the state also goes into a cookie
// scoped to /auth/oidc, binding the callback to this browser);
// CallbackPath checks the state against the cookie and the pending login,
// exchanges the code, verifies the ID token and calls OnLogin with the
// principal. Each pending login is used once and expires after 10 minutes.
type Handler struct {
	Issuer *Lazy
	Mapper *Mapper
	// RedirectURL is the callback's absolute URL, as registered with the
	// issuer.
	RedirectURL string
	// OnLogin creates the session (the web UI) and answers the browser.
	OnLogin func(w http.ResponseWriter, r *http.Request, p *authz.Principal, id *Identity)
	Log     *slog.Logger

	mu      sync.Mutex
	pending map[string]pendingFlow
}

type pendingFlow struct {
	flow    *Flow
	expires time.Time
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case LoginPath:
		h.login(w, r)
	case CallbackPath:
		h.callback(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	p, err := h.Issuer.Provider(r.Context())
	if err != nil {
		h.refuse(w, r, http.StatusBadGateway, "the identity provider is unreachable", err)
		return
	}
	f, err := NewFlow(h.RedirectURL)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	now := time.Now()
	h.mu.Lock()
	if h.pending == nil {
		h.pending = map[string]pendingFlow{}
	}
	if len(h.pending) >= maxPending {
		for k, p := range h.pending {
			if now.After(p.expires) {
				delete(h.pending, k)
			}
		}
	}
	full := len(h.pending) >= maxPending
	if !full {
		h.pending[f.State] = pendingFlow{flow: f, expires: now.Add(flowTTL)}
	}
	h.mu.Unlock()
	if full {
		http.Error(w, "too many logins in progress", http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: f.State, Path: "/auth/oidc", MaxAge: int(flowTTL / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, p.AuthURL(f), http.StatusFound)
}

func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	c, err := r.Cookie(stateCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		h.refuse(w, r, http.StatusBadRequest, "the login state does not match this browser", nil)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: "/auth/oidc", MaxAge: -1, HttpOnly: true})
	h.mu.Lock()
	p, ok := h.pending[state]
	delete(h.pending, state)
	h.mu.Unlock()
	if !ok || time.Now().After(p.expires) {
		h.refuse(w, r, http.StatusBadRequest, "unknown or expired login; start again", nil)
		return
	}
	if e := q.Get("error"); e != "" {
		h.refuse(w, r, http.StatusUnauthorized, "the identity provider refused the login", fmt.Errorf("issuer error %.100q", e))
		return
	}
	prov, err := h.Issuer.Provider(r.Context())
	if err != nil {
		h.refuse(w, r, http.StatusBadGateway, "the identity provider is unreachable", err)
		return
	}
	id, _, err := prov.Exchange(r.Context(), p.flow, state, q.Get("code"))
	if err != nil {
		h.refuse(w, r, http.StatusUnauthorized, "login failed", err)
		return
	}
	pr, _, err := h.Mapper.Principal(r.Context(), id)
	if err != nil {
		h.refuse(w, r, http.StatusForbidden, "no Berth account for this identity", err)
		return
	}
	h.Log.InfoContext(r.Context(), "oidc login", slog.String("user", pr.Name), slog.String("subject", id.Subject))
	h.OnLogin(w, r, pr, id)
}

// refuse answers with a fixed message; the cause goes to the log only.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, msg string, cause error) {
	if cause != nil {
		h.Log.WarnContext(r.Context(), "oidc login refused", slog.String("reason", msg), slog.Any("err", cause))
	}
	http.Error(w, msg, status)
}
