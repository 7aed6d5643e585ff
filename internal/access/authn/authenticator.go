package authn

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/token"
	"github.com/berth-registry/berth/internal/metadata"
)

// ErrCredentials means the credentials offered are wrong, unknown,
// disabled or malformed; which of these is never told to the client.
var ErrCredentials = errors.New("invalid credentials")

// UserStore is what authentication needs of the account store.
type UserStore interface {
	User(ctx context.Context, name string) (*metadata.User, error)
}

// Authenticator turns a request's credentials into a Principal.
type Authenticator struct {
	users    UserStore
	verifier *token.Verifier
	// dummy is verified against when the account does not exist or is
	// disabled, so that an unknown name costs what a wrong password does.
	dummy string
	cache loginCache
	// Tokens, if set, is where scoped tokens ("token$name" logins) are
	// looked up. Set it before serving.
	Tokens metadata.ScopedTokens
	// OIDC, if set, accepts ID tokens at the token endpoint.
	OIDC  IDTokenExchanger
	used  useTracker
	limit throttle
	// Observer, if set, is told of every login: each Basic password
	// actually checked (not those answered by the login cache) and each
	// rejected credential. Set it before serving.
	Observer LoginObserver
}

// LoginObserver receives login outcomes (the audit log). method is
// "basic" or "bearer"; user is the name offered, "" if none; err is nil
// on success. It never sees a password or a token.
type LoginObserver interface {
	ObserveLogin(r *http.Request, method, user string, err error)
}

func (a *Authenticator) observe(r *http.Request, method, user string, err error) {
	if a.Observer != nil {
		a.Observer.ObserveLogin(r, method, user, err)
	}
}

// NewAuthenticator returns an authenticator checking passwords against
// users and registry tokens with verifier.
func NewAuthenticator(users UserStore, verifier *token.Verifier) (*Authenticator, error) {
	pw, err := GeneratePassword()
	if err != nil {
		return nil, err
	}
	dummy, err := HashPassword(pw)
	if err != nil {
		return nil, err
	}
	a := &Authenticator{users: users, verifier: verifier, dummy: dummy}
	if _, err := rand.Read(a.cache.key[:]); err != nil {
		return nil, fmt.Errorf("authenticator: %w", err)
	}
	return a, nil
}

// Authenticate reads the Authorization header: none is the anonymous
// principal; Basic is checked against the account store; Bearer is a
// registry token. Any other scheme or a failed check is ErrCredentials.
func (a *Authenticator) Authenticate(r *http.Request) (*authz.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return &authz.Principal{}, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch {
	case strings.EqualFold(scheme, "Basic"):
		name, pw, ok := r.BasicAuth()
		if !ok {
			err := fmt.Errorf("%w: malformed Basic credentials", ErrCredentials)
			a.observe(r, "basic", "", err)
			return nil, err
		}
		p, _, cached, err := a.check(r, name, pw)
		if !cached || err != nil {
			a.observe(r, "basic", name, err)
		}
		return p, err
	case strings.EqualFold(scheme, "Bearer"):
		c, err := a.verifier.Verify(cred)
		if err == nil && !AddrIn(c.CIDRs, clientAddr(r)) {
			err = fmt.Errorf("token of %s is not for client %s", c.Subject, clientAddr(r))
		}
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrCredentials, err)
			a.observe(r, "bearer", "", err)
			return nil, err
		}
		return &authz.Principal{Name: c.Subject, Token: c}, nil
	}
	return nil, fmt.Errorf("%w: unsupported scheme", ErrCredentials)
}

// Check checks a login name and password from r as a Basic login is
// checked: throttled per name and client address, an account or (for a
// "token$name" login) a scoped token. Failures are ErrCredentials or a
// *ThrottledError. The web UI's login form uses it.
func (a *Authenticator) Check(r *http.Request, name, pw string) (*authz.Principal, error) {
	p, _, _, err := a.check(r, name, pw)
	return p, err
}

