package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access/manage"
	"github.com/berth-registry/berth/internal/metadata"
)

// apiCall sends body as JSON with Basic credentials and decodes the answer.
func apiCall(t *testing.T, method, u string, c creds, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, r)
	req.SetBasicAuth(c.user, c.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, u, err, b)
		}
	}
	return resp.StatusCode
}

// postForm posts an OAuth2 form to /token.
func postForm(t *testing.T, base string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestScopedTokensAndRefresh(t *testing.T) {
	cfg := authConfig(t)
	s, logs, _ := start(t, cfg)
	base := s.URL()
	pw, _ := os.ReadFile(filepath.Join(cfg.DataDir, adminPasswordFile))
	admin := creds{user: "admin", pass: strings.TrimSpace(string(pw))}
	addUser(t, s, "dev", "dev-password", false, metadata.Grant{Pattern: "team/*", Role: "writer"})
	addUser(t, s, "rd", "rd-password", false, metadata.Grant{Pattern: "team/*", Role: "reader"})
	dev, rd := creds{user: "dev", pass: "dev-password"}, creds{user: "rd", pass: "rd-password"}

	create := func(c creds, name string, grants ...metadata.TokenGrant) (int, manage.Secrets) {
		var out manage.Secrets
		code := apiCall(t, http.MethodPost, base+"/api/v1/tokens", c, manage.CreateRequest{Name: name, Grants: grants}, &out)
		return code, out
	}
	g := func(p string, acts ...string) metadata.TokenGrant {
		return metadata.TokenGrant{Pattern: p, Actions: acts}
	}
	for _, tt := range []struct {
		name  string
		c     creds
		grant metadata.TokenGrant
		want  int
	}{
		{"within", dev, g("team/app", "pull", "push"), http.StatusCreated},
		{"delete beyond writer", dev, g("team/app", "delete"), http.StatusForbidden},
		{"other repositories", dev, g("other/*", "pull"), http.StatusForbidden},
		{"wider pattern", dev, g("*", "pull"), http.StatusForbidden},
		{"metadata needs admin", dev, g("*", "metadata:read"), http.StatusForbidden},
		{"unknown action", dev, g("team/app", "own"), http.StatusBadRequest},
		{"admin anything", admin, g("*", "pull", "push", "delete", "metadata:read"), http.StatusCreated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, _ := create(tt.c, strings.ReplaceAll(tt.name, " ", "-"), tt.grant); code != tt.want {
				t.Errorf("create: %d, want %d", code, tt.want)
			}
		})
	}
	code, ci := create(dev, "ci", g("team/app", "pull", "push"))
	if code != http.StatusCreated || ci.Password1 == "" || ci.Password2 == "" || ci.Token.Login != "token$ci" {
		t.Fatalf("create ci: %d %+v", code, ci)
	}
	var list struct{ Tokens []manage.Token }
	apiCall(t, http.MethodGet, base+"/api/v1/tokens", rd, nil, &list)
	if len(list.Tokens) != 0 {
		t.Errorf("rd sees %d tokens of others", len(list.Tokens))
	}
	if code := apiCall(t, http.MethodPost, base+"/api/v1/tokens/ci/disable", rd, nil, nil); code != http.StatusNotFound {
		t.Errorf("rd disables dev's token: %d, want 404", code)
	}
	ciCreds := creds{user: "token$ci", pass: ci.Password1}
	if code := apiCall(t, http.MethodGet, base+"/api/v1/tokens", ciCreds, nil, nil); code != http.StatusForbidden {
		t.Errorf("a scoped token lists tokens: %d, want 403", code)
	}
	_, granted := tokenFor(t, base, ciCreds, "repository:team/app:pull,push,delete", "repository:team/other:pull")
	if len(granted) != 1 || strings.Join(granted[0].Actions, ",") != "pull,push" {
		t.Errorf("scoped token granted %+v, want pull,push on team/app", granted)
	}

	// The OAuth2 password grant returns a refresh token that can be
	// exchanged until the password it came from is rotated.
	code, out := postForm(t, base, url.Values{"grant_type": {"password"}, "username": {"token$ci"}, "password": {ci.Password1},
		"access_type": {"offline"}, "client_id": {"test"}, "service": {"berth"}, "scope": {"repository:team/app:pull"}})
	refresh, _ := out["refresh_token"].(string)
	if code != http.StatusOK || refresh == "" || out["access_token"] == nil {
		t.Fatalf("password grant: %d %v", code, out)
	}
	exchange := func(tok string) int {
		code, _ := postForm(t, base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}, "service": {"berth"},
			"scope": {"repository:team/app:pull"}})
		return code
	}
	if code := exchange(refresh); code != http.StatusOK {
		t.Fatalf("refresh grant: %d", code)
	}
	if code := exchange(out["access_token"].(string)); code != http.StatusUnauthorized {
		t.Errorf("access token used as refresh token: %d, want 401", code)
	}
	var rotated manage.Secrets
	if code := apiCall(t, http.MethodPost, base+"/api/v1/tokens/ci/rotate?slot=1", dev, nil, &rotated); code != http.StatusOK || rotated.Password1 == "" {
		t.Fatalf("rotate: %d", code)
	}
	if code := exchange(refresh); code != http.StatusUnauthorized {
		t.Errorf("refresh token of a rotated password: %d, want 401", code)
	}
	for pass, want := range map[string]int{ci.Password1: 401, rotated.Password1: 200, ci.Password2: 200} {
		if resp, _ := authDo(t, http.MethodGet, base+"/token?service=berth", creds{user: "token$ci", pass: pass}); resp.StatusCode != want {
			t.Errorf("password %s… after rotation: %d, want %d", pass[:5], resp.StatusCode, want)
		}
	}
	apiCall(t, http.MethodPost, base+"/api/v1/tokens/ci/disable", dev, nil, nil)
	if resp, _ := authDo(t, http.MethodGet, base+"/v2/", creds{user: "token$ci", pass: ci.Password2}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("disabled token: %d, want 401", resp.StatusCode)
	}

	// Key rotation: tokens signed by the old key keep working, new ones
	// are signed by the new key.
	oldTok, _ := tokenFor(t, base, dev, "repository:team/app:pull")
	var keys manage.KeyList
	if code := apiCall(t, http.MethodGet, base+"/api/v1/keys", dev, nil, nil); code != http.StatusForbidden {
		t.Errorf("non-admin lists keys: %d", code)
	}
	if code := apiCall(t, http.MethodPost, base+"/api/v1/keys/rotate", admin, nil, nil); code != http.StatusOK {
		t.Fatalf("rotate key: %d", code)
	}
	apiCall(t, http.MethodGet, base+"/api/v1/keys", admin, nil, &keys)
	if len(keys.Keys) != 2 || !keys.Keys[0].Signing || keys.Keys[1].Signing {
		t.Fatalf("keys after rotation: %+v", keys.Keys)
	}
	if resp, _ := authDo(t, http.MethodGet, base+"/v2/", creds{bearer: oldTok}); resp.StatusCode != http.StatusOK {
		t.Errorf("token of the old key after rotation: %d", resp.StatusCode)
	}
	if code := apiCall(t, http.MethodDelete, base+"/api/v1/keys/"+keys.Keys[0].ID, admin, nil, nil); code != http.StatusConflict {
		t.Errorf("removing the signing key: %d, want 409", code)
	}
	if code := apiCall(t, http.MethodDelete, base+"/api/v1/keys/"+keys.Keys[1].ID, admin, nil, nil); code != http.StatusNoContent {
		t.Errorf("removing the old key: %d", code)
	}
	if resp, _ := authDo(t, http.MethodGet, base+"/v2/", creds{bearer: oldTok}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token of a removed key: %d, want 401", resp.StatusCode)
	}

	// Brute force: past the limit, 429 with Retry-After, even for the
	// right password.
	for range 5 {
		authDo(t, http.MethodGet, base+"/v2/", creds{user: "rd", pass: "guess-guess"})
	}
	resp, _ := authDo(t, http.MethodGet, base+"/v2/", rd)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after 5 failures: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// No secret reaches the log.
	for _, secret := range []string{admin.pass, "dev-password", "rd-password", "guess-guess", ci.Password1, ci.Password2,
		rotated.Password1, refresh, oldTok} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains a secret (%s…)", secret[:6])
		}
	}
}
