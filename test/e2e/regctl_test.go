package e2e

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/test/harness"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestRegctl pushes a multi-platform index from an OCI layout, copies it
// between repositories, lists tags and reads the index and a platform
// manifest back.
func TestRegctl(t *testing.T) {
	t.Parallel()
	regctl := harness.Tool(t, "regctl")
	srv := newRegistry(t)
	l := newLayout(t)
	idx, platforms := multiImage(t, l, "multi")
	single := singleImage(t, l, "single")

	// regctl keeps its host settings in a config file; a private one per test
	// keeps runs independent and never touches the user's.
	home := t.TempDir()
	env := []string{"HOME=" + home, "REGCTL_CONFIG=" + filepath.Join(home, "regctl.json")}
	run := func(args ...string) string {
		t.Helper()
		return harness.Run(t, env, regctl, args...)
	}
	run("registry", "set", srv.Addr, "--tls", "disabled")

	repoA := srv.Addr + "/e2e/regctl/a"
	repoB := srv.Addr + "/e2e/regctl/b"
	run("image", "copy", "ocidir://"+l.Dir+":multi", repoA+":multi")
	run("image", "copy", "ocidir://"+l.Dir+":single", repoA+":single")
	run("image", "copy", repoA+":multi", repoB+":copied")

	if got, want := lines(run("tag", "ls", repoA)), []string{"multi", "single"}; !slices.Equal(got, want) {
		t.Errorf("tag ls a = %q, want %q", got, want)
	}
	if got, want := lines(run("tag", "ls", repoB)), []string{"copied"}; !slices.Equal(got, want) {
		t.Errorf("tag ls b = %q, want %q", got, want)
	}

	for _, ref := range []string{repoA + ":multi", repoB + ":copied"} {
		if got := strings.TrimSpace(run("image", "digest", ref)); got != idx.Digest.String() {
			t.Errorf("digest of %s = %s, want %s", ref, got, idx.Digest)
		}
	}
	if got := strings.TrimSpace(run("image", "digest", repoA+":single")); got != single.Digest.String() {
		t.Errorf("digest of single = %s, want %s", got, single.Digest)
	}

	raw := run("manifest", "get", "--format", "raw-body", repoB+":copied")
	if got := digestOfString(raw); got != idx.Digest.String() {
		t.Errorf("raw index digest = %s, want %s", got, idx.Digest)
	}
	var got ocispec.Index
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("index body: %v\n%s", err, raw)
	}
	if got.MediaType != ocispec.MediaTypeImageIndex || len(got.Manifests) != 2 {
		t.Fatalf("index mediaType=%q with %d manifests, want %q with 2", got.MediaType, len(got.Manifests), ocispec.MediaTypeImageIndex)
	}
	for i, m := range got.Manifests {
		if m.Platform == nil || m.Platform.Architecture != platforms[i].Platform.Architecture || m.Digest != platforms[i].Digest {
			t.Errorf("index entry %d = %+v, want %s for %s", i, m, platforms[i].Digest, platforms[i].Platform.Architecture)
		}
	}

	// Selecting a platform resolves through the index to that child manifest.
	arm := run("manifest", "get", "--format", "raw-body", "--platform", "linux/arm64", repoB+":copied")
	if got := digestOfString(arm); got != platforms[1].Digest.String() {
		t.Errorf("linux/arm64 manifest digest = %s, want %s", got, platforms[1].Digest)
	}
}
