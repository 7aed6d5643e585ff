package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/server/servertest"
)

// scanArgs is berth scan with the test advisories.
func scanArgs(args ...string) []string {
	return append([]string{"scan", "--db", "../scan/vulndb/testdata/go", "--db", "testdata/scan/osv"}, args...)
}

// pushCleanImage pushes a one-layer Debian image whose packages have no
// advisories, with push (one request per blob) or, for distribution, the
// two-step upload.
func pushCleanImage(t *testing.T, c *remote.Client, repo string, twoStep bool, tags ...string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	raw := layerTar(t, map[string][]byte{"etc/os-release": []byte(osRelease), "etc/motd": []byte("clean " + repo)})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(raw)}}})
	for _, b := range [][]byte{gz.Bytes(), cfg} {
		var err error
		if twoStep {
			_, err = pushBlob(t, c, repo, b)
		} else {
			_, err = c.PushBlob(ctx, repo, b)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(gz.Bytes()), Size: int64(gz.Len())}}}
	m.SchemaVersion = 2
	body, _ := json.Marshal(m)
	for _, tag := range tags {
		if _, err := c.PushManifest(ctx, repo, tag, ocispec.MediaTypeImageManifest, body); err != nil {
			t.Fatal(err)
		}
	}
	return digest.FromBytes(body)
}

func TestScanAllFindsTheVulnerableImage(t *testing.T) {
	dist := startDistribution(t)
	vuln := pushScanImage(t, dist, "team/vulnerable", "v1")
	for _, tag := range []string{"v2", "latest", "stable", "prod"} {
		d, body, err := dist.GetManifest(context.Background(), "team/vulnerable", "v1")
		if err != nil || d.Digest != vuln {
			t.Fatal(err)
		}
		if _, err := dist.PushManifest(context.Background(), "team/vulnerable", tag, ocispec.MediaTypeImageManifest, body); err != nil {
			t.Fatal(err)
		}
	}
	pushCleanImage(t, dist, "clean-a", true, "v1", "v2")
	pushCleanImage(t, dist, "clean-b", true, "1.0")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := strings.TrimPrefix(dist.Base(), "http://")

	code, out, errOut := runBerth(t, scanArgs("--all", host, "--severity", "HIGH,CRITICAL", "--exit-code", "1")...)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 3 image lines and a total (a digest tagged five times is one image):\n%s", out)
	}
	for _, tt := range []struct{ prefix, want string }{
		{host + "/clean-a:v1 ", "(also clean-a:v2): no findings"},
		{host + "/clean-b:1.0 ", ": no findings"},
		{host + "/team/vulnerable:latest " + vuln.String()[:19], "HIGH 2"},
		{"TOTAL: 3 images (8 tags, 3 repositories): 1 with findings, 0 partial, 0 failed", "HIGH 2"},
	} {
		found := false
		for _, l := range lines {
			found = found || (strings.HasPrefix(l, tt.prefix) && strings.Contains(l, tt.want))
		}
		if !found {
			t.Errorf("no line %q…%q in\n%s", tt.prefix, tt.want, out)
		}
	}
	if !strings.Contains(out, "(also team/vulnerable:prod, team/vulnerable:stable, team/vulnerable:v1, team/vulnerable:v2)") {
		t.Errorf("the vulnerable image's other tags are not listed:\n%s", out)
	}

	// One repository, JSON; without --exit-code the findings do not fail.
	code, out, errOut = runBerth(t, scanArgs("--all", dist.Base()+"/clean-a", "--format", "json", "--exit-code", "3")...)
	var rep struct {
		Images []scanAllImage `json:"images"`
		Total  scanAllTotal   `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if rep.Total.Images != 1 || rep.Total.Tags != 2 || len(rep.Images) != 1 || len(rep.Images[0].Report) == 0 {
		t.Errorf("json: %+v", rep)
	}

	// Unfixed-only findings are dropped by --ignore-unfixed exactly as for one image.
	_, one, _ := runBerth(t, scanArgs(host+"/team/vulnerable:v1", "--ignore-unfixed", "--format", "json")...)
	_, all, _ := runBerth(t, scanArgs("--all", host+"/team/vulnerable", "--ignore-unfixed", "--format", "json")...)
	var single struct {
		Findings []json.RawMessage `json:"findings"`
	}
	json.Unmarshal([]byte(one), &single)
	rep.Images = nil
	json.Unmarshal([]byte(all), &rep)
	n := 0
	for _, c := range rep.Total.Counts {
		n += c
	}
	if len(single.Findings) == 0 || n != len(single.Findings) {
		t.Errorf("--ignore-unfixed: one image %d findings, --all %d", len(single.Findings), n)
	}

	if code, _, errOut := runBerth(t, scanArgs("--all", host, "--format", "sarif")...); code != 2 {
		t.Errorf("--all --format sarif: exit %d, want 2\n%s", code, errOut)
	}
}

// TestScanWithCredentials scans an image of a Berth that requires
// authentication, with the password from the environment (the fleet
// lookup), which the anonymous reader could not.
func TestScanWithCredentials(t *testing.T) {
	cfg := servertest.Config(t)
	cfg.Auth.Enabled = true
	s := servertest.Start(t, cfg)
	pwb, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(pwb))
	c, err := remote.New(s.URL(), remote.Options{Credential: remote.Credential{Username: "admin", Password: pw}})
	if err != nil {
		t.Fatal(err)
	}
	pushCleanImage(t, c, "private/app", false, "v1")
	host := strings.TrimPrefix(s.URL(), "http://")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("BERTH_USERNAME", "")
	t.Setenv("BERTH_PASSWORD", "")

	if code, out, errOut := runBerth(t, scanArgs(host+"/private/app:v1")...); code == 0 || !strings.Contains(errOut, "401") {
		t.Fatalf("anonymous scan of a private image succeeded\n%s\n%s", out, errOut)
	}
	t.Setenv("BERTH_"+remote.HostEnvName(host)+"_USERNAME", "admin")
	t.Setenv("BERTH_"+remote.HostEnvName(host)+"_PASSWORD", pw)
	for _, args := range [][]string{
		scanArgs(host+"/private/app:v1", "--exit-code", "1"),
		scanArgs("--all", host, "--exit-code", "1"),
	} {
		code, out, errOut := runBerth(t, args...)
		if code != 0 || !strings.Contains(errOut, "credentials: env BERTH_") || strings.Contains(errOut, pw) {
			t.Errorf("%v: exit %d\n%s\n%s", args, code, out, errOut)
		}
	}
}
