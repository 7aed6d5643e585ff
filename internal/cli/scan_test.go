package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/test/harness"
)

// The real Go advisories, and the hand-written ones beside this test.
var (
	goAdvisories    = filepath.Join("..", "scan", "vulndb", "testdata", "go")
	extraAdvisories = filepath.Join("testdata", "scan", "osv")
)

const dpkgStatus = `Package: base-files
Status: install ok installed
Priority: required
Section: admin
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files

Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime
`

const osRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
`

// scanImage is the test image: a Debian base layer and a layer with a Go
// program built against old golang.org/x/text and gopkg.in/yaml.v2.
type scanImage struct {
	raw    [][]byte // uncompressed layer tars
	blobs  [][]byte // the same, gzipped
	config []byte
	man    []byte
}

var (
	buildOnce sync.Once
	builtBin  []byte
	buildErr  string
	buildSkip bool
)

// oldGoBinary builds, once per test run, a program linking old modules
// fetched through the module proxy (as internal/scan/match's test does).
func oldGoBinary(t *testing.T) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildSkip, buildErr = true, "no go command"
			return
		}
		dir, err := os.MkdirTemp("", "berth-scan-test-")
		if err != nil {
			buildErr = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		files := map[string]string{
			"go.mod": "module example.com/oldapp\n\ngo 1.21\n\nrequire (\n\tgolang.org/x/text v0.3.0\n\tgopkg.in/yaml.v2 v2.2.2\n)\n",
			"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/text/language\"\n\t\"gopkg.in/yaml.v2\"\n)\n\n" +
				"func main() {\n\tb, _ := yaml.Marshal(1)\n\tfmt.Println(language.English, b)\n}\n",
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
				buildErr = err.Error()
				return
			}
		}
		env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
		dl := exec.Command(goBin, "mod", "download", "golang.org/x/text", "gopkg.in/yaml.v2")
		dl.Dir, dl.Env = dir, env
		if out, err := dl.CombinedOutput(); err != nil {
			buildSkip, buildErr = true, fmt.Sprintf("old modules not downloadable here (offline?): %v\n%s", err, out)
			return
		}
		build := exec.Command(goBin, "build", "-trimpath", "-o", "oldapp", ".")
		build.Dir, build.Env = dir, env
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Sprintf("go build: %v\n%s", err, out)
			return
		}
		builtBin, err = os.ReadFile(filepath.Join(dir, "oldapp"))
		if err != nil {
			buildErr = err.Error()
		}
	})
	if buildSkip {
		t.Skip(buildErr)
	}
	if buildErr != "" {
		t.Fatal(buildErr)
	}
	return builtBin
}

func layerTar(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		mode := int64(0o644)
		if strings.Contains(name, "/bin/") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newScanImage(t *testing.T) *scanImage {
	t.Helper()
	im := &scanImage{}
	layers := []map[string][]byte{
		{"etc/os-release": []byte(osRelease), "var/lib/dpkg/status": []byte(dpkgStatus)},
		{"usr/local/bin/oldapp": oldGoBinary(t)},
	}
	var diffIDs []digest.Digest
	var descs []ocispec.Descriptor
	for _, files := range layers {
		raw := layerTar(t, files)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		im.raw = append(im.raw, raw)
		im.blobs = append(im.blobs, gz.Bytes())
		diffIDs = append(diffIDs, digest.FromBytes(raw))
		descs = append(descs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(gz.Bytes()), Size: int64(gz.Len())})
	}
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}}
	im.config, _ = json.Marshal(cfg)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Layers: descs,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(im.config), Size: int64(len(im.config))}}
	m.SchemaVersion = 2
	im.man, _ = json.Marshal(m)
	return im
}

func (im *scanImage) writeLayout(t *testing.T, dir, tag string) {
	t.Helper()
	l, err := harness.NewLayout(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range append(slices.Clone(im.blobs), im.config) {
		if _, err := l.WriteBlob("", b); err != nil {
			t.Fatal(err)
		}
	}
	d, err := l.WriteBlob(ocispec.MediaTypeImageManifest, im.man)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Tag(d, tag); err != nil {
		t.Fatal(err)
	}
}

// writeDockerArchive writes the image as classic docker save does.
func (im *scanImage) writeDockerArchive(t *testing.T, file string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	cfgName := digest.FromBytes(im.config).Encoded() + ".json"
	add(cfgName, im.config)
	var layers []string
	for i, raw := range im.raw {
		name := fmt.Sprintf("%064x/layer.tar", i+1)
		add(name, raw)
		layers = append(layers, name)
	}
	mj, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"app:v1"}, "Layers": layers}})
	add("manifest.json", mj)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func scan(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), append([]string{"scan"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// scanIDs runs a JSON scan and returns the finding ids, sorted.
func scanIDs(t *testing.T, ref string, extra ...string) (int, []string) {
	t.Helper()
	args := append([]string{ref, "--db", goAdvisories, "--db", extraAdvisories, "--format", "json"}, extra...)
	code, out, errOut := scan(t, args...)
	var rep struct {
		Status   string `json:"status"`
		Findings []struct {
			ID string `json:"id"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("scan %v: exit %d, output not JSON: %v\n%s\n%s", args, code, err, out, errOut)
	}
	if rep.Status != "complete" {
		t.Fatalf("scan %v: status %q\n%s", args, rep.Status, errOut)
	}
	ids := []string{}
	for _, f := range rep.Findings {
		ids = append(ids, f.ID)
	}
	slices.Sort(ids)
	return code, ids
}

