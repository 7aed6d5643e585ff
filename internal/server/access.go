package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/manage"
	"github.com/berth-registry/berth/internal/access/netrule"
	"github.com/berth-registry/berth/internal/access/oidc"
	"github.com/berth-registry/berth/internal/access/ratelimit"
	"github.com/berth-registry/berth/internal/access/token"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

// tokenIssuer names the token endpoint in the iss claim.
const tokenIssuer = "berth"

// adminPasswordFile is written in the data directory on first start with
// authentication and no account; its path, never its content, is logged.
const adminPasswordFile = "admin-password"

// access is the server's access control: network rules for every request
// but /healthz, then (with auth.enabled) authentication for the registry,
// the token endpoint and the management API, and authorization through
// the registry's Authorizer hook.
type access struct {
	rules  netrule.Live
	log    *slog.Logger
	auth   *authn.Authenticator // nil when authentication is off
	users  metadata.Users
	policy authz.Policy
	tokens http.Handler
	manage *manage.Handler // /api/v1/tokens and /api/v1/keys
	oidc   *oidc.Lazy      // the OIDC issuer, nil without auth.oidc.issuer
	realm  string          // configured realm, or "" to derive it per request
	svc    string
	audit  *audit.Log        // logins and refusals (audit.go); set by openEvents
	limits *ratelimit.Limits // nil unless rate_limit.enabled (ratelimit.go)
}

// openAccess builds the access layer. With authentication enabled it opens
// the token keys under <data_dir>/keys and creates the first admin.
func (s *Server) openAccess(ctx context.Context, users metadata.Users) (*access, error) {
	rules, err := s.cfg.Network.Spec().Rules()
	if err != nil {
		return nil, err
	}
	a := &access{log: s.log, users: users, realm: s.cfg.Auth.Realm, svc: s.cfg.Auth.Service,
		policy: authz.Policy{AnonymousRead: s.cfg.Auth.AnonymousRead.Items()}}
	a.rules.Store(rules)
	a.limits = rateLimits(s.cfg.RateLimit, s.log)
	if !s.cfg.Auth.Enabled {
		return a, nil
	}
	keys, err := token.OpenKeySet(ctx, filepath.Join(s.cfg.DataDir, "keys"))
	if err != nil {
		return nil, fmt.Errorf("opening token keys: %w", err)
	}
	if a.auth, err = authn.NewAuthenticator(users, token.NewVerifier(keys, tokenIssuer, a.svc)); err != nil {
		return nil, err
	}
	a.auth.Observer = a
	a.tokens = &authn.TokenEndpoint{Auth: a.auth, Issuer: token.NewIssuer(keys, tokenIssuer, a.svc),
		Policy: a.policy, TTL: s.cfg.Auth.TokenTTL, RefreshTTL: s.cfg.Auth.RefreshTokenTTL, Log: s.log}
	if st, ok := users.(metadata.ScopedTokens); ok {
		a.auth.Tokens = st
		a.manage = &manage.Handler{Tokens: &manage.Tokens{Store: st, Users: users}, Keys: keys, Log: s.log, Audit: a.auditChange}
	}
	if o := s.cfg.Auth.OIDC; o.Issuer != "" {
		if a.oidc, err = openOIDC(o); err != nil {
			return nil, err
		}
		a.auth.OIDC = &oidc.Exchanger{Issuer: a.oidc, Mapper: &oidc.Mapper{Users: users, Claim: o.UsernameClaim}}
	}
	if err := s.bootstrapAdmin(ctx, users); err != nil {
		return nil, err
	}
	return a, nil
}

// bootstrapAdmin creates "admin" with a random password when there is no
// account at all, so that a fresh server with authentication is usable
// and never open.
func (s *Server) bootstrapAdmin(ctx context.Context, users metadata.Users) error {
	list, err := users.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("listing accounts: %w", err)
	}
	if len(list) > 0 {
		return nil
	}
	pw, err := authn.GeneratePassword()
	if err != nil {
		return err
	}
	hash, err := authn.HashPassword(pw)
	if err != nil {
		return err
	}
	path := filepath.Join(s.cfg.DataDir, adminPasswordFile)
	if err := writeSecret(path, pw+"\n"); err != nil {
		return fmt.Errorf("writing the first admin's password: %w", err)
	}
	u := &metadata.User{Name: "admin", PasswordHash: hash, Grants: []metadata.Grant{{Pattern: "*", Role: authz.RoleAdmin}}}
	if err := users.CreateUser(ctx, u); err != nil && !errors.Is(err, metadata.ErrExists) {
		return fmt.Errorf("creating the first admin: %w", err)
	}
	s.log.Warn("created account admin; its password is in the file named here (change it with berth user passwd admin)",
		slog.String("password_file", path))
	return nil
}

