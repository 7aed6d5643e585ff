package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
)

const sbomZlibAdvisory = `{"schema_version":"1.4.0","id":"DEBIAN-CVE-2023-45853","modified":"2024-01-10T00:00:00Z",
"affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`

const sbomOtherAdvisory = `{"schema_version":"1.4.0","id":"DEBIAN-CVE-2099-0001","modified":"2099-01-10T00:00:00Z",
"affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`

// TestAttachSBOM: with scan.attach_sbom set, a complete scan leaves one
// SBOM referrer on the image, byte for byte the export endpoint's
// inventory SBOM, and neither a rescan nor a new database adds another.
func TestAttachSBOM(t *testing.T) {
	for _, tc := range []struct{ kind, artifactType string }{
		{"cyclonedx", "application/vnd.cyclonedx+json"},
		{"spdx", "application/spdx+json"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			osv := t.TempDir()
			if err := os.WriteFile(filepath.Join(osv, "a.json"), []byte(sbomZlibAdvisory), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t)
			cfg.Scan.DB = config.List(osv)
			cfg.Scan.AttachSBOM = tc.kind
			s, _, _ := start(t, cfg)
			base := s.URL()
			layer := gzLayer(t, map[string][]byte{"etc/os-release": []byte(scanOSRelease), "var/lib/dpkg/status": []byte(scanDpkgStatus)})
			d := pushScanImage(t, base, "team/app", "v1", layer)
			if r := waitScan(t, base, "team/app", d); r.Status != metadata.ScanComplete || len(r.Findings) != 1 {
				t.Fatalf("scan: %s %d findings", r.Status, len(r.Findings))
			}
			refs := waitReferrers(t, base, "team/app", d, 1)
			if refs[0].ArtifactType != tc.artifactType {
				t.Fatalf("referrer artifactType %q, want %q", refs[0].ArtifactType, tc.artifactType)
			}
			sbomURL := fmt.Sprintf("%s/api/v1/repositories/team/app/manifests/%s/scan?format=%s&findings=false", base, d, tc.kind)
			exported := httpBytes(t, sbomURL)
			attached := attachedSBOM(t, base, "team/app", refs[0].Digest)
			if !bytes.Equal(attached, exported) {
				t.Fatalf("attached SBOM differs from the export:\n%s\n---\n%s", attached, exported)
			}
			if !bytes.Contains(attached, []byte("zlib1g")) || bytes.Contains(attached, []byte("DEBIAN-CVE")) {
				t.Errorf("attached SBOM lacks the package or carries findings:\n%s", attached)
			}
			orasDiscover(t, strings.TrimPrefix(base, "http://")+"/team/app@"+d.String(), refs[0].Digest, tc.artifactType)

			// A rescan reads the same packages: the same SBOM, nothing added.
			if code := scanGet(t, http.MethodPost, fmt.Sprintf("%s/api/v1/repositories/team/app/manifests/%s/scan", base, d), nil); code != http.StatusAccepted {
				t.Fatalf("rescan: %d", code)
			}
			waitScan(t, base, "team/app", d)
			// A new database changes the findings, not the inventory.
			if err := os.WriteFile(filepath.Join(osv, "b.json"), []byte(sbomOtherAdvisory), 0o600); err != nil {
				t.Fatal(err)
			}
			if code := scanGet(t, http.MethodPost, base+"/api/v1/vulndb/reload", nil); code != http.StatusOK {
				t.Fatalf("reload: %d", code)
			}
			// The relay delivers in order: once a later image has its
			// SBOM, the rescan's event has been handled too.
			d2 := pushScanImage(t, base, "team/other", "v1", gzLayer(t, map[string][]byte{"etc/os-release": []byte(scanOSRelease)}))
			waitReferrers(t, base, "team/other", d2, 1)
			if got := waitReferrers(t, base, "team/app", d, 1); len(got) != 1 || got[0].Digest != refs[0].Digest {
				t.Fatalf("referrers after rescan and reload: %+v, want only %s", got, refs[0].Digest)
			}
			if again := httpBytes(t, sbomURL); !bytes.Equal(again, attached) {
				t.Errorf("export after a new database differs from the attached SBOM")
			}
		})
	}
}

// waitReferrers polls the referrers API until repo@d has at least n
// referrers, and returns them.
func waitReferrers(t *testing.T, base, repo string, d digest.Digest, n int) []ocispec.Descriptor {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var idx ocispec.Index
		code := scanGet(t, http.MethodGet, fmt.Sprintf("%s/v2/%s/referrers/%s", base, repo, d), &idx)
		if code == http.StatusOK && len(idx.Manifests) >= n {
			return idx.Manifests
		}
		if time.Now().After(deadline) {
			t.Fatalf("referrers of %s@%s: %d %+v, want %d", repo, d, code, idx.Manifests, n)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// attachedSBOM reads the single layer of the artifact repo@d.
func attachedSBOM(t *testing.T, base, repo string, d digest.Digest) []byte {
	t.Helper()
	var m ocispec.Manifest
	if code := scanGet(t, http.MethodGet, fmt.Sprintf("%s/v2/%s/manifests/%s", base, repo, d), &m); code != http.StatusOK {
		t.Fatalf("GET artifact manifest: %d", code)
	}
	if len(m.Layers) != 1 || m.Subject == nil || m.Config.MediaType != ocispec.MediaTypeEmptyJSON {
		t.Fatalf("artifact manifest %+v", m)
	}
	b := httpBytes(t, fmt.Sprintf("%s/v2/%s/blobs/%s", base, repo, m.Layers[0].Digest))
	if digest.FromBytes(b) != m.Layers[0].Digest {
		t.Fatal("SBOM blob does not match its digest")
	}
	return b
}

func httpBytes(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// orasDiscover checks that oras discover, a real client, lists the SBOM;
// without oras (.tools/bin or PATH) it logs and returns.
func orasDiscover(t *testing.T, ref string, want digest.Digest, artifactType string) {
	t.Helper()
	oras, err := filepath.Abs("../../.tools/bin/oras")
	if _, serr := os.Stat(oras); err != nil || serr != nil {
		if oras, err = exec.LookPath("oras"); err != nil {
			t.Log("oras not in .tools/bin or PATH: the referrers API alone is checked")
			return
		}
	}
	out, err := exec.Command(oras, "discover", "--plain-http", "--format", "json", ref).Output()
	if err != nil {
		t.Fatalf("oras discover %s: %v", ref, err)
	}
	var disc struct {
		Referrers []struct {
			Digest       digest.Digest `json:"digest"`
			ArtifactType string        `json:"artifactType"`
		} `json:"referrers"`
	}
	if err := json.Unmarshal(out, &disc); err != nil {
		t.Fatalf("oras discover output: %v\n%s", err, out)
	}
	if len(disc.Referrers) != 1 || disc.Referrers[0].Digest != want || disc.Referrers[0].ArtifactType != artifactType {
		t.Errorf("oras discover = %+v, want %s of type %s", disc.Referrers, want, artifactType)
	}
}
