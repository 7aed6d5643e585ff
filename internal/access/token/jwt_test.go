package token

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	testIss = "berth-token"
	testAud = "registry.example"
)

func newKeys(t *testing.T) *KeySet {
	t.Helper()
	ks, err := OpenKeySet(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

var pushPull = []Access{{Type: TypeRepository, Name: "team/app", Actions: []string{ActionPull, ActionPush}}}

func TestRoundTrip(t *testing.T) {
	ks := newKeys(t)
	tok, err := NewIssuer(ks, testIss, testAud).Issue("alice", pushPull, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewVerifier(ks, testIss, testAud).Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.Issuer != testIss || c.Audience != testAud || c.ID == "" {
		t.Fatalf("claims %+v", c)
	}
	if c.ExpiresAt-c.IssuedAt != 300 || c.NotBefore != c.IssuedAt {
		t.Fatalf("times exp=%d nbf=%d iat=%d", c.ExpiresAt, c.NotBefore, c.IssuedAt)
	}
	for _, tt := range []struct {
		repo, action string
		want         bool
	}{
		{"team/app", "pull", true},
		{"team/app", "push", true},
		{"team/app", "delete", false},
		{"team/app2", "pull", false},
		{"team", "pull", false},
	} {
		if got := c.Allows(tt.repo, tt.action); got != tt.want {
			t.Errorf("Allows(%s, %s) = %v, want %v", tt.repo, tt.action, got, tt.want)
		}
	}
	// The payload is the Docker token format.
	var raw map[string]any
	payload, _ := b64.DecodeString(strings.Split(tok, ".")[1])
	if err := json.Unmarshal(payload, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("claim %q missing from %s", k, payload)
		}
	}
	// Two tokens never share an ID.
	tok2, _ := NewIssuer(ks, testIss, testAud).Issue("alice", pushPull, time.Minute)
	c2, err := NewVerifier(ks, testIss, testAud).Verify(tok2)
	if err != nil || c2.ID == c.ID {
		t.Fatalf("second token: %v, jti %q vs %q", err, c2.ID, c.ID)
	}
}

func TestAllowsWildcardAndEmpty(t *testing.T) {
	c := &Claims{Access: []Access{
		{Type: TypeRepository, Name: "a", Actions: []string{ActionAll}},
		{Type: TypeRegistry, Name: "catalog", Actions: []string{ActionAll}},
	}}
	if !c.Allows("a", ActionDelete) {
		t.Error(`"*" does not allow delete`)
	}
	if c.Allows("catalog", ActionPull) {
		t.Error("a registry grant allows a repository named catalog")
	}
	var none *Claims
	if none.Allows("a", ActionPull) {
		t.Error("nil claims allow")
	}
}

func TestIssueRefuses(t *testing.T) {
	is := NewIssuer(newKeys(t), testIss, testAud)
	tests := []struct {
		name   string
		access []Access
		ttl    time.Duration
	}{
		{"zero ttl", pushPull, 0},
		{"sub-second ttl", pushPull, time.Second - 1},
		{"negative ttl", pushPull, -time.Second},
		{"ttl too long", pushPull, MaxTTL + time.Second},
		{"bad name", []Access{{Type: TypeRepository, Name: "Bad Name", Actions: []string{ActionPull}}}, time.Minute},
		{"bad action", []Access{{Type: TypeRepository, Name: "a", Actions: []string{"admin"}}}, time.Minute},
		{"no action", []Access{{Type: TypeRepository, Name: "a"}}, time.Minute},
		{"bad type", []Access{{Type: "repository(plugin)", Name: "a", Actions: []string{ActionPull}}}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, err := is.Issue("alice", tt.access, tt.ttl); err == nil {
				t.Fatalf("issued %s", tok)
			}
		})
	}
}

// forge builds a token from raw header and payload JSON, signed by sign.
func forge(hdr, payload string, sign func([]byte) []byte) string {
	s := b64.EncodeToString([]byte(hdr)) + "." + b64.EncodeToString([]byte(payload))
	return s + "." + b64.EncodeToString(sign([]byte(s)))
}

func TestForgeriesRejected(t *testing.T) {
	ks := newKeys(t)
	k := ks.signer()
	now := time.Now()
	is := NewIssuer(ks, testIss, testAud)
	good, err := is.Issue("alice", pushPull, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	payload, _ := b64.DecodeString(parts[1])

	_, attacker, _ := ed25519.GenerateKey(nil)
	other := newKeys(t)
	otherTok, _ := NewIssuer(other, testIss, testAud).Issue("alice", pushPull, time.Minute)
	ours := func(b []byte) []byte { return ed25519.Sign(k.priv, b) }
	hdr := func(alg string) string { return `{"alg":"` + alg + `","typ":"JWT","kid":"` + k.id + `"}` }
	claims := func(mod func(*Claims)) string {
		c := Claims{Issuer: testIss, Subject: "alice", Audience: testAud, IssuedAt: now.Unix(), NotBefore: now.Unix(),
			ExpiresAt: now.Add(5 * time.Minute).Unix(), ID: "x", Access: pushPull}
		mod(&c)
		b, _ := json.Marshal(c)
		return string(b)
	}
	admin := strings.Replace(string(payload), `"alice"`, `"admin"`, 1)
	flipped := []byte(parts[2])
	flipped[3] ^= 1
	if flipped[3] == '.' {
		flipped[3] = 'A'
	}

	// A token whose base64url text has no '-' or '_' reads the same in the
	// standard alphabet; put a standard-only character in the signature then.
	std := strings.NewReplacer("-", "+", "_", "/").Replace(good)
	if std == good {
		std = parts[0] + "." + parts[1] + "." + "/" + parts[2][1:]
	}

	tests := []struct {
		name    string
		tok     string
		expired bool
	}{
		{"alg none, no signature", b64.EncodeToString([]byte(`{"alg":"none","kid":"`+k.id+`"}`)) + "." + parts[1] + ".", false},
		{"alg none, old signature", b64.EncodeToString([]byte(`{"alg":"none","kid":"`+k.id+`"}`)) + "." + parts[1] + "." + parts[2], false},
		{"alg None", forge(hdr("None"), string(payload), ours), false},
		{"alg eddsa lowercase", forge(hdr("eddsa"), string(payload), ours), false},
		{"alg HS256 keyed with the public key", forge(hdr("HS256"), admin, func(b []byte) []byte {
			m := hmac.New(sha256.New, k.pub)
			m.Write(b)
			return m.Sum(nil)
		}), false},
		{"alg ES256 header", forge(hdr("ES256"), string(payload), ours), false},
		{"modified payload", parts[0] + "." + b64.EncodeToString([]byte(admin)) + "." + parts[2], false},
		{"modified signature", parts[0] + "." + parts[1] + "." + string(flipped), false},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(otherTok, ".")[2], false},
		{"attacker key under our kid", forge(hdr(Algorithm), admin, func(b []byte) []byte { return ed25519.Sign(attacker, b) }), false},
		{"attacker key embedded as jwk", forge(`{"alg":"EdDSA","kid":"`+k.id+`","jwk":{"kty":"OKP","crv":"Ed25519","x":"`+
			b64.EncodeToString(attacker.Public().(ed25519.PublicKey))+`"}}`, admin, func(b []byte) []byte { return ed25519.Sign(attacker, b) }), false},
		{"token of another key set", otherTok, false},
		{"unknown kid", forge(`{"alg":"EdDSA","kid":"nope"}`, string(payload), ours), false},
		{"no kid", forge(`{"alg":"EdDSA"}`, string(payload), ours), false},
		{"typ not JWT", forge(`{"alg":"EdDSA","typ":"JOSE+JSON","kid":"`+k.id+`"}`, string(payload), ours), false},
		{"crit header", forge(`{"alg":"EdDSA","kid":"`+k.id+`","crit":["exp"]}`, string(payload), ours), false},
		{"header not JSON", forge(`alg=EdDSA`, string(payload), ours), false},
		{"payload not JSON", forge(hdr(Algorithm), `{"sub":`, ours), false},
		{"payload wrong types", forge(hdr(Algorithm), `{"iss":"`+testIss+`","aud":"`+testAud+`","exp":"never"}`, ours), false},
		{"wrong issuer", forge(hdr(Algorithm), claims(func(c *Claims) { c.Issuer = "evil" }), ours), false},
		{"wrong audience", forge(hdr(Algorithm), claims(func(c *Claims) { c.Audience = "other-registry" }), ours), false},
		{"audience as array", forge(hdr(Algorithm), strings.Replace(claims(func(*Claims) {}), `"aud":"`+testAud+`"`, `"aud":["`+testAud+`"]`, 1), ours), false},
		{"no expiry", forge(hdr(Algorithm), claims(func(c *Claims) { c.ExpiresAt = 0 }), ours), false},
		{"expired", forge(hdr(Algorithm), claims(func(c *Claims) { c.ExpiresAt = now.Add(-time.Minute).Unix() }), ours), true},
		{"not yet valid", forge(hdr(Algorithm), claims(func(c *Claims) { c.NotBefore = now.Add(time.Minute).Unix() }), ours), false},
		{"issued in the future", forge(hdr(Algorithm), claims(func(c *Claims) { c.IssuedAt = now.Add(time.Hour).Unix() }), ours), false},
		{"lifetime too long", forge(hdr(Algorithm), claims(func(c *Claims) { c.ExpiresAt = now.Add(MaxTTL + time.Hour).Unix() }), ours), false},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], false},
		{"standard base64 alphabet", std, false},
		{"four segments", good + ".x", false},
		{"two segments", parts[0] + "." + parts[1], false},
		{"empty header", "." + parts[1] + "." + parts[2], false},
		{"empty", "", false},
		{"huge", good + strings.Repeat("A", MaxTokenBytes), false},
		{"whitespace", " " + good, false},
	}
	for i := 1; i < len(good); i += len(good) / 7 {
		tests = append(tests, struct {
			name    string
			tok     string
			expired bool
		}{"truncated", good[:i], false})
	}
	// Where a forgery targets one check, that check must be what refuses
	// it, not some earlier accident of the test.
	why := map[string]string{
		"alg none, old signature":             `algorithm "none"`,
		"alg HS256 keyed with the public key": `algorithm "HS256"`,
		"modified payload":                    "bad signature",
		"signature of another token":          "bad signature",
		"attacker key under our kid":          "bad signature",
		"attacker key embedded as jwk":        "bad signature",
		"token of another key set":            "unknown signing key",
		"crit header":                         "critical",
		"wrong issuer":                        "issuer",
		"wrong audience":                      "audience",
		"expired":                             "expired",
		"not yet valid":                       "not valid before",
		"issued in the future":                "future",
		"lifetime too long":                   "lifetime",
		"huge":                                "longer than",
	}
	v := NewVerifier(ks, testIss, testAud)
	// A warm cache must not let a variant of a verified token through.
	if _, err := v.Verify(good); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.tok == good {
				t.Fatal("test case is the genuine token")
			}
			c, err := v.Verify(tt.tok)
			if err == nil {
				t.Fatalf("forged token accepted: %+v", c)
			}
			if w := why[tt.name]; !strings.Contains(err.Error(), w) {
				t.Fatalf("refused for %q, want a refusal for %q", err, w)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if errors.Is(err, ErrExpired) != tt.expired {
				t.Fatalf("error %v: wraps ErrExpired = %v, want %v", err, !tt.expired, tt.expired)
			}
		})
	}
	// The hand-made claims helper itself yields a valid token.
	if _, err := v.Verify(forge(hdr(Algorithm), claims(func(*Claims) {}), ours)); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
}

func TestTimeLeeway(t *testing.T) {
	ks := newKeys(t)
	is := NewIssuer(ks, testIss, testAud)
	base := time.Unix(1_900_000_000, 0)
	is.now = func() time.Time { return base }
	tok, err := is.Issue("alice", pushPull, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		at      time.Duration // verifier clock relative to issue time
		wantErr error
	}{
		{"at issue", 0, nil},
		{"verifier clock behind within leeway", -DefaultLeeway, nil},
		{"verifier clock behind beyond leeway", -DefaultLeeway - time.Second, ErrInvalid},
		{"just before expiry", time.Minute, nil},
		{"expired within leeway", time.Minute + DefaultLeeway, nil},
		{"expired beyond leeway", time.Minute + DefaultLeeway + time.Second, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(ks, testIss, testAud)
			v.now = func() time.Time { return base.Add(tt.at) }
			_, err := v.Verify(tok)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify at %s: %v, want %v", tt.at, err, tt.wantErr)
			}
		})
	}
}