// check is Check, also returning the fingerprint of the stored hash that
// matched (for refresh tokens) and whether the login cache answered.
func (a *Authenticator) check(r *http.Request, name, pw string) (*authz.Principal, string, bool, error) {
	addr, now := clientAddr(r), a.cache.clock()
	if err := a.limit.check(name, addr, now); err != nil {
		return nil, "", false, err
	}
	var (
		p      *authz.Principal
		fp     string
		cached bool
		err    error
	)
	if tn, ok := TokenName(name); ok {
		var t *metadata.ScopedToken
		if t, cached, err = a.tokenLogin(r.Context(), r, tn, pw); err == nil {
			p = &authz.Principal{Name: name, Scoped: true, Scopes: t.Grants, CIDRs: t.CIDRs}
			slot, _ := ParseSecret(pw)
			fp = fingerprint([3]string{"", t.Hash1, t.Hash2}[slot])
		}
	} else {
		var u *metadata.User
		if u, cached, err = a.login(r.Context(), name, pw); err == nil {
			p = &authz.Principal{Name: u.Name, Grants: u.Grants}
			fp = fingerprint(u.PasswordHash)
		}
	}
	switch {
	case errors.Is(err, ErrCredentials):
		a.limit.fail(name, addr, now)
	case err == nil && !cached:
		a.limit.succeed(name)
	}
	return p, fp, cached, err
}

// Login checks a name and password and returns the enabled account. An
// unknown or disabled account runs the same hash as a wrong password.
func (a *Authenticator) Login(ctx context.Context, name, pw string) (*metadata.User, error) {
	u, _, err := a.login(ctx, name, pw)
	return u, err
}

// login is Login, also reporting whether the login cache answered.
func (a *Authenticator) login(ctx context.Context, name, pw string) (*metadata.User, bool, error) {
	if len(name) > MaxUserNameLen || len(pw) > MaxPasswordLen {
		VerifyPassword(a.dummy, "")
		return nil, false, ErrCredentials
	}
	u, err := a.users.User(ctx, name)
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return nil, false, fmt.Errorf("looking up account: %w", err)
	}
	if u == nil || u.Disabled {
		VerifyPassword(a.dummy, pw)
		return nil, false, ErrCredentials
	}
	key := a.cache.keyOf(name, pw)
	if a.cache.hit(key, u.PasswordHash) {
		return u, true, nil
	}
	if !VerifyPassword(u.PasswordHash, pw) {
		return nil, false, ErrCredentials
	}
	a.cache.put(key, u.PasswordHash)
	return u, false, nil
}

// Verifier is the registry token verifier, for handlers that need it.
func (a *Authenticator) Verifier() *token.Verifier { return a.verifier }

// loginCache remembers recent successful logins so that clients sending
// Basic credentials on every request (curl, some CI tools) pay for
// argon2id once a minute, not per request. Entries are keyed by an HMAC
// of name and password under a per-process key (no password is kept) and
// bound to the stored hash: a changed password or a disabled account
// (checked before the cache) takes effect at once.
type loginCache struct {
	key [32]byte
	mu  sync.Mutex
	m   map[[32]byte]loginEntry
	now func() time.Time
}

type loginEntry struct {
	hash    string
	expires time.Time
}

const (
	loginCacheTTL  = time.Minute
	loginCacheSize = 1024
)

func (c *loginCache) keyOf(name, pw string) [32]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(base64.RawStdEncoding.EncodeToString([]byte(name))))
	m.Write([]byte{':'})
	m.Write([]byte(pw))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

func (c *loginCache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *loginCache) hit(k [32]byte, hash string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	return ok && e.hash == hash && c.clock().Before(e.expires)
}

func (c *loginCache) put(k [32]byte, hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	if c.m == nil {
		c.m = make(map[[32]byte]loginEntry)
	}
	if len(c.m) >= loginCacheSize {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= loginCacheSize {
			clear(c.m)
		}
	}
	c.m[k] = loginEntry{hash: hash, expires: now.Add(loginCacheTTL)}
}
