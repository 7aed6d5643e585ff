package authn

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/access/netrule"
	"github.com/berth-registry/berth/internal/metadata"
)

// TokenUserPrefix starts the login name of a scoped token: "token$ci"
// logs in as the token named ci. '$' is not allowed in account names, so
// the two never collide.
const TokenUserPrefix = "token$"

// A scoped token's secret is "brt" + slot + "_" + 32 URL-safe base64
// characters (192 random bits). The slot says which stored hash to check,
// so a login costs one argon2id run, not two, and a pasted secret is
// recognisable in a leak scan.
const (
	secretPrefix  = "brt"
	secretRandLen = 32
	secretLen     = len(secretPrefix) + 2 + secretRandLen
)

// ErrSecret reports a string that is not a scoped token secret.
var ErrSecret = errors.New("not a scoped token secret")

// GenerateSecret returns a new secret for password slot 1 or 2.
func GenerateSecret(slot int) (string, error) {
	if slot != 1 && slot != 2 {
		return "", fmt.Errorf("password slot %d: want 1 or 2", slot)
	}
	b := make([]byte, secretRandLen*3/4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating token secret: %w", err)
	}
	return fmt.Sprintf("%s%d_%s", secretPrefix, slot, base64.RawURLEncoding.EncodeToString(b)), nil
}

// ParseSecret returns the password slot a secret belongs to.
func ParseSecret(s string) (int, error) {
	if len(s) != secretLen || !strings.HasPrefix(s, secretPrefix) || s[len(secretPrefix)+1] != '_' {
		return 0, ErrSecret
	}
	slot := int(s[len(secretPrefix)] - '0')
	if slot != 1 && slot != 2 {
		return 0, ErrSecret
	}
	for _, c := range []byte(s[len(secretPrefix)+2:]) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return 0, ErrSecret
		}
	}
	return slot, nil
}

// TokenName returns the scoped token a login name designates, if any.
func TokenName(login string) (string, bool) {
	return strings.CutPrefix(login, TokenUserPrefix)
}

// ValidTokenName accepts what ValidUserName accepts: names appear in
// login names, logs and the audit log.
func ValidTokenName(name string) error {
	if err := ValidUserName(name); err != nil {
		return fmt.Errorf("token name: %w", err)
	}
	return nil
}

// TokenUsable returns why t may not be used now from client, or nil.
func TokenUsable(t *metadata.ScopedToken, client netip.Addr, now time.Time) error {
	switch {
	case t.Disabled:
		return fmt.Errorf("%w: token %s is disabled", ErrCredentials, t.Name)
	case !t.Expires.IsZero() && !now.Before(t.Expires):
		return fmt.Errorf("%w: token %s expired", ErrCredentials, t.Name)
	case !AddrIn(t.CIDRs, client):
		return fmt.Errorf("%w: token %s is not for client %s", ErrCredentials, t.Name, client)
	}
	return nil
}

// AddrIn reports whether addr lies in one of cidrs; no CIDRs admit any
// address. Unparsable entries (validated at creation) admit nothing.
func AddrIn(cidrs []string, addr netip.Addr) bool {
	if len(cidrs) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// clientAddr is the address the network layer resolved, or the peer.
func clientAddr(r *http.Request) netip.Addr {
	if ip, ok := netrule.ClientIPFrom(r.Context()); ok {
		return ip
	}
	return netrule.ClientIP(r, nil)
}

// tokenLogin checks a scoped token's secret. A missing token, a malformed
// secret or an empty slot costs the same argon2id run as a wrong secret.
func (a *Authenticator) tokenLogin(ctx context.Context, r *http.Request, name, secret string) (*metadata.ScopedToken, bool, error) {
	if a.Tokens == nil {
		VerifyPassword(a.dummy, secret)
		return nil, false, ErrCredentials
	}
	t, err := a.Tokens.ScopedToken(ctx, name)
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return nil, false, fmt.Errorf("looking up token: %w", err)
	}
	hash := a.dummy
	slot, perr := ParseSecret(secret)
	if t != nil && perr == nil {
		hash = [3]string{"", t.Hash1, t.Hash2}[slot]
	}
	if t == nil || perr != nil || hash == "" {
		VerifyPassword(a.dummy, secret)
		return nil, false, ErrCredentials
	}
	// Usability is checked after the hash so that a disabled or expired
	// token, or one used from the wrong network, is not told apart by time;
	// the error says why for the audit log only.
	key := a.cache.keyOf(TokenUserPrefix+name, secret)
	cached := a.cache.hit(key, hash)
	if !cached && !VerifyPassword(hash, secret) {
		return nil, false, ErrCredentials
	}
	if err := TokenUsable(t, clientAddr(r), a.cache.clock()); err != nil {
		return nil, cached, err
	}
	if !cached {
		a.cache.put(key, hash)
	}
	a.used.touch(ctx, a.Tokens, name, a.cache.clock())
	return t, cached, nil
}

// useTracker records when tokens are used without a database write per
// request: a token's time is written at most once per useInterval.
type useTracker struct {
	mu      sync.Mutex
	written map[string]time.Time
}

const useInterval = time.Minute

func (u *useTracker) touch(ctx context.Context, store metadata.ScopedTokens, name string, now time.Time) {
	u.mu.Lock()
	if u.written == nil {
		u.written = map[string]time.Time{}
	}
	if last, ok := u.written[name]; ok && now.Sub(last) < useInterval {
		u.mu.Unlock()
		return
	}
	if len(u.written) > 4096 {
		clear(u.written) // bounded: at worst one extra write per token
	}
	u.written[name] = now
	u.mu.Unlock()
	// A failed write only loses a last-used time; the login stands.
	_ = store.TouchScopedTokens(context.WithoutCancel(ctx), map[string]time.Time{name: now})
}
