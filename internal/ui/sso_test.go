package ui

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/oidc"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

// newSSOUI builds a UI with authentication on, and with OIDC when issuer
// is not "": the login handler berth serve mounts, over an issuer whose
// discovery document an httptest server serves (only the redirect to it
// is followed here; TestOIDCWithDex in internal/server signs in through
// a real issuer).
func newSSOUI(t *testing.T, issuer string) (*UI, *sqlite.Store) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := fsblob.Open(ctx, t.TempDir(), fsblob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := authn.NewAuthenticator(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Store: db, Blobs: blobs, Auth: auth}
	if issuer != "" {
		opts.OIDC = func(onLogin func(http.ResponseWriter, *http.Request, *authz.Principal, *oidc.Identity)) http.Handler {
			return &oidc.Handler{Issuer: &oidc.Lazy{Config: oidc.Config{Issuer: issuer, ClientID: "berth"}},
				Mapper: &oidc.Mapper{Users: db}, RedirectURL: "http://127.0.0.1/auth/oidc/callback", OnLogin: onLogin,
				Log: slog.New(slog.DiscardHandler)}
		}
	}
	u, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return u, db
}

// TestSSOSignIn: the sign-in page offers SSO only when OIDC is
// configured, carrying the page to come back to; /auth/oidc/login
// redirects to the issuer's authorization endpoint with PKCE S256, state
// and nonce, and remembers only a safe next page; the callback's last
// step starts a session and goes to that page.
func TestSSOSignIn(t *testing.T) {
	var issuer string
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/authorize",
			"token_endpoint": issuer + "/token", "jwks_uri": issuer + "/keys", "code_challenge_methods_supported": []string{"S256"}})
	}))
	defer idp.Close()
	issuer = idp.URL

	get := func(u *UI, path string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, req)
		return rec
	}
	t.Run("sign-in page", func(t *testing.T) {
		for _, tt := range []struct {
			name, issuer, path, want string
			link                     bool
		}{
			{"no OIDC", "", "/ui/signin", "", false},
			{"OIDC", issuer, "/ui/signin", `<a href="/auth/oidc/login?next=%2fui%2f">Sign in with SSO</a>`, true},
			{"OIDC with next", issuer, "/ui/signin?next=/ui/repositories%3Fq%3Dx", `<a href="/auth/oidc/login?next=%2fui%2frepositories%3fq%3dx">Sign in with SSO</a>`, true},
			{"OIDC with an unsafe next", issuer, "/ui/signin?next=//evil.example/ui/", `<a href="/auth/oidc/login?next=%2fui%2f">Sign in with SSO</a>`, true},
		} {
			t.Run(tt.name, func(t *testing.T) {
				u, _ := newSSOUI(t, tt.issuer)
				rec := get(u, tt.path)
				body := rec.Body.String()
				if rec.Code != 200 || strings.Contains(body, "Sign in with SSO") != tt.link || !strings.Contains(body, tt.want) {
					t.Errorf("GET %s = %d, want SSO link %v (%s):\n%s", tt.path, rec.Code, tt.link, tt.want, body)
				}
			})
		}
	})

	u, db := newSSOUI(t, issuer)
	t.Run("login redirects to the issuer", func(t *testing.T) {
		for _, tt := range []struct{ next, remembered string }{
			{"/ui/repositories/team/app", "/ui/repositories/team/app"},
			{"", ""},
			{"https://evil.example/ui/", ""},
			{"//evil.example/ui/", ""},
			{"/ui/\\evil", ""},
		} {
			rec := get(u, oidc.LoginPath+"?next="+url.QueryEscape(tt.next))
			loc, err := url.Parse(rec.Header().Get("Location"))
			if rec.Code != http.StatusFound || err != nil || loc.Scheme+"://"+loc.Host+loc.Path != issuer+"/authorize" {
				t.Fatalf("GET login (next %q) = %d to %q, want a redirect to %s/authorize", tt.next, rec.Code, rec.Header().Get("Location"), issuer)
			}
			q := loc.Query()
			cookies := map[string]string{}
			for _, c := range rec.Result().Cookies() {
				cookies[c.Name] = c.Value
			}
			if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || q.Get("nonce") == "" ||
				q.Get("client_id") != "berth" || q.Get("response_type") != "code" || q.Get("redirect_uri") != "http://127.0.0.1/auth/oidc/callback" {
				t.Errorf("authorize query %v lacks PKCE S256, state, nonce or the client", q)
			}
			if cookies["berth_oidc_state"] != q.Get("state") {
				t.Errorf("state cookie %q, want the state %q", cookies["berth_oidc_state"], q.Get("state"))
			}
			if cookies[ssoNextCookie] != tt.remembered {
				t.Errorf("next %q: remembered %q, want %q", tt.next, cookies[ssoNextCookie], tt.remembered)
			}
			if rec.Header().Get("Content-Security-Policy") == "" {
				t.Error("the login answer lacks the UI's security headers")
			}
		}
	})
	t.Run("callback starts a session", func(t *testing.T) {
		if err := db.CreateUser(context.Background(), &metadata.User{Name: "alice@example.com", Grants: []metadata.Grant{{Pattern: "*", Role: "admin"}}}); err != nil {
			t.Fatal(err)
		}
		p := &authz.Principal{Name: "alice@example.com", Grants: []metadata.Grant{{Pattern: "*", Role: "admin"}}}
		for _, tt := range []struct{ cookie, want string }{
			{"/ui/repositories?q=x", "/ui/repositories?q=x"},
			{"", "/ui/"},
			{"//evil.example/", "/ui/"},
		} {
			req := httptest.NewRequest(http.MethodGet, oidc.CallbackPath, nil)
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: ssoNextCookie, Value: tt.cookie})
			}
			rec := httptest.NewRecorder()
			u.ssoSignedIn(rec, req, p, &oidc.Identity{})
			var session *http.Cookie
			for _, c := range rec.Result().Cookies() {
				if c.Name == SessionCookie {
					session = c
				}
			}
			if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != tt.want || session == nil {
				t.Fatalf("callback (next %q) = %d to %q, session %v; want %q with a session", tt.cookie, rec.Code, rec.Header().Get("Location"), session, tt.want)
			}
			if body := get(u, "/ui/", session).Body.String(); !strings.Contains(body, "alice@example.com") {
				t.Errorf("home with the SSO session does not show the user:\n%.1000s", body)
			}
		}
	})
}
