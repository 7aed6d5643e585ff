package e2e

import (
	"encoding/json"
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
