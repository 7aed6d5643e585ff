package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Algorithm is the only JWS algorithm issued and accepted.
const Algorithm = "EdDSA"

// Limits on tokens.
const (
	// MaxTokenBytes bounds a token before any decoding. Tokens with a few
	// dozen scopes stay far below it.
	MaxTokenBytes = 16 << 10
	// MaxTTL bounds a token's lifetime: registry tokens are short-lived
	// and refreshed, never a long-lived credential.
	MaxTTL = 24 * time.Hour
	// DefaultLeeway tolerates clock skew between replicas.
	DefaultLeeway = 30 * time.Second
)

// Errors returned by Verify. Every failure wraps ErrInvalid; an expired
// token also wraps ErrExpired, so a handler can hint that the client
// should fetch a new one.
var (
	ErrInvalid = errors.New("invalid token")
	ErrExpired = errors.New("token expired")
)

// Claims are the claims of a registry token in the Docker token format.
// Times are seconds since the epoch (JWT NumericDate).
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	NotBefore int64    `json:"nbf"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	Access    []Access `json:"access"`
	// CIDRs, when set, are the only client networks the token may be
	// presented from (a scoped token bound to networks).
	CIDRs []string `json:"cidrs,omitempty"`
	// Fingerprint, on refresh tokens, identifies the credential that
	// logged in; a changed password no longer matches it.
	Fingerprint string `json:"fp,omitempty"`
}

// Allows reports whether the claims grant action on repository repo.
func (c *Claims) Allows(repo, action string) bool {
	if c == nil {
		return false
	}
	for _, a := range c.Access {
		if a.Type == TypeRepository && a.Name == repo &&
			(slices.Contains(a.Actions, action) || slices.Contains(a.Actions, ActionAll)) {
			return true
		}
	}
	return false
}

type header struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ,omitempty"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit,omitempty"`
}

var b64 = base64.RawURLEncoding.Strict()

// Issuer signs tokens with the newest key of a set.
type Issuer struct {
	keys     *KeySet
	issuer   string
	audience string
	now      func() time.Time
}

// NewIssuer returns an issuer naming itself issuer (the iss claim) and
// addressing audience (the aud claim: the service name of the challenge).
func NewIssuer(keys *KeySet, issuer, audience string) *Issuer {
	return &Issuer{keys: keys, issuer: issuer, audience: audience, now: time.Now}
}

// Issue returns a signed token granting access to subject for ttl. The
// caller has already decided what subject may have; Issue only validates
// that each grant is well formed.
func (i *Issuer) Issue(subject string, access []Access, ttl time.Duration) (string, error) {
	return i.IssueBound(subject, access, nil, ttl)
}

// IssueBound is Issue for a subject that may only be used from cidrs.
func (i *Issuer) IssueBound(subject string, access []Access, cidrs []string, ttl time.Duration) (string, error) {
	if ttl < time.Second || ttl > MaxTTL {
		return "", fmt.Errorf("issuing token: lifetime %s outside [1s, %s]", ttl, MaxTTL)
	}
	for _, a := range access {
		if err := a.validate(); err != nil {
			return "", fmt.Errorf("issuing token: grant %s: %w", a, err)
		}
	}
	if access == nil {
		access = []Access{} // "access": [] rather than null, as clients expect
	}
	now := i.now().Unix()
	return i.sign(Claims{
		Issuer:    i.issuer,
		Subject:   subject,
		Audience:  i.audience,
		ExpiresAt: now + int64(ttl/time.Second),
		NotBefore: now,
		IssuedAt:  now,
		Access:    access,
		CIDRs:     cidrs,
	})
}

// sign sets a fresh ID on c and signs it with the current key.
func (i *Issuer) sign(c Claims) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("issuing token: %w", err)
	}
	c.ID = b64.EncodeToString(jti[:])
	k := i.keys.signer()
	hdr, err := json.Marshal(header{Alg: Algorithm, Typ: "JWT", Kid: k.id})
	if err != nil {
		return "", fmt.Errorf("issuing token: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("issuing token: %w", err)
	}
	signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(payload)
	sig := ed25519.Sign(k.priv, []byte(signing))
	tok := signing + "." + b64.EncodeToString(sig)
	if len(tok) > MaxTokenBytes {
		return "", fmt.Errorf("issuing token: %d bytes, more than the %d a verifier accepts", len(tok), MaxTokenBytes)
	}
	return tok, nil
}

