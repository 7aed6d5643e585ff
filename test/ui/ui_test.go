// Package ui runs the browser end-to-end test of Berth's web UI: a real
// berth serve with authentication and scanning, an image pushed by crane
// with known findings, and e2e.mjs driving headless Chromium through
// playwright-core (see docs/ui.md#browser-tests).
package ui

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/test/harness"
)

// The test vulnerability database: zlib in Debian 12 has a HIGH finding
// without a fix (the scan-gate e2e test's advisory) and a CRITICAL one
// with a fix.
var advisories = map[string]string{
	"DEBIAN-CVE-2023-45853.json": `{"schema_version":"1.4.0","id":"DEBIAN-CVE-2023-45853","modified":"2024-01-10T00:00:00Z",
"aliases":["CVE-2023-45853"],"summary":"integer overflow in minizip","details":"MiniZip in zlib through 1.3 has an integer overflow and resultant heap-based buffer overflow in zipOpenNewFileInZip4_64.",
"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
"references":[{"type":"WEB","url":"https://security-tracker.debian.org/tracker/CVE-2023-45853"}],
"affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`,
	"DEBIAN-CVE-2099-0001.json": `{"schema_version":"1.6.0","id":"DEBIAN-CVE-2099-0001","modified":"2099-01-01T00:00:00Z",
"aliases":["CVE-2099-0001"],"summary":"zlib inflate overflow","details":"A crafted stream overflows a buffer in inflate.",
"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
"affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.3.dfsg-1"}]}]}]}`,
}

var debianFiles = map[string]string{
	"etc/os-release":      "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
	"var/lib/dpkg/status": "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\n",
}

// TestBrowser runs e2e.mjs in headless Chromium against a live server.
func TestBrowser(t *testing.T) {
	if harness.Target() != harness.TargetBerth {
		t.Skip("the web UI is Berth's own")
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "test", "ui")
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		harness.Missing(t, "chromium", err.Error()+"; apt-get install chromium chromium-driver")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		harness.Missing(t, "node", err.Error())
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		harness.Missing(t, "playwright-core", "no test/ui/node_modules: npm ci in test/ui")
	}
	crane := harness.Tool(t, "crane")

	work := t.TempDir()
	start := time.Now()
	bin, err := harness.BuildBerth(work)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built berth in %s", time.Since(start).Round(time.Millisecond))
	osv := filepath.Join(work, "osv")
	if err := os.MkdirAll(osv, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range advisories {
		if err := os.WriteFile(filepath.Join(osv, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(work, "data")
	srv, err := harness.StartServer(context.Background(), harness.Options{Kind: harness.TargetBerth, BerthBin: bin,
		DataDir: data, LogDir: work, ExtraArgs: []string{"--auth-enabled", "--scan-db", osv}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		b, _ := os.ReadFile(srv.Log)
		if i := bytes.Index(b, []byte("WARNING: DATA RACE")); i >= 0 {
			t.Errorf("berth reported a data race:\n%s", b[i:min(len(b), i+6000)])
		} else if t.Failed() {
			t.Logf("berth log:\n%s", b)
		}
	})
	pw, err := os.ReadFile(filepath.Join(data, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(pw))
	env := []string{"DOCKER_CONFIG=" + filepath.Join(work, "docker")}
	harness.Run(t, env, crane, "auth", "login", srv.Addr, "-u", "admin", "-p", password)

	// Two tags of the demo image (a retention preview has something to
	// delete) and a second repository, so the pages have some content.
	repo := "demo/web"
	d := push(t, env, crane, srv.Addr+"/"+repo+":v1", "amd64")
	push(t, env, crane, srv.Addr+"/"+repo+":v2", "arm64")
	other := push(t, env, crane, srv.Addr+"/demo/api:1.0", "amd64")
	waitScan(t, srv.URL(), "admin", password, repo, d)
	waitScan(t, srv.URL(), "admin", password, "demo/api", other)

	// The script's own steps time out after 10 s each; this bounds the
	// whole run should Chromium hang.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "e2e.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BERTH_URL="+srv.URL(), "BERTH_USER=admin", "BERTH_PASSWORD="+password,
		"BERTH_REPO="+repo, "BERTH_DIGEST="+d.String(), "BERTH_CVE=CVE-2023-45853", "CHROMIUM="+chromium)
	if shots := os.Getenv("BERTH_SCREENSHOTS"); shots != "" && !filepath.IsAbs(shots) {
		// Relative to the repository, as `make screenshots` passes it.
		cmd.Env = append(cmd.Env, "BERTH_SCREENSHOTS="+filepath.Join(root, shots))
	}
	start = time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("e2e.mjs in %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("e2e.mjs: %v", err)
	}
}

// push writes a Debian image with zlib1g for arch as an OCI layout and
// pushes it with crane.
func push(t *testing.T, env []string, crane, ref, arch string) digest.Digest {
	t.Helper()
	l, err := harness.NewLayout(t.TempDir(), uint64(time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for _, name := range []string{"etc/os-release", "var/lib/dpkg/status"} {
		b := debianFiles[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(b))
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarBuf.Bytes())
	zw.Close()
	layer, err := l.WriteBlob(ocispec.MediaTypeImageLayerGzip, gz.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := ocispec.Image{Created: &created, Platform: ocispec.Platform{OS: "linux", Architecture: arch},
		Config:  ocispec.ImageConfig{Cmd: []string{"/usr/bin/web", "--serve"}, User: "web"},
		RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(tarBuf.Bytes())}},
		History: []ocispec.History{{Created: &created, CreatedBy: "ADD rootfs.tar /"}}}
	cd, err := l.WriteJSON(ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		t.Fatal(err)
	}
	md, err := l.WriteJSON(ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Tag(md, "latest"); err != nil {
		t.Fatal(err)
	}
	harness.Run(t, env, crane, "push", "--insecure", l.Dir, ref)
	return md.Digest
}

// waitScan polls the scan API until the scan of repo@d is complete.
func waitScan(t *testing.T, base, user, pass, repo string, d digest.Digest) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/repositories/%s/manifests/%s/scan", base, repo, d), nil)
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Status string `json:"status"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err == nil && r.Status == "complete" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("scan of %s@%s: %d %q", repo, d, resp.StatusCode, r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