// writeSecret writes a file only its owner can read, atomically.
func writeSecret(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// authorizer is the registry hook, nil when authentication is off.
func (a *access) authorizer() registry.Authorizer {
	if a.auth == nil {
		return nil
	}
	return a
}

// clientIP resolves the client address with the trusted proxies in force.
func (a *access) clientIP(r *http.Request) netip.Addr {
	var trusted []netip.Prefix
	if rs := a.rules.Load(); rs != nil {
		trusted = rs.TrustedProxies
	}
	return netrule.ClientIP(r, trusted)
}

// wrap puts access control in front of the handler of each route.
func (a *access) wrap(next func(route) http.Handler) func(route) http.Handler {
	var hs [numRoutes]http.Handler
	for rt := range numRoutes {
		h := next(rt)
		if a.auth != nil && rt == routeToken {
			h = a.tokens
		}
		// Rate limits run after the network rules and authentication,
		// which name the address and the identity they count.
		h = a.limited(rt, h)
		if a.auth != nil {
			switch {
			case rt.registry():
				h = a.authenticate(h, false)
			case rt == routeAPI:
				h = a.authenticate(a.withManage(h), true)
			}
		}
		hs[rt] = a.network(h)
	}
	return func(rt route) http.Handler { return hs[rt] }
}

// network applies the network rules to the address the edge resolved;
// /healthz is exempt so that liveness probes work from anywhere.
func (a *access) network(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		ip, ok := netrule.ClientIPFrom(r.Context())
		if !ok {
			ip = a.clientIP(r)
		}
		if a.rules.Load().Decide(ip) != netrule.Allow {
			a.log.WarnContext(r.Context(), "client address refused", slog.String("client", ip.String()))
			msg := "(unknown)"
			if ip.IsValid() {
				msg = ip.String()
			}
			oci.WriteError(w, oci.Errorf(oci.CodeDenied, "client address %s is not allowed", msg))
			a.denied(r, http.StatusForbidden, "", "", "network rule")
			return
		}
		next.ServeHTTP(w, withClientIP(r, ip.String()))
	})
}