// Verifier checks tokens against every key of a set.
type Verifier struct {
	keys     *KeySet
	issuer   string
	audience string
	leeway   time.Duration
	now      func() time.Time
	cache    verified
}

// NewVerifier returns a verifier accepting only tokens from issuer for
// audience, with DefaultLeeway for clock skew.
func NewVerifier(keys *KeySet, issuer, audience string) *Verifier {
	return &Verifier{keys: keys, issuer: issuer, audience: audience, leeway: DefaultLeeway, now: time.Now}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Verify checks a token and returns its claims, which the caller must not
// modify. The signature is checked before the payload is parsed, so forged
// claims are never decoded. No secret is compared here: Ed25519
// verification uses only the public key.
func (v *Verifier) Verify(token string) (*Claims, error) {
	return v.verify(token, v.audience, MaxTTL)
}

// verify checks a token meant for audience with a lifetime up to maxTTL.
func (v *Verifier) verify(token, audience string, maxTTL time.Duration) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, invalid("longer than %d bytes", MaxTokenBytes)
	}
	if e, ok := v.cache.get(token); ok {
		if _, ok := v.keys.publicKey(e.kid); !ok {
			return nil, invalid("%v %q", ErrUnknownKey, e.kid)
		}
		c := e.claims
		if err := v.checkClaims(&c, audience, maxTTL); err != nil {
			return nil, err
		}
		return &c, nil
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") || h64 == "" || p64 == "" || s64 == "" {
		return nil, invalid("not three dot-separated segments")
	}
	hb, err := b64.DecodeString(h64)
	if err != nil {
		return nil, invalid("header: %v", err)
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, invalid("header: %v", err)
	}
	if h.Alg != Algorithm {
		return nil, invalid("algorithm %.16q is not accepted", h.Alg)
	}
	if h.Typ != "" && h.Typ != "JWT" {
		return nil, invalid("type %.16q is not accepted", h.Typ)
	}
	if h.Crit != nil {
		return nil, invalid("critical header parameters are not supported")
	}
	pub, ok := v.keys.publicKey(h.Kid)
	if !ok {
		return nil, invalid("%v %.64q", ErrUnknownKey, h.Kid)
	}
	sig, err := b64.DecodeString(s64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, invalid("malformed signature")
	}
	if !ed25519.Verify(pub, []byte(token[:len(h64)+1+len(p64)]), sig) {
		return nil, invalid("bad signature")
	}
	pb, err := b64.DecodeString(p64)
	if err != nil {
		return nil, invalid("payload: %v", err)
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, invalid("payload: %v", err)
	}
	if err := v.checkClaims(&c, audience, maxTTL); err != nil {
		return nil, err
	}
	v.cache.put(token, h.Kid, &c, v.now().Unix())
	return &c, nil
}

func (v *Verifier) checkClaims(c *Claims, audience string, maxTTL time.Duration) error {
	if c.Issuer != v.issuer {
		return invalid("issuer %.64q is not %q", c.Issuer, v.issuer)
	}
	if c.Audience != audience {
		return invalid("audience %.64q is not %q", c.Audience, audience)
	}
	now := v.now()
	leeway := int64(v.leeway / time.Second)
	switch {
	case c.ExpiresAt == 0:
		return invalid("no expiry")
	case now.Unix() > c.ExpiresAt+leeway:
		return fmt.Errorf("%w: %w at %s", ErrInvalid, ErrExpired, time.Unix(c.ExpiresAt, 0).UTC().Format(time.RFC3339))
	case c.NotBefore > now.Unix()+leeway:
		return invalid("not valid before %s", time.Unix(c.NotBefore, 0).UTC().Format(time.RFC3339))
	case c.IssuedAt > now.Unix()+leeway:
		return invalid("issued in the future")
	case c.ExpiresAt-c.IssuedAt > int64(maxTTL/time.Second):
		return invalid("lifetime longer than %s", maxTTL)
	}
	return nil
}
