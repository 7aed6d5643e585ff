package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/test/harness"
)

// containerStorage returns the global flags that give buildah and podman a
// private image store, so parallel tests and the machine's own images never
// mix. vfs needs no kernel support beyond plain files.
func containerStorage(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	return []string{"--storage-driver", "vfs", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run")}
}

// TestBuildahPodman builds an image with buildah, pushes it, pulls it back
// with podman into a separate store, and pushes it on to a second
// repository: the two clients Red Hat users have instead of docker.
func TestBuildahPodman(t *testing.T) {
	t.Parallel()
	buildah := harness.Tool(t, "buildah")
	podman := harness.Tool(t, "podman")
	skopeo := harness.Tool(t, "skopeo")
	srv := newRegistry(t)

	bstore := containerStorage(t)
	b := func(args ...string) string {
		return strings.TrimSpace(harness.Run(t, nil, buildah, append(bstore, args...)...))
	}
	ctr := b("from", "scratch")
	payload := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(payload, []byte("built by buildah for berth\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b("copy", ctr, payload, "/hello.txt")
	b("config", "--cmd", "/hello.txt", "--label", "org.example.test=berth", ctr)
	b("commit", "--quiet", ctr, "localhost/e2e-hello:1")
	digestFile := filepath.Join(t.TempDir(), "digest")
	ref := srv.Addr + "/e2e/podman/hello:1"
	b("push", "--quiet", "--tls-verify=false", "--digestfile", digestFile, "localhost/e2e-hello:1", "docker://"+ref)
	pushed, err := os.ReadFile(digestFile)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(pushed))

	raw := harness.Run(t, nil, skopeo, "inspect", "--tls-verify=false", "--raw", "docker://"+ref)
	if got := digestOfString(raw); got != want {
		t.Fatalf("stored manifest digest = %s, buildah pushed %s", got, want)
	}

	pstore := containerStorage(t)
	p := func(args ...string) string {
		return strings.TrimSpace(harness.Run(t, nil, podman, append(pstore, args...)...))
	}
	p("pull", "--quiet", "--tls-verify=false", ref)
	var inspected []struct {
		Digest string
		Labels map[string]string
	}
	out := p("image", "inspect", ref)
	if err := json.Unmarshal([]byte(out), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("podman image inspect: %v\n%s", err, out)
	}
	if inspected[0].Digest != want {
		t.Errorf("podman pulled digest %s, want %s", inspected[0].Digest, want)
	}
	if inspected[0].Labels["org.example.test"] != "berth" {
		t.Errorf("label lost in transit: %v", inspected[0].Labels)
	}

	second := srv.Addr + "/e2e/podman/copy:2"
	p("tag", ref, second)
	p("push", "--quiet", "--tls-verify=false", second)
	resp, err := http.Get(srv.URL() + "/v2/e2e/podman/copy/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var tags struct {
		Name string
		Tags []string
	}
	if err := json.Unmarshal(body, &tags); err != nil || tags.Name != "e2e/podman/copy" || len(tags.Tags) != 1 || tags.Tags[0] != "2" {
		t.Errorf("tags of the podman push = %s (%v)", body, err)
	}
}
