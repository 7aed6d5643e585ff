package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/access/token"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
)

func authConfig(t *testing.T) config.Config {
	c := testConfig(t)
	c.Auth.Enabled = true
	c.Auth.AnonymousRead = "public/*"
	return c
}

type creds struct{ user, pass, bearer string }

func authDo(t *testing.T, method, url string, c creds) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.bearer != "":
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	case c.user != "":
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b)
}

// tokenFor fetches a token and returns it with its granted access.
func tokenFor(t *testing.T, base string, c creds, scopes ...string) (string, []token.Access) {
	t.Helper()
	q := "?service=berth"
	for _, s := range scopes {
		q += "&scope=" + s
	}
	resp, body := authDo(t, http.MethodGet, base+"/token"+q, c)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token for %q: %d %s", c.user, resp.StatusCode, body)
	}
	var tr struct{ Token string }
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatal(err)
	}
	_, payload, _ := strings.Cut(tr.Token, ".")
	payload, _, _ = strings.Cut(payload, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var claims token.Claims
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return tr.Token, claims.Access
}

func addUser(t *testing.T, s *Server, name, pw string, disabled bool, grants ...metadata.Grant) {
	t.Helper()
	hash, err := authn.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	u := &metadata.User{Name: name, PasswordHash: hash, Disabled: disabled, Grants: grants}
	if err := s.meta.(metadata.Users).CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

func TestAuthEndToEnd(t *testing.T) {
	cfg := authConfig(t)
	s, logs, stop := start(t, cfg)
	base := s.URL()

	pwPath := filepath.Join(cfg.DataDir, adminPasswordFile)
	st, err := os.Stat(pwPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin password file: %v, mode %v; want 0600", err, st)
	}
	pwBytes, _ := os.ReadFile(pwPath)
	adminPW := strings.TrimSpace(string(pwBytes))
	if !strings.Contains(logs.String(), pwPath) || strings.Contains(logs.String(), adminPW) {
		t.Fatal("the log must name the password file and never contain the password")
	}
	addUser(t, s, "rd", "reader-pass", false, metadata.Grant{Pattern: "team/*", Role: "reader"})
	addUser(t, s, "wr", "writer-pass", false, metadata.Grant{Pattern: "team/*", Role: "writer"})
	addUser(t, s, "off", "disabled-pass", true, metadata.Grant{Pattern: "*", Role: "admin"})

	admin := creds{user: "admin", pass: adminPW}
	reader := creds{user: "rd", pass: "reader-pass"}
	writer := creds{user: "wr", pass: "writer-pass"}

	adminTok, granted := tokenFor(t, base, admin, "repository:team/app:pull,push,delete", "registry:catalog:*")
	if len(granted) != 2 || strings.Join(granted[0].Actions, ",") != "pull,push,delete" {
		t.Errorf("admin token grants %+v", granted)
	}
	readerTok, granted := tokenFor(t, base, reader, "repository:team/app:pull,push", "registry:catalog:*", "repository:other/x:pull")
	if len(granted) != 1 || granted[0].Name != "team/app" || strings.Join(granted[0].Actions, ",") != "pull" {
		t.Errorf("reader token grants %+v, want pull on team/app only", granted)
	}
	anonTok, granted := tokenFor(t, base, creds{}, "repository:public/base:pull,push", "repository:team/app:pull")
	if len(granted) != 1 || granted[0].Name != "public/base" || strings.Join(granted[0].Actions, ",") != "pull" {
		t.Errorf("anonymous token grants %+v, want pull on public/base only", granted)
	}
	writerTok, _ := tokenFor(t, base, writer, "repository:team/app:pull,push")

	challenge := `Bearer realm="` + base + `/token",service="berth"`
	tests := []struct {
		name, method, path string
		c                  creds
		status             int
		wantAuth           string // WWW-Authenticate, "" = must be absent
		wantBody           string
	}{
		{"base anonymous", "GET", "/v2/", creds{}, 401, challenge, "UNAUTHORIZED"},
		{"base basic", "GET", "/v2/", admin, 200, "", ""},
		{"base bearer", "GET", "/v2/", creds{bearer: readerTok}, 200, "", ""},
		{"base anonymous token", "GET", "/v2/", creds{bearer: anonTok}, 200, "", ""},
		{"wrong password", "GET", "/v2/", creds{user: "admin", pass: "nope-nope"}, 401, challenge, "UNAUTHORIZED"},
		{"unknown user", "GET", "/v2/", creds{user: "ghost", pass: "nope-nope"}, 401, challenge, "UNAUTHORIZED"},
		{"disabled user", "GET", "/v2/", creds{user: "off", pass: "disabled-pass"}, 401, challenge, ""},
		{"forged token", "GET", "/v2/", creds{bearer: readerTok[:len(readerTok)-4] + "AAAA"}, 401, challenge, ""},
		{"anonymous pull private", "GET", "/v2/team/app/tags/list", creds{}, 401, challenge + `,scope="repository:team/app:pull"`, ""},
		{"anonymous pull public", "GET", "/v2/public/base/tags/list", creds{}, 404, "", "NAME_UNKNOWN"},
		{"anonymous push public", "POST", "/v2/public/base/blobs/uploads/", creds{}, 401, challenge + `,scope="repository:public/base:pull,push"`, ""},
		{"reader pull basic", "GET", "/v2/team/app/tags/list", reader, 404, "", "NAME_UNKNOWN"},
		{"reader push basic", "POST", "/v2/team/app/blobs/uploads/", reader, 403, "", "DENIED"},
		{"reader push bearer", "POST", "/v2/team/app/blobs/uploads/", creds{bearer: readerTok}, 403, "", "DENIED"},
		{"reader pull outside grants", "GET", "/v2/other/x/tags/list", reader, 403, "", "DENIED"},
		{"writer push basic", "POST", "/v2/team/app/blobs/uploads/", writer, 202, "", ""},
		{"writer push bearer", "POST", "/v2/team/app/blobs/uploads/", creds{bearer: writerTok}, 202, "", ""},
		{"writer delete", "DELETE", "/v2/team/app/manifests/sha256:" + strings.Repeat("0", 64), writer, 403, "", "DENIED"},
		{"token for another repo", "GET", "/v2/team/other/tags/list", creds{bearer: writerTok}, 401, challenge + `,scope="repository:team/other:pull"`, ""},
		{"catalog reader", "GET", "/v2/_catalog", reader, 403, "", "DENIED"},
		{"catalog admin", "GET", "/v2/_catalog", admin, 200, "", ""},
		{"catalog admin token", "GET", "/v2/_catalog", creds{bearer: adminTok}, 200, "", ""},
		{"api anonymous", "GET", "/api/v1/repositories", creds{}, 401, challenge + `,scope="registry:catalog:*"`, ""},
		{"api reader", "GET", "/api/v1/repositories", reader, 403, "", "DENIED"},
		{"api admin basic", "GET", "/api/v1/repositories", admin, 200, "", ""},
		{"api admin bearer", "GET", "/api/v1/repositories", creds{bearer: adminTok}, 200, "", ""},
		{"token bad password", "GET", "/token?scope=repository:team/app:pull", creds{user: "rd", pass: "wrong-pass"}, 401, `Basic realm="berth"`, ""},
		{"token bad scope", "GET", "/token?scope=repository:Bad:pull", reader, 400, "", ""},
		{"healthz", "GET", "/healthz", creds{}, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := authDo(t, tt.method, base+tt.path, tt.c)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.wantAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantAuth)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Errorf("body %s lacks %q", body, tt.wantBody)
			}
		})
	}
	if strings.Contains(logs.String(), "reader-pass") || strings.Contains(logs.String(), readerTok) {
		t.Error("a credential reached the log")
	}
	if !strings.Contains(logs.String(), "client=127.0.0.1") {
		t.Error("request lines do not record the client address")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A restart keeps the accounts and does not replace the admin password.
	s2, _, _ := start(t, cfg)
	if again, _ := os.ReadFile(pwPath); string(again) != string(pwBytes) {
		t.Error("restart rewrote the admin password")
	}
	if resp, _ := authDo(t, "GET", s2.URL()+"/v2/", admin); resp.StatusCode != 200 {
		t.Errorf("admin after restart: %d", resp.StatusCode)
	}
}

