package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/test/harness"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	artifactType  = "application/vnd.berth.e2e.report.v1"
	signatureType = "application/vnd.berth.e2e.signature.v1"
)

// TestOrasArtifactAndReferrers pushes an artifact with a custom artifactType,
// attaches a second artifact to it as subject, and finds it again through
// oras discover and directly through the referrers API.
func TestOrasArtifactAndReferrers(t *testing.T) {
	t.Parallel()
	oras := harness.Tool(t, "oras")
	srv := newRegistry(t)
	work := t.TempDir()
	payload := []byte("berth e2e report\n" + strings.Repeat("x", 4096))
	if err := os.WriteFile(filepath.Join(work, "report.txt"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "sig.txt"), []byte("signed"), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := srv.Addr + "/e2e/oras/artifact:v1"
	pushOut := orasIn(t, oras, work, "push", "--plain-http", "--artifact-type", artifactType, "--format", "json", ref, "report.txt:text/plain")
	var pushed struct {
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal([]byte(pushOut), &pushed); err != nil || !strings.HasPrefix(pushed.Digest, "sha256:") {
		t.Fatalf("oras push output %q: %v", pushOut, err)
	}

	var m ocispec.Manifest
	if err := json.Unmarshal([]byte(orasIn(t, oras, work, "manifest", "fetch", "--plain-http", ref)), &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != artifactType || len(m.Layers) != 1 || m.Layers[0].MediaType != "text/plain" {
		t.Errorf("manifest artifactType=%q layers=%+v, want %q with one text/plain layer", m.ArtifactType, m.Layers, artifactType)
	}

	pullDir := filepath.Join(work, "pulled")
	orasIn(t, oras, work, "pull", "--plain-http", "-o", pullDir, ref)
	if got, err := os.ReadFile(filepath.Join(pullDir, "report.txt")); err != nil || !bytes.Equal(got, payload) {
		t.Errorf("pulled report.txt differs (err %v, %d bytes, want %d)", err, len(got), len(payload))
	}

	attachOut := orasIn(t, oras, work, "attach", "--plain-http", "--artifact-type", signatureType, "--format", "json", ref, "sig.txt:text/plain")
	var attached struct {
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal([]byte(attachOut), &attached); err != nil || attached.Digest == "" {
		t.Fatalf("oras attach output %q: %v", attachOut, err)
	}

	t.Run("oras-discover", func(t *testing.T) {
		out := orasIn(t, oras, work, "discover", "--plain-http", "--format", "json", ref)
		var disc struct {
			Referrers []struct {
				Digest       string `json:"digest"`
				ArtifactType string `json:"artifactType"`
			} `json:"referrers"`
		}
		if err := json.Unmarshal([]byte(out), &disc); err != nil {
			t.Fatalf("discover output: %v\n%s", err, out)
		}
		if len(disc.Referrers) != 1 || disc.Referrers[0].Digest != attached.Digest || disc.Referrers[0].ArtifactType != signatureType {
			t.Errorf("discover = %+v, want one referrer %s of type %s", disc.Referrers, attached.Digest, signatureType)
		}
	})

	// oras falls back to the referrers tag schema when the API is missing,
	// so check the API itself too.
	t.Run("referrers-api", func(t *testing.T) {
		resp, err := http.Get(srv.URL() + "/v2/e2e/oras/artifact/referrers/" + pushed.Digest)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET referrers: status %d, want 200", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != ocispec.MediaTypeImageIndex {
			t.Errorf("referrers Content-Type = %q, want %q", ct, ocispec.MediaTypeImageIndex)
		}
		var idx ocispec.Index
		if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
			t.Fatal(err)
		}
		if len(idx.Manifests) != 1 || idx.Manifests[0].Digest.String() != attached.Digest || idx.Manifests[0].ArtifactType != signatureType {
			t.Errorf("referrers = %+v, want one entry %s of type %s", idx.Manifests, attached.Digest, signatureType)
		}
	})
}

// orasIn runs oras in dir: oras records file paths relative to its working
// directory as layer titles, so the pushed manifest does not depend on where
// the test's temp dir happens to be.
func orasIn(t *testing.T, oras, dir string, args ...string) string {
	t.Helper()
	return harness.RunIn(t, dir, nil, oras, args...)
}
