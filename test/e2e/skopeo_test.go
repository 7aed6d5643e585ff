package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/test/harness"
)

// TestSkopeo round-trips single- and multi-platform images through the
// registry with skopeo and checks that digests survive unchanged.
func TestSkopeo(t *testing.T) {
	t.Parallel()
	skopeo := harness.Tool(t, "skopeo")
	srv := newRegistry(t)
	l := newLayout(t)
	img := singleImage(t, l, "v1")
	idx, _ := multiImage(t, l, "multi")

	tests := []struct {
		name   string
		tag    string
		want   string
		extra  []string
		remote string
	}{
		{name: "single", tag: "v1", want: img.Digest.String(), remote: "e2e/skopeo/single:v1"},
		// --all copies every platform, keeping the index digest.
		{name: "multi-platform", tag: "multi", want: idx.Digest.String(), extra: []string{"--all"}, remote: "e2e/skopeo/multi:latest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := "docker://" + srv.Addr + "/" + tt.remote
			args := append([]string{"copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests"}, tt.extra...)
			harness.Run(t, nil, skopeo, append(args, "oci:"+l.Dir+":"+tt.tag, ref)...)

			raw := harness.Run(t, nil, skopeo, "inspect", "--tls-verify=false", "--raw", ref)
			if got := digestOfString(raw); got != tt.want {
				t.Errorf("raw manifest digest = %s, want %s", got, tt.want)
			}
			var info struct {
				Digest string
				Os     string
			}
			out := harness.Run(t, nil, skopeo, "inspect", "--tls-verify=false", ref)
			if err := json.Unmarshal([]byte(out), &info); err != nil {
				t.Fatalf("skopeo inspect output: %v\n%s", err, out)
			}
			if tt.name == "single" && info.Digest != tt.want {
				t.Errorf("skopeo inspect Digest = %s, want %s", info.Digest, tt.want)
			}
			if info.Os != "linux" {
				t.Errorf("skopeo inspect Os = %q, want linux", info.Os)
			}

			dst := filepath.Join(t.TempDir(), "out")
			args = append([]string{"copy", "--quiet", "--src-tls-verify=false", "--preserve-digests"}, tt.extra...)
			harness.Run(t, nil, skopeo, append(args, ref, "oci:"+dst+":pulled")...)
			if got := indexDigestOf(t, dst, "pulled"); got != tt.want {
				t.Errorf("pulled digest = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSkopeoDockerSchema2 converts an OCI image to Docker schema 2 on push,
// the manifest format docker clients send, and checks the registry keeps the
// converted bytes and serves them under their own digest.
func TestSkopeoDockerSchema2(t *testing.T) {
	t.Parallel()
	skopeo := harness.Tool(t, "skopeo")
	srv := newRegistry(t)
	l := newLayout(t)
	singleImage(t, l, "v1")
	ref := "docker://" + srv.Addr + "/e2e/skopeo/docker:v2s2"
	harness.Run(t, nil, skopeo, "copy", "--quiet", "--dest-tls-verify=false", "--format", "v2s2", "oci:"+l.Dir+":v1", ref)

	raw := harness.Run(t, nil, skopeo, "inspect", "--tls-verify=false", "--raw", ref)
	var m struct {
		MediaType string `json:"mediaType"`
		Config    struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("raw manifest: %v\n%s", err, raw)
	}
	if m.MediaType != "application/vnd.docker.distribution.manifest.v2+json" || m.Config.MediaType != "application/vnd.docker.container.image.v1+json" {
		t.Errorf("mediaType=%q config=%q, want Docker schema 2", m.MediaType, m.Config.MediaType)
	}
	var info struct{ Digest string }
	if err := json.Unmarshal([]byte(harness.Run(t, nil, skopeo, "inspect", "--tls-verify=false", ref)), &info); err != nil {
		t.Fatal(err)
	}
	if want := digestOfString(raw); info.Digest != want {
		t.Errorf("served digest %s, want digest of the raw bytes %s", info.Digest, want)
	}
	dst := filepath.Join(t.TempDir(), "out")
	harness.Run(t, nil, skopeo, "copy", "--quiet", "--src-tls-verify=false", "--preserve-digests", ref, "dir:"+dst)
	b, err := os.ReadFile(filepath.Join(dst, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != raw {
		t.Error("manifest pulled into dir: differs from the one the registry serves")
	}
}
