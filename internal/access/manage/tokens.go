// Package manage serves the management API of access control: scoped
// tokens (/api/v1/tokens) and the token signing keys (/api/v1/keys).
package manage

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// Bounds on what a token may hold: it is client input stored whole.
const (
	maxGrants = 64
	maxCIDRs  = 32
)

// Token is a scoped token as the API shows it: never a hash.
type Token struct {
	Name     string                `json:"name"`
	Creator  string                `json:"creator"`
	Grants   []metadata.TokenGrant `json:"grants"`
	CIDRs    []string              `json:"cidrs"`
	Disabled bool                  `json:"disabled"`
	Expires  *time.Time            `json:"expires,omitempty"`
	Created  time.Time             `json:"created"`
	LastUsed *time.Time            `json:"lastUsed,omitempty"`
	// Passwords lists the password slots (1, 2) that hold a password.
	Passwords []int `json:"passwords"`
	// Login is the user name clients log in with.
	Login string `json:"login"`
}

// CreateRequest is the body of POST /api/v1/tokens.
type CreateRequest struct {
	Name   string                `json:"name"`
	Grants []metadata.TokenGrant `json:"grants"`
	CIDRs  []string              `json:"cidrs,omitempty"`
	// Expires is an RFC 3339 time, or empty for a token that does not
	// expire.
	Expires string `json:"expires,omitempty"`
}

// Secrets answers a create or a rotation: the passwords, shown this once.
type Secrets struct {
	Token     Token  `json:"token"`
	Password1 string `json:"password1,omitempty"`
	Password2 string `json:"password2,omitempty"`
}

// Tokens creates and changes scoped tokens on behalf of an account.
type Tokens struct {
	Store metadata.ScopedTokens
	Users metadata.Users
	Now   func() time.Time
}

func (s *Tokens) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func view(t *metadata.ScopedToken) Token {
	v := Token{Name: t.Name, Creator: t.Creator, Grants: t.Grants, CIDRs: t.CIDRs, Disabled: t.Disabled,
		Created: t.Created, Login: authn.TokenUserPrefix + t.Name, Passwords: []int{}}
	if !t.Expires.IsZero() {
		e := t.Expires
		v.Expires = &e
	}
	if !t.LastUsed.IsZero() {
		u := t.LastUsed
		v.LastUsed = &u
	}
	for i, h := range []string{t.Hash1, t.Hash2} {
		if h != "" {
			v.Passwords = append(v.Passwords, i+1)
		}
	}
	return v
}

// actor is the account acting, as it is now. Scoped tokens and anonymous
// callers manage no tokens: a token minting tokens would outlive its own
// rotation.
func (s *Tokens) actor(ctx context.Context, p *authz.Principal) (*metadata.User, error) {
	if p.Anonymous() || p.Scoped {
		return nil, oci.Errorf(oci.CodeDenied, "scoped tokens are managed by accounts")
	}
	u, err := s.Users.User(ctx, p.Name)
	if errors.Is(err, metadata.ErrNotFound) {
		return nil, oci.Errorf(oci.CodeDenied, "no account %s", p.Name)
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, oci.Errorf(oci.CodeDenied, "account %s is disabled", p.Name)
	}
	return u, nil
}

// owned returns the token named name if u may manage it: its creator, or
// an admin. Another account's token is reported as missing.
func (s *Tokens) owned(ctx context.Context, u *metadata.User, name string) (*metadata.ScopedToken, error) {
	t, err := s.Store.ScopedToken(ctx, name)
	if errors.Is(err, metadata.ErrNotFound) || (err == nil && t.Creator != u.Name && !authz.IsAdmin(u.Grants)) {
		return nil, oci.Errorf(oci.CodeNameUnknown, "no token %s", name).WithStatus(404)
	}
	return t, err
}

// List returns the tokens p may manage.
func (s *Tokens) List(ctx context.Context, p *authz.Principal) ([]Token, error) {
	u, err := s.actor(ctx, p)
	if err != nil {
		return nil, err
	}
	all, err := s.Store.ListScopedTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := []Token{}
	for i := range all {
		if all[i].Creator == u.Name || authz.IsAdmin(u.Grants) {
			out = append(out, view(&all[i]))
		}
	}
	return out, nil
}

// Get returns one token p may manage.
func (s *Tokens) Get(ctx context.Context, p *authz.Principal, name string) (Token, error) {
	u, err := s.actor(ctx, p)
	if err != nil {
		return Token{}, err
	}
	t, err := s.owned(ctx, u, name)
	if err != nil {
		return Token{}, err
	}
	return view(t), nil
}

