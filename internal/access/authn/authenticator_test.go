package authn

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/access/token"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

func newAuth(t *testing.T) (*Authenticator, *sqlite.Store, *token.Issuer) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "berth.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := token.OpenKeySet(ctx, filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(db, token.NewVerifier(keys, "berth", "berth"))
	if err != nil {
		t.Fatal(err)
	}
	return a, db, token.NewIssuer(keys, "berth", "berth")
}

func TestLogin(t *testing.T) {
	a, db, _ := newAuth(t)
	ctx := context.Background()
	hash, _ := HashPassword("first-password")
	if err := db.CreateUser(ctx, &metadata.User{Name: "alice", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(ctx, "alice", "first-password"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	for _, c := range []struct{ name, pw string }{{"alice", "wrong-password"}, {"ghost", "first-password"}, {"", ""}} {
		if _, err := a.Login(ctx, c.name, c.pw); !errors.Is(err, ErrCredentials) {
			t.Errorf("Login(%q, %q) = %v, want ErrCredentials", c.name, c.pw, err)
		}
	}
	// A cached login must not outlive a password change or a disable.
	hash2, _ := HashPassword("second-password")
	if err := db.UpdateUser(ctx, &metadata.User{Name: "alice", PasswordHash: hash2}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(ctx, "alice", "first-password"); !errors.Is(err, ErrCredentials) {
		t.Errorf("old password after passwd: %v, want ErrCredentials", err)
	}
	if _, err := a.Login(ctx, "alice", "second-password"); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateUser(ctx, &metadata.User{Name: "alice", PasswordHash: hash2, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(ctx, "alice", "second-password"); !errors.Is(err, ErrCredentials) {
		t.Errorf("disabled account: %v, want ErrCredentials", err)
	}
}

func TestAuthenticateSchemes(t *testing.T) {
	a, db, is := newAuth(t)
	hash, _ := HashPassword("bob-password")
	if err := db.CreateUser(context.Background(), &metadata.User{Name: "bob", PasswordHash: hash,
		Grants: []metadata.Grant{{Pattern: "*", Role: "reader"}}}); err != nil {
		t.Fatal(err)
	}
	tok, err := is.Issue("bob", []token.Access{{Type: "repository", Name: "x", Actions: []string{"pull"}}}, 60e9)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, header string
		wantName     string
		wantErr      bool
		wantToken    bool
	}{
		{"none", "", "", false, false},
		{"basic", "Basic Ym9iOmJvYi1wYXNzd29yZA==", "bob", false, false},
		{"basic wrong", "Basic Ym9iOm5vcGU=", "", true, false},
		{"basic malformed", "Basic !!!", "", true, false},
		{"bearer", "Bearer " + tok, "bob", false, true},
		{"bearer forged", "Bearer " + tok + "x", "", true, false},
		{"digest", "Digest username=bob", "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v2/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			p, err := a.Authenticate(r)
			if tt.wantErr {
				if !errors.Is(err, ErrCredentials) {
					t.Fatalf("err = %v, want ErrCredentials", err)
				}
				return
			}
			if err != nil || p.Name != tt.wantName || (p.Token != nil) != tt.wantToken {
				t.Fatalf("principal %+v, %v", p, err)
			}
		})
	}
}
