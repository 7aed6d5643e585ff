package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/test/harness"
)

// TestScopedTokens creates scoped tokens with berth token against a running
// server and logs in with them from crane, skopeo and oras: push where the
// grant says push, refusals for pull-only, expired, disabled and rotated
// passwords, and a CIDR-bound token used from 127.0.0.2 and 127.0.0.1.
func TestScopedTokens(t *testing.T) {
	if harness.Target() != harness.TargetBerth {
		t.Skip("scoped tokens are berth's own")
	}
	t.Parallel()
	crane := harness.Tool(t, "crane")
	skopeo := harness.Tool(t, "skopeo")
	oras := harness.Tool(t, "oras")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv, err := harness.StartServer(context.Background(), harness.Options{Kind: harness.TargetBerth, BerthBin: berthBin,
		DataDir: data, LogDir: dir, ExtraArgs: []string{"--auth-enabled"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(srv.Log)
			t.Logf("berth log:\n%s", b)
		}
	})
	adminPW, err := os.ReadFile(filepath.Join(data, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	adminEnv := []string{"BERTH_USERNAME=admin", "BERTH_PASSWORD=" + strings.TrimSpace(string(adminPW))}
	passwords := regexp.MustCompile(`(?m)^password([12]): (\S+)$`)
	berthToken := func(args ...string) [3]string {
		t.Helper()
		out := harness.Run(t, adminEnv, berthBin, append(append([]string{"token"}, args...), "--registry", srv.URL())...)
		var pw [3]string
		for _, m := range passwords.FindAllStringSubmatch(out, -1) {
			pw[m[1][0]-'0'] = m[2]
		}
		return pw
	}
	push := berthToken("create", "ci-push", "--grant", "e2e/tok/*=pull,push")
	pull := berthToken("create", "ci-pull", "--grant", "e2e/tok/*=pull")
	old := berthToken("create", "ci-old", "--grant", "e2e/tok/*=pull", "--expires", "3s")
	off := berthToken("create", "ci-off", "--grant", "e2e/tok/*=pull")
	bound := berthToken("create", "ci-bound", "--grant", "e2e/tok/*=pull", "--cidr", "127.0.0.2/32")
	created := time.Now()
	harness.Run(t, adminEnv, berthBin, "token", "disable", "ci-off", "--registry", srv.URL())
	if push[1] == "" || push[2] == "" {
		t.Fatalf("berth token create printed no passwords")
	}

	l := newLayout(t)
	want := singleImage(t, l, "v1").Digest.String()
	anonEnv := []string{"DOCKER_CONFIG=" + filepath.Join(dir, "docker-anon"), "REGISTRY_AUTH_FILE=" + filepath.Join(dir, "no-auth.json")}
	refused := func(err error) bool {
		return err != nil && regexp.MustCompile(`(?i)denied|unauthorized|401|403`).MatchString(err.Error())
	}

	t.Run("crane", func(t *testing.T) {
		pushEnv := []string{"DOCKER_CONFIG=" + filepath.Join(dir, "docker-push")}
		pullEnv := []string{"DOCKER_CONFIG=" + filepath.Join(dir, "docker-pull")}
		harness.Run(t, pushEnv, crane, "auth", "login", srv.Addr, "-u", "token$ci-push", "-p", push[1])
		harness.Run(t, pullEnv, crane, "auth", "login", srv.Addr, "-u", "token$ci-pull", "-p", pull[1])
		ref := srv.Addr + "/e2e/tok/crane:v1"
		harness.Run(t, pushEnv, crane, "push", "--insecure", l.Dir, ref)
		if got := strings.TrimSpace(harness.Run(t, pullEnv, crane, "digest", "--insecure", ref)); got != want {
			t.Errorf("pull-only token digest = %s, want %s", got, want)
		}
		if _, err := harness.RunErr(pullEnv, crane, "push", "--insecure", l.Dir, srv.Addr+"/e2e/tok/crane:denied"); !refused(err) {
			t.Errorf("pull-only token push: %v, want a refusal", err)
		}
		if _, err := harness.RunErr(pushEnv, crane, "push", "--insecure", l.Dir, srv.Addr+"/e2e/other:v1"); !refused(err) {
			t.Errorf("push outside the grant's pattern: %v, want a refusal", err)
		}
	})

	t.Run("skopeo", func(t *testing.T) {
		ref := "docker://" + srv.Addr + "/e2e/tok/skopeo:v1"
		harness.Run(t, anonEnv, skopeo, "copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests",
			"--dest-creds", "token$ci-push:"+push[2], "oci:"+l.Dir+":v1", ref)
		raw := harness.Run(t, anonEnv, skopeo, "inspect", "--raw", "--tls-verify=false", "--creds", "token$ci-pull:"+pull[2], ref)
		if got := digestOfString(raw); got != want {
			t.Errorf("skopeo inspect digest = %s, want %s", got, want)
		}
		_, err := harness.RunErr(anonEnv, skopeo, "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", "token$ci-pull:"+pull[1],
			"oci:"+l.Dir+":v1", "docker://"+srv.Addr+"/e2e/tok/skopeo:denied")
		if !refused(err) {
			t.Errorf("pull-only token push: %v, want a refusal", err)
		}
		if _, err := harness.RunErr(anonEnv, skopeo, "inspect", "--raw", "--tls-verify=false", "--creds", "token$ci-off:"+off[1], ref); !refused(err) {
			t.Errorf("disabled token: %v, want a refusal", err)
		}
	})

	t.Run("oras", func(t *testing.T) {
		work := t.TempDir()
		if err := os.WriteFile(filepath.Join(work, "notes.txt"), []byte("scoped\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		env := append([]string{"HOME=" + work}, anonEnv...)
		ref := srv.Addr + "/e2e/tok/oras:v1"
		harness.RunIn(t, work, env, oras, "push", "--plain-http", "-u", "token$ci-push", "-p", push[1], ref, "notes.txt:text/plain")
		out := filepath.Join(work, "out")
		harness.RunIn(t, work, env, oras, "pull", "--plain-http", "-u", "token$ci-pull", "-p", pull[1], "-o", out, ref)
		if b, err := os.ReadFile(filepath.Join(out, "notes.txt")); err != nil || string(b) != "scoped\n" {
			t.Errorf("oras pull: %q, %v", b, err)
		}
		if _, err := harness.RunErr(env, oras, "push", "--plain-http", "-u", "token$ci-pull", "-p", pull[1],
			"--disable-path-validation", srv.Addr+"/e2e/tok/oras:denied", filepath.Join(work, "notes.txt")+":text/plain"); !refused(err) {
			t.Errorf("pull-only token oras push: %v, want a refusal", err)
		}
	})

	t.Run("identity-token", func(t *testing.T) {
		// What docker login stores after the OAuth2 password grant: crane
		// then exchanges the refresh token (grant_type=refresh_token).
		form := url.Values{"grant_type": {"password"}, "username": {"token$ci-pull"}, "password": {pull[2]},
			"access_type": {"offline"}, "client_id": {"e2e"}, "service": {"berth"}}
		resp, err := http.PostForm(srv.URL()+"/token", form)
		if err != nil {
			t.Fatal(err)
		}
		var tr struct {
			RefreshToken string `json:"refresh_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		if err != nil || tr.RefreshToken == "" {
			t.Fatalf("password grant: %d %v", resp.StatusCode, err)
		}
		cfgDir := filepath.Join(dir, "docker-identity")
		cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q,"identitytoken":%q}}}`, srv.Addr,
			base64.StdEncoding.EncodeToString([]byte("<token>:")), tr.RefreshToken)
		if err := os.MkdirAll(cfgDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		env := []string{"DOCKER_CONFIG=" + cfgDir}
		if got := strings.TrimSpace(harness.Run(t, env, crane, "digest", "--insecure", srv.Addr+"/e2e/tok/crane:v1")); got != want {
			t.Errorf("crane with an identity token: digest %s, want %s", got, want)
		}
		if _, err := harness.RunErr(env, crane, "push", "--insecure", l.Dir, srv.Addr+"/e2e/tok/crane:identity"); !refused(err) {
			t.Errorf("pull-only identity token push: %v, want a refusal", err)
		}
	})

	t.Run("cidr", func(t *testing.T) {
		for src, want := range map[string]int{"127.0.0.2": 200, "127.0.0.1": 401} {
			if got := tokenStatusFrom(t, src, srv.URL(), "token$ci-bound", bound[1]); got != want {
				t.Errorf("CIDR-bound token from %s: %d, want %d", src, got, want)
			}
		}
	})

	t.Run("rotation", func(t *testing.T) {
		rotated := berthToken("rotate", "ci-push", "--password", "1")
		ref := "docker://" + srv.Addr + "/e2e/tok/skopeo:v1"
		for pw, ok := range map[string]bool{push[1]: false, rotated[1]: true, push[2]: true} {
			_, err := harness.RunErr(anonEnv, skopeo, "inspect", "--raw", "--tls-verify=false", "--creds", "token$ci-push:"+pw, ref)
			if (err == nil) != ok {
				t.Errorf("after rotating password1, password %s…: %v, want ok=%v", pw[:5], err, ok)
			}
		}
	})

	t.Run("expired", func(t *testing.T) {
		time.Sleep(time.Until(created.Add(4 * time.Second)))
		if got := tokenStatusFrom(t, "127.0.0.1", srv.URL(), "token$ci-old", old[1]); got != 401 {
			t.Errorf("expired token: %d, want 401", got)
		}
	})

	// No password or token appears in the server's log.
	b, _ := os.ReadFile(srv.Log)
	for _, pw := range append(push[1:], pull[1], old[1], off[1], bound[1], strings.TrimSpace(string(adminPW))) {
		if strings.Contains(string(b), pw) {
			t.Errorf("server log contains a password (%s…)", pw[:5])
		}
	}
}

// tokenStatusFrom asks /token with Basic credentials from the source
// address src and returns the status.
func tokenStatusFrom(t *testing.T, src, base, user, pass string) int {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, base+"/token?service=berth&scope=repository:e2e/tok/crane:pull", nil)
	req.SetBasicAuth(user, pass)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == 200 {
		var tr struct{ Token string }
		if json.Unmarshal(body, &tr) != nil || tr.Token == "" {
			t.Errorf("token answer %s", body)
		}
	}
	return resp.StatusCode
}