// Create validates req, refuses grants beyond the creator's, and stores a
// token with both passwords set.
func (s *Tokens) Create(ctx context.Context, p *authz.Principal, req CreateRequest) (Secrets, error) {
	u, err := s.actor(ctx, p)
	if err != nil {
		return Secrets{}, err
	}
	t, err := s.validate(req)
	if err != nil {
		return Secrets{}, oci.Errorf(oci.CodeDenied, "%v", err).WithStatus(400)
	}
	if err := authz.WithinGrants(t.Grants, u.Grants); err != nil {
		return Secrets{}, oci.Errorf(oci.CodeDenied, "%v", err)
	}
	t.Creator = u.Name
	var out Secrets
	if out.Password1, t.Hash1, err = newSecret(1); err != nil {
		return Secrets{}, err
	}
	if out.Password2, t.Hash2, err = newSecret(2); err != nil {
		return Secrets{}, err
	}
	t.Created = s.now().UTC()
	if err := s.Store.CreateScopedToken(ctx, t); errors.Is(err, metadata.ErrExists) {
		return Secrets{}, oci.Errorf(oci.CodeDenied, "token %s already exists", t.Name).WithStatus(409)
	} else if err != nil {
		return Secrets{}, err
	}
	out.Token = view(t)
	return out, nil
}

func (s *Tokens) validate(req CreateRequest) (*metadata.ScopedToken, error) {
	if err := authn.ValidTokenName(req.Name); err != nil {
		return nil, err
	}
	if len(req.Grants) == 0 || len(req.Grants) > maxGrants {
		return nil, fmt.Errorf("want 1 to %d grants", maxGrants)
	}
	t := &metadata.ScopedToken{Name: req.Name, CIDRs: []string{}}
	for _, g := range req.Grants {
		if err := authz.ValidTokenGrant(g); err != nil {
			return nil, err
		}
		t.Grants = append(t.Grants, authz.NormalizeTokenGrant(g))
	}
	if len(req.CIDRs) > maxCIDRs {
		return nil, fmt.Errorf("at most %d CIDRs", maxCIDRs)
	}
	for _, c := range req.CIDRs {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("CIDR %.60q: %w", c, err)
		}
		t.CIDRs = append(t.CIDRs, pfx.Masked().String())
	}
	if req.Expires != "" {
		e, err := time.Parse(time.RFC3339, req.Expires)
		if err != nil {
			return nil, fmt.Errorf("expires: %w", err)
		}
		if !e.After(s.now()) {
			return nil, fmt.Errorf("expires %s is not in the future", req.Expires)
		}
		t.Expires = e.UTC()
	}
	return t, nil
}

func newSecret(slot int) (secret, hash string, err error) {
	if secret, err = authn.GenerateSecret(slot); err != nil {
		return "", "", err
	}
	hash, err = authn.HashPassword(secret)
	return secret, hash, err
}

// Rotate replaces the password in slot (1 or 2); the other keeps working.
func (s *Tokens) Rotate(ctx context.Context, p *authz.Principal, name string, slot int) (Secrets, error) {
	if slot != 1 && slot != 2 {
		return Secrets{}, oci.Errorf(oci.CodeDenied, "password slot %d: want 1 or 2", slot).WithStatus(400)
	}
	return s.change(ctx, p, name, func(t *metadata.ScopedToken, out *Secrets) error {
		secret, hash, err := newSecret(slot)
		if err != nil {
			return err
		}
		if slot == 1 {
			t.Hash1, out.Password1 = hash, secret
		} else {
			t.Hash2, out.Password2 = hash, secret
		}
		return nil
	})
}

// SetDisabled disables or enables a token.
func (s *Tokens) SetDisabled(ctx context.Context, p *authz.Principal, name string, disabled bool) (Token, error) {
	out, err := s.change(ctx, p, name, func(t *metadata.ScopedToken, _ *Secrets) error {
		t.Disabled = disabled
		return nil
	})
	return out.Token, err
}

func (s *Tokens) change(ctx context.Context, p *authz.Principal, name string, fn func(*metadata.ScopedToken, *Secrets) error) (Secrets, error) {
	u, err := s.actor(ctx, p)
	if err != nil {
		return Secrets{}, err
	}
	t, err := s.owned(ctx, u, name)
	if err != nil {
		return Secrets{}, err
	}
	var out Secrets
	if err := fn(t, &out); err != nil {
		return Secrets{}, err
	}
	if err := s.Store.UpdateScopedToken(ctx, t); err != nil {
		return Secrets{}, err
	}
	out.Token = view(t)
	return out, nil
}

// Delete removes a token.
func (s *Tokens) Delete(ctx context.Context, p *authz.Principal, name string) error {
	u, err := s.actor(ctx, p)
	if err != nil {
		return err
	}
	if _, err := s.owned(ctx, u, name); err != nil {
		return err
	}
	return s.Store.DeleteScopedToken(ctx, name)
}