// authenticate resolves the principal (bad credentials are a 401) and,
// for the management API, requires an admin: metadata:read is the
// catalog right.
func (a *access) authenticate(next http.Handler, api bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticateRequest(r)
		if err != nil {
			if wait, ok := authn.ThrottledFor(err); ok {
				a.log.WarnContext(r.Context(), "login throttled", slog.Duration("retry_after", wait))
				authn.WriteThrottled(w, wait)
				return
			}
			if !errors.Is(err, authn.ErrCredentials) {
				a.log.ErrorContext(r.Context(), "authenticating", slog.Any("err", err))
				oci.WriteError(w, err)
				return
			}
			a.challenge(w, r, "", "invalid credentials")
			return
		}
		ctx := authz.WithPrincipal(r.Context(), p)
		if !p.Anonymous() {
			ctx = metadata.WithActor(ctx, p.Name)
		}
		r = r.WithContext(ctx)
		if api && !a.policy.AllowsAPI(p, r.Method) && !manage.SelfService(r.URL.Path, p) {
			a.Refuse(w, r, "", authz.ActionCatalog)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Allowed implements registry.Authorizer.
func (a *access) Allowed(r *http.Request, repo, action string) bool {
	p := authz.PrincipalFrom(r.Context())
	if action == "" {
		// /v2/: any account, or any token (an anonymous one included:
		// that is how clients learn they may go on anonymously).
		return p != nil && (!p.Anonymous() || p.Token != nil)
	}
	return a.policy.Allows(p, repo, action)
}

// Refuse implements registry.Authorizer: 401 with a challenge when logging
// in or fetching a new token could help, 403 DENIED when the account
// itself lacks the right.
func (a *access) Refuse(w http.ResponseWriter, r *http.Request, repo, action string) {
	p := authz.PrincipalFrom(r.Context())
	scope := scopeOf(repo, action)
	switch {
	case p.Anonymous():
		a.challenge(w, r, scope, "authentication required")
		if action != "" { // the /v2/ probe every client starts with is no refusal
			a.denied(r, http.StatusUnauthorized, repo, scope, "authentication required")
		}
		return
	case p.Token != nil && action != "" && a.accountAllows(r.Context(), p.Name, repo, action):
		// The token was issued for other scopes: the client asks again.
		a.challenge(w, r, scope, "token does not grant "+scope)
		a.denied(r, http.StatusUnauthorized, repo, scope, "token does not grant the scope")
		return
	}
	a.denied(r, http.StatusForbidden, repo, scope, "not granted")
	what := "access"
	if scope != "" {
		what = scope
	}
	oci.WriteError(w, oci.Errorf(oci.CodeDenied, "%s may not %s", p.Name, what))
}

// accountAllows reports whether the named account, as it is now, holds
// the right a token lacked.
func (a *access) accountAllows(ctx context.Context, name, repo, action string) bool {
	if tn, ok := authn.TokenName(name); ok && a.auth.Tokens != nil {
		t, err := a.auth.Tokens.ScopedToken(ctx, tn)
		return err == nil && !t.Disabled && a.policy.Allows(&authz.Principal{Name: name, Scoped: true, Scopes: t.Grants}, repo, action)
	}
	u, err := a.users.User(ctx, name)
	if err != nil || u.Disabled {
		return false
	}
	return a.policy.Allows(&authz.Principal{Name: u.Name, Grants: u.Grants}, repo, action)
}

func (a *access) challenge(w http.ResponseWriter, r *http.Request, scope, msg string) {
	w.Header().Set("WWW-Authenticate", token.Challenge(a.realmFor(r), a.svc, scope))
	oci.WriteError(w, oci.Errorf(oci.CodeUnauthorized, "%s", msg))
}

// realmFor is the token endpoint URL clients are sent to: the configured
// realm, or this server as the client addressed it.
func (a *access) realmFor(r *http.Request) string {
	if a.realm != "" {
		return a.realm
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" || strings.ContainsAny(host, "/\\\"@ ") {
		host = "localhost"
	}
	return scheme + "://" + host + "/token"
}

// scopeOf is the token scope a refused request needs. A push also needs
// pull (clients check what exists before uploading), as distribution asks.
func scopeOf(repo, action string) string {
	switch action {
	case "":
		return ""
	case authz.ActionCatalog:
		return "registry:catalog:*"
	case authz.ActionPush:
		return "repository:" + repo + ":pull,push"
	}
	return "repository:" + repo + ":" + action
}

// withManage routes the access-control endpoints of the management API
// (scoped tokens, signing keys) to their handler.
func (a *access) withManage(next http.Handler) http.Handler {
	if a.manage == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if manage.Owns(r.URL.Path) {
			a.manage.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// openOIDC reads the client secret, if any; the issuer is discovered on
// first use so that the registry starts while its identity provider is
// down.
func openOIDC(o config.OIDC) (*oidc.Lazy, error) {
	cfg := oidc.Config{Issuer: o.Issuer, ClientID: o.ClientID}
	if o.ClientSecretFile != "" {
		b, err := os.ReadFile(o.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("reading auth.oidc.client_secret_file: %w", err)
		}
		cfg.ClientSecret = strings.TrimSpace(string(b))
	}
	return &oidc.Lazy{Config: cfg}, nil
}

// OIDCHandler is the browser login (/auth/oidc/login and
// /auth/oidc/callback) for the web UI to mount after Open: onLogin
// receives the principal and creates the session. It is nil without
// auth.oidc.issuer and auth.oidc.redirect_url.
func (s *Server) OIDCHandler(onLogin func(http.ResponseWriter, *http.Request, *authz.Principal, *oidc.Identity)) http.Handler {
	o := s.cfg.Auth.OIDC
	if s.access == nil || s.access.oidc == nil || o.RedirectURL == "" {
		return nil
	}
	return &oidc.Handler{Issuer: s.access.oidc, Mapper: &oidc.Mapper{Users: s.access.users, Claim: o.UsernameClaim},
		RedirectURL: o.RedirectURL, OnLogin: onLogin, Log: s.log}
}