func TestNetworkRules(t *testing.T) {
	cfg := authConfig(t)
	cfg.Network.Deny = "127.0.0.0/8"
	s, logs, _ := start(t, cfg)
	for path, want := range map[string]int{"/v2/": 403, "/token": 403, "/api/v1/repositories": 403, "/readyz": 403, "/healthz": 200} {
		resp, body := authDo(t, "GET", s.URL()+path, creds{})
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d (%s)", path, resp.StatusCode, want, body)
		}
		if want == 403 && (!strings.Contains(body, "DENIED") || resp.Header.Get("WWW-Authenticate") != "") {
			t.Errorf("%s: refused before authentication should be a bare DENIED: %s", path, body)
		}
	}
	if !strings.Contains(logs.String(), "client address refused") {
		t.Error("refusals are not logged")
	}

	// Without authentication the rules still apply.
	open := testConfig(t)
	open.Network.DefaultAction = "deny"
	open.Network.Allow = "10.0.0.0/8"
	s2, _, _ := start(t, open)
	if resp, _ := authDo(t, "GET", s2.URL()+"/v2/", creds{}); resp.StatusCode != 403 {
		t.Errorf("default deny, loopback not allowed: %d, want 403", resp.StatusCode)
	}
	open.Network.Allow = "127.0.0.1"
	open.DataDir = t.TempDir()
	s3, _, _ := start(t, open)
	if resp, _ := authDo(t, "GET", s3.URL()+"/v2/", creds{}); resp.StatusCode != 200 {
		t.Errorf("allowed address: %d, want 200", resp.StatusCode)
	}
}

