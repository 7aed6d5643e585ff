package oidc

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testIssuer serves discovery and a JWKS for one RSA key on 127.0.0.1 and
// signs ID tokens: the forgeries below need a signer the test controls.
type testIssuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ti := &testIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": ti.srv.URL, "authorization_endpoint": ti.srv.URL + "/auth",
			"token_endpoint": ti.srv.URL + "/token", "jwks_uri": ti.srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		e := big.NewInt(int64(key.E)).Bytes()
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(e)}}})
	})
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) sign(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signed := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, ti.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerifyIDToken(t *testing.T) {
	ti := newTestIssuer(t)
	ctx := context.Background()
	p, err := Discover(ctx, Config{Issuer: ti.srv.URL, ClientID: "berth"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": ti.srv.URL, "sub": "u1", "aud": "berth", "exp": now + 300, "iat": now, "nonce": "n1",
			"email": "alice@example.com", "email_verified": true, "groups": []string{"dev"}}
		if mod != nil {
			mod(c)
		}
		return c
	}
	hdr := map[string]any{"alg": "RS256", "kid": "k1"}
	good := ti.sign(t, hdr, claims(nil))
	id, err := p.Verify(ctx, good, "n1")
	if err != nil || id.Email != "alice@example.com" || id.Subject != "u1" || len(id.Groups) != 1 {
		t.Fatalf("good token: %+v, %v", id, err)
	}
	// HS256 keyed with the RSA public key's modulus: the classic confusion.
	hsHdr, _ := json.Marshal(map[string]any{"alg": "HS256", "kid": "k1"})
	body, _ := json.Marshal(claims(nil))
	signed := base64.RawURLEncoding.EncodeToString(hsHdr) + "." + base64.RawURLEncoding.EncodeToString(body)
	m := hmac.New(sha256.New, ti.key.N.Bytes())
	m.Write([]byte(signed))
	hs := signed + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	parts := strings.Split(good, ".")
	noneHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"k1"}`))
	tests := []struct {
		name, token, nonce string
	}{
		{"alg none", noneHdr + "." + parts[1] + ".", "n1"},
		{"HS256 with the public key", hs, "n1"},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`)) + "." + parts[2], "n1"},
		{"unknown kid", ti.sign(t, map[string]any{"alg": "RS256", "kid": "k2"}, claims(nil)), "n1"},
		{"wrong nonce", good, "n2"},
		{"empty nonce", good, ""},
		{"wrong issuer", ti.sign(t, hdr, claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), "n1"},
		{"wrong audience", ti.sign(t, hdr, claims(func(c map[string]any) { c["aud"] = "other" })), "n1"},
		{"several audiences without azp", ti.sign(t, hdr, claims(func(c map[string]any) { c["aud"] = []string{"berth", "other"} })), "n1"},
		{"expired", ti.sign(t, hdr, claims(func(c map[string]any) { c["exp"] = now - 120 })), "n1"},
		{"no exp", ti.sign(t, hdr, claims(func(c map[string]any) { delete(c, "exp") })), "n1"},
		{"issued in the future", ti.sign(t, hdr, claims(func(c map[string]any) { c["iat"] = now + 600 })), "n1"},
		{"crit header", ti.sign(t, map[string]any{"alg": "RS256", "kid": "k1", "crit": []string{"x"}}, claims(nil)), "n1"},
		{"two segments", parts[0] + "." + parts[1], "n1"},
		{"huge", strings.Repeat("a", maxIDToken+1), "n1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.Verify(ctx, tt.token, tt.nonce); !errors.Is(err, ErrIDToken) {
				t.Errorf("Verify = %v, want ErrIDToken", err)
			}
		})
	}
	azp := ti.sign(t, hdr, claims(func(c map[string]any) { c["aud"] = []string{"berth", "other"}; c["azp"] = "berth" }))
	if _, err := p.Verify(ctx, azp, "n1"); err != nil {
		t.Errorf("several audiences with azp: %v", err)
	}
	if _, err := p.VerifyHandedOver(ctx, ti.sign(t, hdr, claims(func(c map[string]any) { delete(c, "nonce") }))); err != nil {
		t.Errorf("handed-over token without nonce: %v", err)
	}
}

func TestDiscoverIssuerMismatch(t *testing.T) {
	ti := newTestIssuer(t)
	if _, err := Discover(context.Background(), Config{Issuer: ti.srv.URL + "/", ClientID: "berth"}); err == nil {
		t.Error("an issuer differing from the configured one was accepted")
	}
}

func FuzzVerify(f *testing.F) {
	for _, s := range []string{"a.b.c", "..", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.AAAA"} {
		f.Add(s)
	}
	p := &Provider{cfg: Config{Issuer: "https://issuer.example", ClientID: "berth"},
		keys: &keySet{keys: map[string]jwk{}, fetched: time.Now().Add(time.Hour)}}
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := p.Verify(context.Background(), raw, "n"); err == nil {
			t.Fatalf("Verify(%q) accepted a token with no key to check it", raw)
		}
	})
}
