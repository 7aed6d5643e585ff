package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Identity is who the issuer says logged in.
type Identity struct {
	Subject       string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	Username      string   `json:"preferred_username"`
	Groups        []string `json:"groups"`
}

// ErrIDToken wraps every ID token refusal.
var ErrIDToken = errors.New("invalid ID token")

const (
	maxIDToken = 64 << 10
	leeway     = 60 * time.Second
)

var b64 = base64.RawURLEncoding.Strict()

type idClaims struct {
	Identity
	Issuer   string          `json:"iss"`
	Audience json.RawMessage `json:"aud"`
	AZP      string          `json:"azp"`
	Expiry   int64           `json:"exp"`
	IssuedAt int64           `json:"iat"`
	NotBef   int64           `json:"nbf"`
	Nonce    string          `json:"nonce"`
}

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrIDToken, fmt.Sprintf(format, a...))
}

// noNonce marks a verification without a login of this process to match:
// a token handed over by the CLI (VerifyHandedOver).
const noNonce = "\x00no nonce"

// VerifyHandedOver checks an ID token a client obtained in its own login
// (berth login --oidc) and hands to the server: everything Verify checks
// but the nonce, which only that client knew.
func (p *Provider) VerifyHandedOver(ctx context.Context, raw string) (*Identity, error) {
	return p.Verify(ctx, raw, noNonce)
}

// Verify checks an ID token: an asymmetric algorithm only (RS256, ES256,
// EdDSA; never none or an HMAC keyed with a public key), a key of the
// issuer's JWKS named by kid, the signature, then iss, aud (and azp when
// several audiences), exp, iat, nbf and the nonce of this login.
func (p *Provider) Verify(ctx context.Context, raw, nonce string) (*Identity, error) {
	if len(raw) > maxIDToken {
		return nil, bad("longer than %d bytes", maxIDToken)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, bad("not three segments")
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, bad("header: %v", err)
	}
	var h struct {
		Alg  string          `json:"alg"`
		Kid  string          `json:"kid"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, bad("header: %v", err)
	}
	if h.Crit != nil {
		return nil, bad("critical header parameters are not supported")
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, bad("signature: %v", err)
	}
	key, err := p.keys.key(ctx, h.Kid, h.Alg)
	if err != nil {
		return nil, err
	}
	if err := verifySig(h.Alg, key, []byte(parts[0]+"."+parts[1]), sig); err != nil {
		return nil, err
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, bad("payload: %v", err)
	}
	var c idClaims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, bad("payload: %v", err)
	}
	if err := p.checkClaims(&c, nonce, time.Now()); err != nil {
		return nil, err
	}
	return &c.Identity, nil
}

func (p *Provider) checkClaims(c *idClaims, nonce string, now time.Time) error {
	if c.Issuer != p.cfg.Issuer {
		return bad("issuer %.100q is not %q", c.Issuer, p.cfg.Issuer)
	}
	var auds []string
	if err := json.Unmarshal(c.Audience, &auds); err != nil {
		var one string
		if err := json.Unmarshal(c.Audience, &one); err != nil {
			return bad("aud is neither a string nor a list")
		}
		auds = []string{one}
	}
	if !slices.Contains(auds, p.cfg.ClientID) {
		return bad("audience %v does not include %q", auds, p.cfg.ClientID)
	}
	if len(auds) > 1 && c.AZP != p.cfg.ClientID {
		return bad("several audiences and azp %.100q is not %q", c.AZP, p.cfg.ClientID)
	}
	l := int64(leeway / time.Second)
	switch t := now.Unix(); {
	case c.Expiry == 0 || t > c.Expiry+l:
		return bad("expired or no exp")
	case c.IssuedAt > t+l:
		return bad("issued in the future")
	case c.NotBef > t+l:
		return bad("not yet valid")
	}
	if nonce != noNonce && (nonce == "" || c.Nonce != nonce) {
		return bad("nonce does not match this login")
	}
	if c.Subject == "" {
		return bad("no subject")
	}
	return nil
}

func verifySig(alg string, key crypto.PublicKey, signed, sig []byte) error {
	switch alg {
	case "RS256":
		k, ok := key.(*rsa.PublicKey)
		if !ok {
			return bad("key type %T for RS256", key)
		}
		sum := sha256.Sum256(signed)
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) != nil {
			return bad("bad signature")
		}
	case "ES256":
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || len(sig) != 64 {
			return bad("key type %T or signature length %d for ES256", key, len(sig))
		}
		sum := sha256.Sum256(signed)
		if !ecdsa.Verify(k, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return bad("bad signature")
		}
	case "EdDSA":
		k, ok := key.(ed25519.PublicKey)
		if !ok || !ed25519.Verify(k, signed, sig) {
			return bad("bad signature")
		}
	default:
		return bad("algorithm %.16q is not accepted", alg)
	}
	return nil
}

// keySet caches the issuer's JWKS; an unknown kid refetches it, at most
// once a minute, so rotation at the issuer is followed and a flood of
// forged kids costs one fetch a minute.
type keySet struct {
	url  string
	http *http.Client

	mu      sync.Mutex
	keys    map[string]jwk
	fetched time.Time
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

const refetchInterval = time.Minute

func (ks *keySet) key(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	k, ok := ks.keys[kid]
	if !ok && time.Since(ks.fetched) >= refetchInterval {
		var doc struct {
			Keys []jwk `json:"keys"`
		}
		if err := getJSON(ctx, ks.http, ks.url, &doc); err != nil {
			return nil, fmt.Errorf("oidc: fetching JWKS: %w", err)
		}
		ks.fetched = time.Now()
		ks.keys = map[string]jwk{}
		for _, k := range doc.Keys {
			if k.Use == "" || k.Use == "sig" {
				ks.keys[k.Kid] = k
			}
		}
		k, ok = ks.keys[kid]
	}
	if !ok {
		return nil, bad("no key %.64q in the issuer's JWKS", kid)
	}
	if k.Alg != "" && k.Alg != alg {
		return nil, bad("key %.64q is for %.16q, not %.16q", kid, k.Alg, alg)
	}
	return k.public()
}

func (k jwk) public() (crypto.PublicKey, error) {
	dec := func(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
	switch k.Kty {
	case "RSA":
		n, err1 := dec(k.N)
		e, err2 := dec(k.E)
		if err1 != nil || err2 != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
			return nil, bad("malformed or short RSA key %.64q", k.Kid)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		x, err1 := dec(k.X)
		y, err2 := dec(k.Y)
		if k.Crv != "P-256" || err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, bad("unsupported EC key %.64q", k.Kid)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, bad("EC key %.64q: %v", k.Kid, err)
		}
		return pub, nil
	case "OKP":
		x, err := dec(k.X)
		if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, bad("unsupported OKP key %.64q", k.Kid)
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, bad("unsupported key type %.16q", k.Kty)
}