func TestAuthOffByDefault(t *testing.T) {
	s, _, _ := start(t, testConfig(t))
	if resp, _ := authDo(t, "POST", s.URL()+"/v2/any/repo/blobs/uploads/", creds{}); resp.StatusCode != 202 {
		t.Errorf("anonymous push with auth off: %d, want 202", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.DataDir, adminPasswordFile)); !os.IsNotExist(err) {
		t.Errorf("admin password file created with auth off: %v", err)
	}
	if resp, _ := authDo(t, "GET", s.URL()+"/token", creds{}); resp.StatusCode != 404 {
		t.Errorf("/token with auth off: %d, want 404", resp.StatusCode)
	}
}

// TestMountNeedsPullOnSource: a cross-repository mount copies a blob out
// of its source, so without pull there it becomes a plain upload.
func TestMountNeedsPullOnSource(t *testing.T) {
	cfg := authConfig(t)
	s, _, _ := start(t, cfg)
	pw, _ := os.ReadFile(filepath.Join(cfg.DataDir, adminPasswordFile))
	admin := creds{user: "admin", pass: strings.TrimSpace(string(pw))}
	addUser(t, s, "wr", "writer-pass", false, metadata.Grant{Pattern: "team/*", Role: "writer"})
	writer := creds{user: "wr", pass: "writer-pass"}

	blob := "a secret layer"
	d := "sha256:" + sha256Hex(blob)
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v2/secret/x/blobs/uploads/?digest="+d, strings.NewReader(blob))
	req.SetBasicAuth(admin.user, admin.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("monolithic upload: %d", resp.StatusCode)
	}
	for _, tt := range []struct {
		name string
		c    creds
		want int
	}{{"writer without pull on source", writer, http.StatusAccepted}, {"admin", admin, http.StatusCreated}} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := authDo(t, http.MethodPost, s.URL()+"/v2/team/app/blobs/uploads/?mount="+d+"&from=secret/x", tt.c)
			if resp.StatusCode != tt.want {
				t.Errorf("mount: %d, want %d (%s)", resp.StatusCode, tt.want, body)
			}
		})
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