var allIDs = []string{"DEBIAN-CVE-2023-45853", "GO-2020-0015", "GO-2021-0113", "GO-2022-0956"}

func TestScanSources(t *testing.T) {
	im := newScanImage(t)
	dir := t.TempDir()
	im.writeLayout(t, filepath.Join(dir, "layout"), "v1")
	im.writeDockerArchive(t, filepath.Join(dir, "app.tar"))
	c := startBerth(t)
	ctx := context.Background()
	for _, b := range append(slices.Clone(im.blobs), im.config) {
		if _, err := c.PushBlob(ctx, "team/app", b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PushManifest(ctx, "team/app", "v1", ocispec.MediaTypeImageManifest, im.man); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(c.Base(), "http://")

	refs := map[string]string{
		"oci layout":     "oci:" + filepath.Join(dir, "layout") + ":v1",
		"docker archive": filepath.Join(dir, "app.tar"),
		"registry":       host + "/team/app:v1",
	}
	for name, ref := range refs {
		t.Run(name, func(t *testing.T) {
			code, ids := scanIDs(t, ref)
			if code != 0 || !slices.Equal(ids, allIDs) {
				t.Fatalf("exit %d, ids %v, want 0 and %v", code, ids, allIDs)
			}
			code, ids = scanIDs(t, ref, "--severity", "HIGH,CRITICAL", "--exit-code", "1")
			if code != 1 || !slices.Equal(ids, []string{"GO-2020-0015", "GO-2022-0956"}) {
				t.Fatalf("gate: exit %d, ids %v", code, ids)
			}
		})
	}

	// The gate's semantics, on the layout.
	layout := refs["oci layout"]
	gates := []struct {
		name string
		args []string
		code int
		ids  []string
	}{
		{"nothing LOW: passes", []string{"--severity", "LOW", "--exit-code", "1"}, 0, []string{}},
		{"findings without --exit-code pass", []string{"--severity", "HIGH"}, 0, []string{"GO-2020-0015", "GO-2022-0956"}},
		{"UNKNOWN includes the unfixed Debian entry", []string{"--severity", "unknown", "--exit-code", "1"}, 1, []string{"DEBIAN-CVE-2023-45853", "GO-2021-0113"}},
		{"--ignore-unfixed drops it", []string{"--severity", "UNKNOWN", "--ignore-unfixed", "--exit-code", "1"}, 1, []string{"GO-2021-0113"}},
		{"--ignore-unfixed alone", []string{"--ignore-unfixed"}, 0, []string{"GO-2020-0015", "GO-2021-0113", "GO-2022-0956"}},
		{"MEDIUM,LOW with --ignore-unfixed: passes", []string{"--severity", "MEDIUM,LOW", "--ignore-unfixed", "--exit-code", "1"}, 0, []string{}},
		{"any exit code is honoured", []string{"--severity", "HIGH", "--exit-code", "13"}, 13, []string{"GO-2020-0015", "GO-2022-0956"}},
	}
	for _, g := range gates {
		t.Run(g.name, func(t *testing.T) {
			code, ids := scanIDs(t, layout, g.args...)
			if code != g.code || !slices.Equal(ids, g.ids) {
				t.Fatalf("exit %d, ids %v; want %d, %v", code, ids, g.code, g.ids)
			}
		})
	}

	t.Run("formats", func(t *testing.T) {
		formatChecks(t, layout, dir)
	})
	t.Run("table", func(t *testing.T) {
		code, out, errOut := scan(t, layout, "--db", goAdvisories, "--db", extraAdvisories, "--severity", "HIGH,CRITICAL", "--exit-code", "1")
		if code != 1 || !strings.Contains(errOut, "2 vulnerabilities left after the filters") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		for _, want := range []string{"Debian GNU/Linux 12", "Inventory: complete", "Total (severity HIGH,CRITICAL): 2 (CRITICAL: 0, HIGH: 2,", "\nHIGH (2)\n", "GO-2022-0956  gopkg.in/yaml.v2   v2.2.2     2.2.4"} {
			if !strings.Contains(out, want) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
	})
}

// formatChecks writes each machine format to --output and checks the
// parts CI tools read.
func formatChecks(t *testing.T, ref, dir string) {
	tests := []struct {
		format string
		check  func(t *testing.T, doc map[string]any)
	}{
		{"sarif", func(t *testing.T, doc map[string]any) {
			runs, _ := doc["runs"].([]any)
			if doc["version"] != "2.1.0" || len(runs) != 1 {
				t.Fatalf("version %v, runs %v", doc["version"], len(runs))
			}
			run := runs[0].(map[string]any)
			results, _ := run["results"].([]any)
			rules, _ := run["tool"].(map[string]any)["driver"].(map[string]any)["rules"].([]any)
			if len(results) != 4 || len(rules) != 4 {
				t.Fatalf("%d results, %d rules", len(results), len(rules))
			}
		}},
		{"cyclonedx", func(t *testing.T, doc map[string]any) {
			comps, _ := doc["components"].([]any)
			vulns, _ := doc["vulnerabilities"].([]any)
			if doc["bomFormat"] != "CycloneDX" || doc["specVersion"] != "1.5" || len(vulns) != 4 {
				t.Fatalf("bomFormat %v spec %v, %d vulnerabilities", doc["bomFormat"], doc["specVersion"], len(vulns))
			}
			var purls []string
			for _, c := range comps {
				purls = append(purls, c.(map[string]any)["purl"].(string))
			}
			for _, want := range []string{"pkg:golang/gopkg.in/yaml.v2@v2.2.2", "pkg:golang/golang.org/x/text@v0.3.0"} {
				if !slices.Contains(purls, want) {
					t.Errorf("components lack %s: %v", want, purls)
				}
			}
		}},
		{"spdx", func(t *testing.T, doc map[string]any) {
			pkgs, _ := doc["packages"].([]any)
			if doc["spdxVersion"] != "SPDX-2.3" || len(pkgs) < 5 {
				t.Fatalf("spdxVersion %v, %d packages", doc["spdxVersion"], len(pkgs))
			}
			found := false
			for _, p := range pkgs {
				refs, _ := p.(map[string]any)["externalRefs"].([]any)
				for _, r := range refs {
					if strings.HasPrefix(r.(map[string]any)["referenceLocator"].(string), "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1") {
						found = true
					}
				}
			}
			if !found {
				t.Error("no purl external ref for zlib1g")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			out := filepath.Join(dir, "report."+tt.format)
			code, stdout, stderr := scan(t, ref, "--db", goAdvisories, "--db", extraAdvisories, "--format", tt.format, "--output", out)
			if code != 0 || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			tt.check(t, doc)
		})
	}
}

func TestScanUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no image", []string{"--db", goAdvisories}, ExitUsage, "exactly one IMAGE"},
		{"no db", []string{"x.tar"}, ExitUsage, "--db is required"},
		{"bad severity", []string{"x.tar", "--db", goAdvisories, "--severity", "HIGH,SEVERE"}, ExitUsage, `unknown severity "SEVERE"`},
		{"bad format", []string{"x.tar", "--db", goAdvisories, "--format", "xml"}, ExitUsage, `unknown format "xml"`},
		{"exit code out of range", []string{"x.tar", "--db", goAdvisories, "--exit-code", "256"}, ExitUsage, "between 0 and 255"},
		{"missing image", []string{filepath.Join(t.TempDir(), "none.tar"), "--db", goAdvisories}, ExitError, "no such file"},
		{"empty database", []string{"x.tar", "--db", t.TempDir()}, ExitError, "no advisories in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := scan(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.msg)
			}
		})
	}
}

