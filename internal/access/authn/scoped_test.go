package authn

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/access/netrule"
	"github.com/berth-registry/berth/internal/metadata"
)

func TestSecretFormat(t *testing.T) {
	for _, slot := range []int{1, 2} {
		s, err := GenerateSecret(slot)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ParseSecret(s); err != nil || got != slot {
			t.Errorf("ParseSecret(%q) = %d, %v; want %d", s, got, err, slot)
		}
	}
	if _, err := GenerateSecret(3); err == nil {
		t.Error("slot 3 accepted")
	}
	good, _ := GenerateSecret(1)
	for _, bad := range []string{"", good[:len(good)-1], good + "x", "brt3" + good[4:], "xrt1" + good[4:],
		"brt1-" + good[5:], good[:10] + "+" + good[11:], strings.Repeat("a", secretLen)} {
		if _, err := ParseSecret(bad); !errors.Is(err, ErrSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrSecret", bad, err)
		}
	}
}

func TestScopedTokenLogin(t *testing.T) {
	a, db, _ := newAuth(t)
	a.Tokens = db
	ctx := context.Background()
	now := time.Now()
	a.cache.now = func() time.Time { return now }
	p1, _ := GenerateSecret(1)
	p2, _ := GenerateSecret(2)
	h1, _ := HashPassword(p1)
	h2, _ := HashPassword(p2)
	mk := func(name string, mod func(*metadata.ScopedToken)) {
		tok := &metadata.ScopedToken{Name: name, Creator: "admin", Hash1: h1, Hash2: h2,
			Grants: []metadata.TokenGrant{{Pattern: "ci/*", Actions: []string{"pull", "push"}}}}
		if mod != nil {
			mod(tok)
		}
		if err := db.CreateScopedToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	mk("ci", nil)
	mk("off", func(t *metadata.ScopedToken) { t.Disabled = true })
	mk("old", func(t *metadata.ScopedToken) { t.Expires = now.Add(-time.Second) })
	mk("bound", func(t *metadata.ScopedToken) { t.CIDRs = []string{"127.0.0.2/32"} })
	mk("half", func(t *metadata.ScopedToken) { t.Hash2 = "" })
	tests := []struct {
		name, user, pw, client string
		ok                     bool
	}{
		{"password1", "token$ci", p1, "127.0.0.1", true},
		{"password2", "token$ci", p2, "127.0.0.1", true},
		{"wrong secret", "token$ci", flipLast(p1), "127.0.0.1", false},
		{"secret of slot 1 labelled 2", "token$ci", "brt2" + p1[4:], "127.0.0.1", false},
		{"not a secret", "token$ci", "hunter22hunter22", "127.0.0.1", false},
		{"unknown token", "token$ghost", p1, "127.0.0.1", false},
		{"token name as user", "ci", p1, "127.0.0.1", false},
		{"disabled", "token$off", p1, "127.0.0.1", false},
		{"expired", "token$old", p1, "127.0.0.1", false},
		{"bound, inside", "token$bound", p1, "127.0.0.2", true},
		{"bound, outside", "token$bound", p1, "127.0.0.1", false},
		{"empty slot", "token$half", p2, "127.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v2/", nil)
			r = r.WithContext(netrule.WithClientIP(r.Context(), netip.MustParseAddr(tt.client)))
			r.SetBasicAuth(tt.user, tt.pw)
			p, err := a.Authenticate(r)
			if !tt.ok {
				if !errors.Is(err, ErrCredentials) {
					t.Fatalf("err = %v, want ErrCredentials", err)
				}
				return
			}
			if err != nil || !p.Scoped || p.Name != tt.user || len(p.Scopes) != 1 {
				t.Fatalf("principal %+v, %v", p, err)
			}
		})
		a.limit = throttle{} // the failures above are not what this test is about
	}
	// Last use is written once per interval, not per request.
	tok, _ := db.ScopedToken(ctx, "ci")
	if tok.LastUsed.IsZero() {
		t.Fatal("last use not recorded")
	}
	first := tok.LastUsed
	now = now.Add(10 * time.Second)
	r := httptest.NewRequest("GET", "/v2/", nil)
	r.SetBasicAuth("token$ci", p1)
	if _, err := a.Authenticate(r); err != nil {
		t.Fatal(err)
	}
	if tok, _ = db.ScopedToken(ctx, "ci"); !tok.LastUsed.Equal(first) {
		t.Errorf("last use rewritten after 10s: %v -> %v", first, tok.LastUsed)
	}
	now = now.Add(time.Minute)
	if _, err := a.Authenticate(r); err != nil {
		t.Fatal(err)
	}
	if tok, _ = db.ScopedToken(ctx, "ci"); !tok.LastUsed.After(first) {
		t.Errorf("last use not advanced after a minute: %v", tok.LastUsed)
	}
	// Rotating password1 leaves password2 working, and the cached login
	// of the old password1 ends at once.
	np1, _ := GenerateSecret(1)
	tok.Hash1, _ = HashPassword(np1)
	if err := db.UpdateScopedToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	for pw, want := range map[string]bool{p1: false, np1: true, p2: true} {
		r := httptest.NewRequest("GET", "/v2/", nil)
		r.SetBasicAuth("token$ci", pw)
		if _, err := a.Authenticate(r); (err == nil) != want {
			t.Errorf("after rotation, %s…: err %v, want ok=%v", pw[:5], err, want)
		}
	}
}

// flipLast changes the last character of a secret, keeping its format.
func flipLast(s string) string {
	c := byte('A')
	if s[len(s)-1] == 'A' {
		c = 'B'
	}
	return s[:len(s)-1] + string(c)
}
