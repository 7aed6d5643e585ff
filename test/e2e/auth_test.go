package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/test/harness"
)

// TestAuth runs berth with authentication and drives it with real
// clients: crane (docker config login), skopeo (--creds) and oras (a
// registry token fetched from /token). Users are created with the berth
// CLI on the data directory of the running server.
func TestAuth(t *testing.T) {
	if harness.Target() != harness.TargetBerth {
		t.Skip("authentication is berth's own")
	}
	t.Parallel()
	crane := harness.Tool(t, "crane")
	skopeo := harness.Tool(t, "skopeo")
	oras := harness.Tool(t, "oras")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv, err := harness.StartServer(context.Background(), harness.Options{Kind: harness.TargetBerth, BerthBin: berthBin,
		DataDir: data, LogDir: dir, ExtraArgs: []string{"--auth-enabled", "--auth-anonymous-read", "e2e/public/*"}})
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
	if fi, err := os.Stat(filepath.Join(data, "admin-password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin-password: %v %v", fi, err)
	}

	pwFile := filepath.Join(dir, "pw")
	user := func(args ...string) {
		t.Helper()
		harness.Run(t, nil, berthBin, append(append([]string{"user"}, args...), "--data-dir", data)...)
	}
	if err := os.WriteFile(pwFile, []byte("ci-password-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	user("add", "ci", "--grant", "e2e/*=writer", "--password-file", pwFile)
	if err := os.WriteFile(pwFile, []byte("viewer-password-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	user("add", "viewer", "--grant", "e2e/*=reader", "--password-file", pwFile)

	l := newLayout(t)
	img := singleImage(t, l, "v1")
	want := img.Digest.String()

	// crane reads credentials from $DOCKER_CONFIG/config.json.
	ciEnv := []string{"DOCKER_CONFIG=" + filepath.Join(dir, "docker-ci")}
	viewerEnv := []string{"DOCKER_CONFIG=" + filepath.Join(dir, "docker-viewer")}
	anonEnv := []string{"DOCKER_CONFIG=" + filepath.Join(dir, "docker-anon"), "REGISTRY_AUTH_FILE=" + filepath.Join(dir, "no-auth.json")}
	harness.Run(t, ciEnv, crane, "auth", "login", srv.Addr, "-u", "ci", "-p", "ci-password-1")
	harness.Run(t, viewerEnv, crane, "auth", "login", srv.Addr, "-u", "viewer", "-p", "viewer-password-1")

	t.Run("crane", func(t *testing.T) {
		ref := srv.Addr + "/e2e/auth/crane:v1"
		harness.Run(t, ciEnv, crane, "push", "--insecure", l.Dir, ref)
		if got := strings.TrimSpace(harness.Run(t, viewerEnv, crane, "digest", "--insecure", ref)); got != want {
			t.Errorf("viewer digest = %s, want %s", got, want)
		}
		_, err := harness.RunErr(anonEnv, crane, "digest", "--insecure", ref)
		if err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
			t.Errorf("anonymous crane digest: %v, want UNAUTHORIZED", err)
		}
		_, err = harness.RunErr(viewerEnv, crane, "push", "--insecure", l.Dir, srv.Addr+"/e2e/auth/crane:viewer")
		if err == nil || !strings.Contains(err.Error(), "DENIED") {
			t.Errorf("viewer crane push: %v, want DENIED", err)
		}
		// Anonymous pulls are allowed on the anonymous-read pattern only.
		pub := srv.Addr + "/e2e/public/base:v1"
		harness.Run(t, ciEnv, crane, "copy", "--insecure", ref, pub)
		if got := strings.TrimSpace(harness.Run(t, anonEnv, crane, "digest", "--insecure", pub)); got != want {
			t.Errorf("anonymous digest of a public image = %s, want %s", got, want)
		}
	})

	t.Run("skopeo", func(t *testing.T) {
		ref := "docker://" + srv.Addr + "/e2e/auth/skopeo:v1"
		harness.Run(t, anonEnv, skopeo, "copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests",
			"--dest-creds", "ci:ci-password-1", "oci:"+l.Dir+":v1", ref)
		raw := harness.Run(t, anonEnv, skopeo, "inspect", "--raw", "--tls-verify=false", "--creds", "viewer:viewer-password-1", ref)
		if got := digestOfString(raw); got != want {
			t.Errorf("skopeo inspect digest = %s, want %s", got, want)
		}
		if _, err := harness.RunErr(anonEnv, skopeo, "inspect", "--raw", "--tls-verify=false", "--no-creds", ref); err == nil {
			t.Error("anonymous skopeo inspect of a private image succeeded")
		}
		_, err := harness.RunErr(anonEnv, skopeo, "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", "viewer:viewer-password-1",
			"oci:"+l.Dir+":v1", "docker://"+srv.Addr+"/e2e/auth/skopeo:viewer")
		if err == nil || !(strings.Contains(err.Error(), "denied") || strings.Contains(err.Error(), "unauthorized")) {
			t.Errorf("viewer skopeo push: %v, want a refusal", err)
		}
		if _, err := harness.RunErr(anonEnv, skopeo, "inspect", "--raw", "--tls-verify=false", "--creds", "ci:wrong-password", ref); err == nil {
			t.Error("skopeo with a wrong password succeeded")
		}
	})

	t.Run("oras-token", func(t *testing.T) {
		// oras answers the Bearer challenge by fetching a token from /token
		// with the credentials, then pushes and pulls with the token.
		work := t.TempDir()
		if err := os.WriteFile(filepath.Join(work, "notes.txt"), []byte("signed off\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		orasEnv := append([]string{"HOME=" + work}, anonEnv...)
		ref := srv.Addr + "/e2e/auth/oras:v1"
		harness.RunIn(t, work, orasEnv, oras, "push", "--plain-http", "-u", "ci", "-p", "ci-password-1", ref, "notes.txt:text/plain")
		pulled := filepath.Join(work, "out")
		harness.RunIn(t, work, orasEnv, oras, "pull", "--plain-http", "-u", "viewer", "-p", "viewer-password-1", "-o", pulled, ref)
		if b, err := os.ReadFile(filepath.Join(pulled, "notes.txt")); err != nil || string(b) != "signed off\n" {
			t.Errorf("oras pull with a token: %q, %v", b, err)
		}
		if _, err := harness.RunErr(orasEnv, oras, "manifest", "fetch", "--plain-http", ref); err == nil {
			t.Error("anonymous oras manifest fetch of a private artifact succeeded")
		}

		// A token from /token, used directly as a Bearer credential, is
		// scoped to the repository it was issued for.
		tok := fetchToken(t, srv.URL(), "ci", "ci-password-1", "repository:e2e/auth/oras:pull")
		for path, want := range map[string]int{"/v2/e2e/auth/oras/manifests/v1": 200, "/v2/e2e/auth/crane/manifests/v1": 401} {
			req, _ := http.NewRequest(http.MethodHead, srv.URL()+path, nil)
			req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("HEAD %s with a token for e2e/auth/oras: %d, want %d", path, resp.StatusCode, want)
			}
		}
	})

	t.Run("raw-http", func(t *testing.T) {
		resp, err := http.Get(srv.URL() + "/v2/e2e/auth/crane/manifests/v1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="repository:e2e/auth/crane:pull"`) {
			t.Errorf("anonymous manifest GET: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
}

// fetchToken asks the token endpoint for scope with Basic credentials.
func fetchToken(t *testing.T, base, user, pass, scope string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/token?service=berth&scope="+scope, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr struct{ Token string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &tr) != nil || tr.Token == "" {
		t.Fatalf("token endpoint: %d %s", resp.StatusCode, body)
	}
	return tr.Token
}