func TestVulndbStatus(t *testing.T) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"vulndb", "status", "--db", goAdvisories, "--db", extraAdvisories}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"Version:     20240110T000000Z-", "Advisories:  11", "Newest:      2024-01-10T00:00:00Z", "Ecosystems:  Debian 1 Go 8", goAdvisories + "  8 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := Run(context.Background(), []string{"vulndb", "status", "--db", goAdvisories, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var st struct {
		Advisories int            `json:"advisories"`
		Ecosystems map[string]int `json:"ecosystems"`
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Advisories != 8 || st.Ecosystems["Go"] != 8 {
		t.Fatalf("json status %+v, %v", st, err)
	}
}

// TestScanPartialIsLoud scans an image the inventory cannot fully read (an
// rpm database): the report and stderr say PARTIAL, nothing claims the
// image is clean, and with no finding left the exit code stays 0.
func TestScanPartialIsLoud(t *testing.T) {
	raw := layerTar(t, map[string][]byte{
		"etc/os-release":           []byte("ID=rocky\nVERSION_ID=9.3\n"),
		"var/lib/rpm/rpmdb.sqlite": []byte("SQLite format 3\x00"),
	})
	l, err := harness.NewLayout(filepath.Join(t.TempDir(), "layout"), 1)
	if err != nil {
		t.Fatal(err)
	}
	ld, err := l.WriteBlob(ocispec.MediaTypeImageLayer, raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{ld.Digest}}})
	cd, err := l.WriteBlob(ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}}
	m.SchemaVersion = 2
	md, err := l.WriteJSON(ocispec.MediaTypeImageManifest, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Tag(md, "v1"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := scan(t, l.Dir, "--db", goAdvisories, "--exit-code", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"!!! PARTIAL SCAN", "var/lib/rpm/rpmdb.sqlite: cannot parse", "the scan is PARTIAL"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "No vulnerabilities found.") {
		t.Errorf("a partial scan claims the image is clean:\n%s", out)
	}
	if !strings.Contains(errOut, "WARNING: PARTIAL SCAN") {
		t.Errorf("stderr lacks the warning: %q", errOut)
	}
}
