package remote

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestParseChallenge(t *testing.T) {
	for _, tt := range []struct {
		in     string
		scheme string
		params map[string]string
	}{
		{`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"`, "bearer",
			map[string]string{"realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:a/b:pull,push"}},
		{`Basic realm="berth"`, "basic", map[string]string{"realm": "berth"}},
		{`bearer realm=https://x/t, service=s`, "bearer", map[string]string{"realm": "https://x/t", "service": "s"}},
		{`Bearer realm="a\"b"`, "bearer", map[string]string{"realm": `a"b`}},
	} {
		ch, ok := parseChallenge(tt.in)
		if !ok || ch.scheme != tt.scheme || fmt.Sprint(ch.params) != fmt.Sprint(tt.params) {
			t.Errorf("parseChallenge(%q) = %v %v, want %s %v", tt.in, ch, ok, tt.scheme, tt.params)
		}
	}
	if _, ok := parseChallenge(`Negotiate abc`); ok {
		t.Error("Negotiate accepted")
	}
}

func TestScopeFor(t *testing.T) {
	for _, tt := range []struct{ method, path, want string }{
		{"GET", "/v2/_catalog?n=10", "registry:catalog:*"},
		{"GET", "/v2/team/app/tags/list", "repository:team/app:pull"},
		{"HEAD", "/v2/app/manifests/v1", "repository:app:pull"},
		{"DELETE", "/v2/app/manifests/sha256:ab", "repository:app:delete"},
		{"GET", "/v2/a/blobs/uploads/x/blobs/sha256:1", "repository:a/blobs/uploads/x:pull"},
		{"GET", "/acr/v1/team/app/_tags?n=100", "repository:team/app:metadata_read"},
		{"GET", "/api/v1/repositories", ""},
	} {
		if got := scopeFor(tt.method, tt.path); got != tt.want {
			t.Errorf("scopeFor(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

// tokenRegistry is a registry with the distribution token flow in front:
// /v2/ answers 401 with a Bearer challenge until a token granting the
// request's scope comes with it. It records the token requests.
type tokenRegistry struct {
	mu       sync.Mutex
	requests []string // "GET scope=… auth=user" or "POST grant_type=…"
	srv      *httptest.Server
	user     string
	pass     string
	refresh  string // the refresh token /oauth2/token accepts
	aad      string // the AAD token /oauth2/exchange accepts
}

func newTokenRegistry(t *testing.T) *tokenRegistry {
	r := &tokenRegistry{user: "alice", pass: "s3cret", refresh: "acr-refresh", aad: "aad-access"}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/token", r.token)
	mux.HandleFunc("POST /oauth2/exchange", func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		r.log("EXCHANGE grant_type=%s service=%s", req.Form.Get("grant_type"), req.Form.Get("service"))
		if req.Form.Get("access_token") != r.aad {
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		// Recorded shape of ACR's /oauth2/exchange answer.
		fmt.Fprintf(w, `{"refresh_token":%q}`, r.refresh)
	})
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, req *http.Request) {
		want := "granted:" + scopeFor(req.Method, req.URL.Path)
		if req.Header.Get("Authorization") != "Bearer "+want {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/oauth2/token",service="test.registry",scope="%s"`, r.srv.URL, scopeFor(req.Method, req.URL.Path)))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"name":"app","tags":["v1"]}`)
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *tokenRegistry) log(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, fmt.Sprintf(format, args...))
}

func (r *tokenRegistry) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

// token answers GET with Basic credentials (or anonymously) and POST with
// a refresh token, in the recorded shapes of distribution and ACR.
func (r *tokenRegistry) token(w http.ResponseWriter, req *http.Request) {
	_ = req.ParseForm()
	scope := req.Form.Get("scope")
	switch req.Method {
	case http.MethodGet:
		u, p, ok := req.BasicAuth()
		r.log("GET scope=%s user=%s", scope, u)
		if ok && (u != r.user || p != r.pass) {
			http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
			return
		}
		if !ok {
			scope = "anonymous"
		}
		fmt.Fprintf(w, `{"token":"granted:%s","expires_in":300,"issued_at":"2026-01-01T00:00:00Z"}`, scope)
	case http.MethodPost:
		r.log("POST grant_type=%s service=%s scope=%s", req.Form.Get("grant_type"), req.Form.Get("service"), scope)
		if req.Form.Get("grant_type") != "refresh_token" || req.Form.Get("refresh_token") != r.refresh {
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		// Recorded shape of ACR's /oauth2/token answer: access_token only.
		fmt.Fprintf(w, `{"access_token":"granted:%s"}`, scope)
	}
}

func TestTokenFlow(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cred  Credential
		want  []string // token requests for two GETs of tags and one DELETE
		fails bool
	}{
		{"basic credentials", Credential{Username: "alice", Password: "s3cret"},
			[]string{"GET scope=repository:app:pull user=alice", "GET scope=repository:app:delete user=alice"}, false},
		{"acr refresh token as password", Credential{Username: ACRTokenUser, Password: "acr-refresh"},
			[]string{"POST grant_type=refresh_token service=test.registry scope=repository:app:pull", "POST grant_type=refresh_token service=test.registry scope=repository:app:delete"}, false},
		{"aad access token", Credential{AADAccessToken: "aad-access"},
			[]string{"EXCHANGE grant_type=access_token service=test.registry", "POST grant_type=refresh_token service=test.registry scope=repository:app:pull", "POST grant_type=refresh_token service=test.registry scope=repository:app:delete"}, false},
		{"wrong password", Credential{Username: "alice", Password: "nope"},
			[]string{"GET scope=repository:app:pull user=alice"}, true},
		{"anonymous gets a token that grants nothing", Credential{},
			[]string{"GET scope=repository:app:pull user="}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := newTokenRegistry(t)
			c, err := New(reg.srv.URL, Options{Credential: tt.cred, Retries: -1})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			_, err1 := c.Tags(ctx, "app", 0)
			_, err2 := c.Tags(ctx, "app", 0) // cached token: no second request
			err3 := c.DeleteTag(ctx, "app", "v1")
			if gotErr := err1 != nil; gotErr != tt.fails {
				t.Fatalf("first GET error = %v, want failure %v", err1, tt.fails)
			}
			if !tt.fails && (err2 != nil || err3 != nil) {
				t.Fatalf("later requests: %v, %v", err2, err3)
			}
			got := reg.seen()
			if tt.fails {
				got = got[:min(1, len(got))]
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("token requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestBasicChallenge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "bob" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"tags":["a"]}`)
	}))
	defer srv.Close()
	for _, tt := range []struct {
		cred Credential
		ok   bool
	}{{Credential{Username: "bob", Password: "pw"}, true}, {Credential{Username: "bob", Password: "x"}, false}, {Credential{}, false}} {
		c, _ := New(srv.URL, Options{Credential: tt.cred, Retries: -1})
		tags, err := c.Tags(context.Background(), "app", 0)
		if (err == nil) != tt.ok || (tt.ok && len(tags) != 1) {
			t.Errorf("%+v: tags %v err %v", tt.cred, tags, err)
		}
	}
}

func TestResolveCredential(t *testing.T) {
	dir := t.TempDir()
	helperDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(helperDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A credential helper as docker runs it: the server on stdin, JSON out.
	helper := `#!/bin/sh
read server
case "$server" in
  helped.example) echo '{"ServerURL":"helped.example","Username":"helper-user","Secret":"helper-secret"}';;
  token.example) echo '{"ServerURL":"token.example","Username":"<token>","Secret":"refresh-from-helper"}';;
  *) echo "credentials not found in native keychain"; exit 1;;
esac
`
	if err := os.WriteFile(filepath.Join(helperDir, "docker-credential-test"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("carol:pw:with:colons"))
	cfg := map[string]any{
		"auths": map[string]any{
			"https://plain.example/v1/": map[string]string{"auth": b64},
			"acr.azurecr.io":            map[string]string{"identitytoken": "acr-identity"},
		},
		"credHelpers": map[string]string{"helped.example": "test"},
		"credsStore":  "test",
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	baseEnv := map[string]string{"DOCKER_CONFIG": dir, "PATH": helperDir}
	for _, tt := range []struct {
		name   string
		host   string
		lookup CredentialLookup
		env    map[string]string
		want   Credential
		from   string
	}{
		{"flags first", "plain.example", CredentialLookup{Username: "f", Password: "p"}, nil, Credential{Username: "f", Password: "p"}, "flags"},
		{"named env", "plain.example", CredentialLookup{UsernameEnv: "U", PasswordEnv: "P"}, map[string]string{"U": "eu", "P": "ep"}, Credential{Username: "eu", Password: "ep"}, "env P"},
		{"per-registry env", "plain.example:5000", CredentialLookup{}, map[string]string{"BERTH_PLAIN_EXAMPLE_5000_USERNAME": "h", "BERTH_PLAIN_EXAMPLE_5000_PASSWORD": "hp", "BERTH_PASSWORD": "g"}, Credential{Username: "h", Password: "hp"}, "env BERTH_PLAIN_EXAMPLE_5000_PASSWORD"},
		{"aad token for acr", "myreg.azurecr.io", CredentialLookup{}, map[string]string{"BERTH_AAD_TOKEN": "aad", "BERTH_PASSWORD": "g"}, Credential{AADAccessToken: "aad"}, "env AAD access token"},
		{"aad token ignored elsewhere", "plain.example", CredentialLookup{}, map[string]string{"BERTH_AAD_TOKEN": "aad", "BERTH_USERNAME": "g", "BERTH_PASSWORD": "gp"}, Credential{Username: "g", Password: "gp"}, "env BERTH_PASSWORD"},
		{"global env", "plain.example", CredentialLookup{}, map[string]string{"BERTH_USERNAME": "g", "BERTH_PASSWORD": "gp"}, Credential{Username: "g", Password: "gp"}, "env BERTH_PASSWORD"},
		{"auths base64", "plain.example", CredentialLookup{}, nil, Credential{Username: "carol", Password: "pw:with:colons"}, "docker config " + filepath.Join(dir, "config.json")},
		{"auths identitytoken", "acr.azurecr.io", CredentialLookup{}, nil, Credential{IdentityToken: "acr-identity"}, "docker config " + filepath.Join(dir, "config.json")},
		{"credHelpers", "helped.example", CredentialLookup{}, nil, Credential{Username: "helper-user", Password: "helper-secret"}, "credential helper docker-credential-test"},
		{"credsStore with token", "token.example", CredentialLookup{}, nil, Credential{IdentityToken: "refresh-from-helper"}, "credential helper docker-credential-test"},
		{"helper knows nothing", "unknown.example", CredentialLookup{}, nil, Credential{}, "anonymous"},
		{"no docker config", "plain.example", CredentialLookup{DockerConfig: filepath.Join(dir, "missing.json")}, nil, Credential{}, "anonymous"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range baseEnv {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			l := tt.lookup
			l.Env = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			got, from, err := ResolveCredential(context.Background(), tt.host, l)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || from != tt.from {
				t.Errorf("got %+v from %q, want %+v from %q", got, from, tt.want, tt.from)
			}
		})
	}
}
