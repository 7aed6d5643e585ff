package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/metadata"
)

// fingerprint identifies a stored password hash in refresh tokens. The
// hash embeds its random salt, so the fingerprint gives nothing to guess
// passwords against; a new password (or a rotated token password) has a
// new salt, hence a new fingerprint, and old refresh tokens stop working.
func fingerprint(hash string) string {
	sum := sha256.Sum256([]byte("berth refresh\x00" + hash))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// sameFingerprint compares in constant time, as every secret-derived
// value is compared.
func sameFingerprint(hash, fp string) bool {
	return subtle.ConstantTimeCompare([]byte(fingerprint(hash)), []byte(fp)) == 1
}

// LoginForRefresh is Check for the token endpoint's password grant: it
// also returns the fingerprint a refresh token carries, and tells the
// Observer of the outcome.
func (a *Authenticator) LoginForRefresh(r *http.Request, name, pw string) (*authz.Principal, string, error) {
	p, fp, _, err := a.check(r, name, pw)
	a.observe(r, "password", name, err)
	return p, fp, err
}

// Refresh exchanges a refresh token for the principal it was issued to, as
// that account or scoped token is now: disabled, expired, deleted, used
// from outside its networks, or with the password it was issued for
// changed, it is refused with ErrCredentials.
func (a *Authenticator) Refresh(r *http.Request, tok string) (*authz.Principal, string, error) {
	p, fp, err := a.refresh(r, tok)
	name := ""
	if p != nil {
		name = p.Name
	}
	a.observe(r, "refresh", name, err)
	return p, fp, err
}

func (a *Authenticator) refresh(r *http.Request, tok string) (*authz.Principal, string, error) {
	c, err := a.verifier.VerifyRefresh(tok)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrCredentials, err)
	}
	addr := clientAddr(r)
	if !AddrIn(c.CIDRs, addr) {
		return nil, "", fmt.Errorf("%w: refresh token of %s is not for client %s", ErrCredentials, c.Subject, addr)
	}
	ctx := r.Context()
	if tn, ok := TokenName(c.Subject); ok {
		if a.Tokens == nil {
			return nil, "", ErrCredentials
		}
		t, err := a.Tokens.ScopedToken(ctx, tn)
		if errors.Is(err, metadata.ErrNotFound) {
			return nil, "", fmt.Errorf("%w: token %s no longer exists", ErrCredentials, tn)
		} else if err != nil {
			return nil, "", fmt.Errorf("looking up token: %w", err)
		}
		if !slices.ContainsFunc([]string{t.Hash1, t.Hash2}, func(h string) bool { return h != "" && sameFingerprint(h, c.Fingerprint) }) {
			return nil, "", fmt.Errorf("%w: token %s was rotated", ErrCredentials, tn)
		}
		if err := TokenUsable(t, addr, a.cache.clock()); err != nil {
			return nil, "", err
		}
		a.used.touch(ctx, a.Tokens, tn, a.cache.clock())
		return &authz.Principal{Name: c.Subject, Scoped: true, Scopes: t.Grants, CIDRs: t.CIDRs}, c.Fingerprint, nil
	}
	u, err := a.users.User(ctx, c.Subject)
	if errors.Is(err, metadata.ErrNotFound) {
		return nil, "", fmt.Errorf("%w: account %s no longer exists", ErrCredentials, c.Subject)
	} else if err != nil {
		return nil, "", fmt.Errorf("looking up account: %w", err)
	}
	if u.Disabled || !sameFingerprint(u.PasswordHash, c.Fingerprint) {
		return nil, "", fmt.Errorf("%w: account %s is disabled or its password changed", ErrCredentials, u.Name)
	}
	return &authz.Principal{Name: u.Name, Grants: u.Grants}, c.Fingerprint, nil
}

// IDTokenExchanger verifies an OpenID Connect ID token and maps it to an
// account (package oidc); errors are refusals unless the issuer is
// unreachable.
type IDTokenExchanger interface {
	PrincipalFromIDToken(ctx context.Context, raw string) (*authz.Principal, *metadata.User, error)
}

// ExchangeIDToken is the token endpoint's token-exchange grant: an ID
// token from berth login --oidc in, the account's principal and the
// fingerprint of its password hash (so a refresh token obtained this way
// ends when the account's password changes) out.
func (a *Authenticator) ExchangeIDToken(r *http.Request, raw string) (*authz.Principal, string, error) {
	if a.OIDC == nil {
		return nil, "", fmt.Errorf("%w: OIDC is not configured", ErrCredentials)
	}
	p, u, err := a.OIDC.PrincipalFromIDToken(r.Context(), raw)
	name := ""
	if p != nil {
		name = p.Name
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrCredentials, err)
	}
	a.observe(r, "oidc", name, err)
	if err != nil {
		return nil, "", err
	}
	return p, fingerprint(u.PasswordHash), nil
}
