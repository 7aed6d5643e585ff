package server

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/scanner"
)

const scanOSRelease = "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"

const scanDpkgStatus = "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\n"

var (
	oldAppOnce sync.Once
	oldApp     []byte
	oldAppErr  string
	oldAppSkip bool
)

// oldGoApp builds, once, a program linking golang.org/x/text v0.3.0 and
// gopkg.in/yaml.v2 v2.2.2 (as internal/cli's scan test does).
func oldGoApp(t testing.TB) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	oldAppOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-server-scan-")
		if err != nil {
			oldAppErr = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/oldapp\n\ngo 1.21\n\nrequire (\n\tgolang.org/x/text v0.3.0\n\tgopkg.in/yaml.v2 v2.2.2\n)\n"), 0o600)
		os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/text/language\"\n\t\"gopkg.in/yaml.v2\"\n)\n\nfunc main() {\n\tb, _ := yaml.Marshal(1)\n\tfmt.Println(language.English, b)\n}\n"), 0o600)
		env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
		dl := exec.Command("go", "mod", "download", "golang.org/x/text", "gopkg.in/yaml.v2")
		dl.Dir, dl.Env = dir, env
		if out, err := dl.CombinedOutput(); err != nil {
			oldAppSkip, oldAppErr = true, fmt.Sprintf("old modules not downloadable here: %v\n%s", err, out)
			return
		}
		build := exec.Command("go", "build", "-trimpath", "-o", "oldapp", ".")
		build.Dir, build.Env = dir, env
		if out, err := build.CombinedOutput(); err != nil {
			oldAppErr = fmt.Sprintf("go build: %v\n%s", err, out)
			return
		}
		oldApp, _ = os.ReadFile(filepath.Join(dir, "oldapp"))
	})
	if oldAppSkip {
		t.Skip(oldAppErr)
	}
	if oldAppErr != "" {
		t.Fatal(oldAppErr)
	}
	return oldApp
}

func gzLayer(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		mode := int64(0o644)
		if strings.Contains(n, "/bin/") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[n])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// pushImage pushes the layers as an image through the OCI API and returns
// the manifest digest.
func pushScanImage(t testing.TB, base, repo, tag string, layers ...[]byte) digest.Digest {
	t.Helper()
	put := func(method, url, ctype string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
		}
	}
	blob := func(b []byte) string {
		d := digest.FromBytes(b)
		put(http.MethodPost, fmt.Sprintf("%s/v2/%s/blobs/uploads/?digest=%s", base, repo, d), "application/octet-stream", b)
		return fmt.Sprintf(`{"mediaType":"%%s","digest":"%s","size":%d}`, d, len(b))
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	var ls []string
	for _, l := range layers {
		ls = append(ls, fmt.Sprintf(blob(l), "application/vnd.oci.image.layer.v1.tar+gzip"))
	}
	man := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}`,
		fmt.Sprintf(blob(cfg), "application/vnd.oci.image.config.v1+json"), strings.Join(ls, ",")))
	put(http.MethodPut, fmt.Sprintf("%s/v2/%s/manifests/%s", base, repo, tag), "application/vnd.oci.image.manifest.v1+json", man)
	return digest.FromBytes(man)
}

func scanGet(t testing.TB, method, url string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// waitScan polls the scan endpoint until the scan is finished.
func waitScan(t testing.TB, base, repo string, d digest.Digest) scanner.Report {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var r scanner.Report
		code := scanGet(t, http.MethodGet, fmt.Sprintf("%s/api/v1/repositories/%s/manifests/%s/scan", base, repo, d), &r)
		if code == http.StatusOK && r.Status != metadata.ScanPending && r.Status != metadata.ScanScanning {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("scan of %s@%s not finished: %d %+v", repo, d, code, r)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func copyFiles(t *testing.T, dst string, srcs ...string) {
	t.Helper()
	for _, src := range srcs {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(src)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func findingIDs(r scanner.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.ID+":"+string(f.Severity))
	}
	slices.Sort(out)
	return out
}

func TestScanOnPush(t *testing.T) {
	app := oldGoApp(t)
	osv := t.TempDir()
	goAdvisories, _ := filepath.Glob("../scan/vulndb/testdata/go/*.json")
	copyFiles(t, osv, goAdvisories...)
	cfg := testConfig(t)
	cfg.Scan.DB = config.List(osv)
	s, _, _ := start(t, cfg)
	base := s.URL()

	var st api.DBStatus
	if code := scanGet(t, http.MethodGet, base+"/api/v1/vulndb", &st); code != 200 || st.Status != "loaded" || st.DB.Advisories != len(goAdvisories) {
		t.Fatalf("GET /api/v1/vulndb = %d %+v", code, st)
	}
	base0 := gzLayer(t, map[string][]byte{"etc/os-release": []byte(scanOSRelease), "var/lib/dpkg/status": []byte(scanDpkgStatus)})
	appLayer := gzLayer(t, map[string][]byte{"usr/local/bin/oldapp": app})
	d := pushScanImage(t, base, "team/app", "v1", base0, appLayer)

	r := waitScan(t, base, "team/app", d)
	want := []string{"GO-2020-0015:UNKNOWN", "GO-2021-0113:UNKNOWN", "GO-2022-0956:UNKNOWN"}
	if r.Status != metadata.ScanComplete || !slices.Equal(findingIDs(r), want) || r.DBVersion != st.DB.Version {
		t.Fatalf("scan = %s %v (db %s), want complete %v with %s", r.Status, findingIDs(r), r.DBVersion, want, st.DB.Version)
	}
	x := r.Findings[slices.IndexFunc(r.Findings, func(f match.Finding) bool { return f.ID == "GO-2020-0015" })]
	if x.Package != "golang.org/x/text" || x.PURL != "pkg:golang/golang.org/x/text@v0.3.0" || x.InstalledVersion != "v0.3.0" ||
		len(x.FixedVersions) == 0 || x.FixStatus != match.Fixed || x.Layer != digest.FromBytes(appLayer).String() {
		t.Errorf("GO-2020-0015 finding = %+v", x)
	}
	scanURL := fmt.Sprintf("%s/api/v1/repositories/team/app/manifests/%s/scan", base, d)
	var bom struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			PURL string `json:"purl"`
		} `json:"components"`
	}
	if code := scanGet(t, http.MethodGet, scanURL+"?format=cyclonedx", &bom); code != 200 || bom.BOMFormat != "CycloneDX" ||
		!slices.ContainsFunc(bom.Components, func(c struct {
			PURL string `json:"purl"`
		}) bool {
			return c.PURL == "pkg:golang/golang.org/x/text@v0.3.0"
		}) {
		t.Errorf("CycloneDX SBOM = %d %+v", code, bom)
	}

	// Remove the layers from the blob store: a rematch that read them would fail.
	for _, l := range [][]byte{base0, appLayer} {
		if err := s.blobs.Delete(t.Context(), digest.FromBytes(l)); err != nil {
			t.Fatal(err)
		}
	}
	copyFiles(t, osv, "../cli/testdata/scan/osv/GHSA-5rcv-m4m3-hfh7.json", "../cli/testdata/scan/osv/GHSA-6q6q-88xp-6f2r.json",
		"../cli/testdata/scan/osv/DEBIAN-CVE-2023-45853.json")
	var rr scanner.ReloadResult
	if code := scanGet(t, http.MethodPost, base+"/api/v1/vulndb/reload", &rr); code != 200 || !rr.Changed || rr.Rematch.Total != 1 || rr.Rematch.Version != rr.Status.Version {
		t.Fatalf("reload = %d %+v, want a rematch of 1 started", code, rr)
	}
	// The rematch runs in the background; GET /api/v1/vulndb follows it.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var st api.DBStatus
		scanGet(t, http.MethodGet, base+"/api/v1/vulndb", &st)
		if st.Rematch != nil && st.Rematch.State == scanner.RematchDone {
			if st.Rematch.Done != 1 || st.Rematch.Total != 1 || st.Rematch.NewCritical != 1 || st.Rematch.Version != rr.Status.Version {
				t.Fatalf("rematch = %+v, want 1 of 1 done, 1 new critical", st.Rematch)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rematch not done: %+v", st.Rematch)
		}
	}
	r = waitScan(t, base, "team/app", d)
	want = []string{"DEBIAN-CVE-2023-45853:UNKNOWN", "GO-2020-0015:HIGH", "GO-2021-0113:UNKNOWN", "GO-2022-0956:HIGH"}
	if r.Status != metadata.ScanComplete || !slices.Equal(findingIDs(r), want) || r.DBVersion != rr.Status.Version || r.Highest != "HIGH" {
		t.Errorf("after reload: %s %v db %s, want complete %v with %s", r.Status, findingIDs(r), r.DBVersion, want, rr.Status.Version)
	}
	evs, err := s.meta.PendingEvents(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var crit []string
	for _, e := range evs {
		if e.Type == metadata.EventScanNewCritical {
			crit = append(crit, e.Repo+"@"+e.Digest.String()+" "+string(e.Detail))
		}
	}
	if wantEv := "team/app@" + d.String() + ` {"ids":["GO-2020-0015","GO-2022-0956"],"dbVersion":"` + rr.Status.Version + `"}`; len(crit) != 1 || crit[0] != wantEv {
		t.Errorf("scan.new_critical events = %q, want [%q]", crit, wantEv)
	}

	var aff api.AffectedImages
	if code := scanGet(t, http.MethodGet, base+"/api/v1/vulnerabilities/CVE-2020-14040", &aff); code != 200 ||
		len(aff.Images) != 1 || aff.Images[0].Repo != "team/app" || aff.Images[0].Digest != d || !slices.Equal(aff.Images[0].Tags, []string{"v1"}) {
		t.Errorf("GET /api/v1/vulnerabilities/CVE-2020-14040 = %d %+v", code, aff)
	}
	var rv api.RepoVulnerabilities
	if code := scanGet(t, http.MethodGet, base+"/api/v1/repositories/team/app/vulnerabilities", &rv); code != 200 ||
		len(rv.Tags) != 1 || rv.Tags[0].Highest != "HIGH" || rv.Tags[0].Summary["HIGH"] != 2 || rv.Tags[0].Summary["UNKNOWN"] != 2 {
		t.Errorf("GET …/vulnerabilities = %d %+v", code, rv)
	}

	// A rescan now must read the layers, which are gone: failed, with no findings.
	if code := scanGet(t, http.MethodPost, scanURL, nil); code != http.StatusAccepted {
		t.Fatalf("POST scan = %d", code)
	}
	r = waitScan(t, base, "team/app", d)
	if r.Status != metadata.ScanFailed || !strings.Contains(r.Reason, "layer") || len(r.Findings) != 0 || r.Summary != nil {
		t.Errorf("rescan without layers = %+v, want failed naming the layer", r)
	}
}

func TestScanningDisabled(t *testing.T) {
	s, _, _ := start(t, testConfig(t))
	base := s.URL()
	var st api.DBStatus
	if code := scanGet(t, http.MethodGet, base+"/api/v1/vulndb", &st); code != 200 || st.Status != "skipped" || st.Reason != "no database" {
		t.Errorf("GET /api/v1/vulndb = %d %+v", code, st)
	}
	d := pushScanImage(t, base, "x", "v1", gzLayer(t, map[string][]byte{"etc/os-release": []byte(scanOSRelease)}))
	r := waitScan(t, base, "x", d)
	if r.Status != metadata.ScanSkipped || r.Reason != "no database" || r.Summary != nil {
		t.Errorf("scan with no database = %+v", r)
	}
	if code := scanGet(t, http.MethodPost, base+"/api/v1/vulndb/reload", nil); code != http.StatusConflict {
		t.Errorf("reload with no scan.db = %d, want 409", code)
	}
}

func TestScanAPIErrors(t *testing.T) {
	osv := t.TempDir()
	copyFiles(t, osv, "../scan/vulndb/testdata/go/GO-2020-0015.json")
	cfg := testConfig(t)
	cfg.Scan.DB = config.List(osv)
	s, _, _ := start(t, cfg)
	base := s.URL()
	d := pushScanImage(t, base, "x/app", "v1", gzLayer(t, map[string][]byte{"etc/os-release": []byte(scanOSRelease)}))
	if r := waitScan(t, base, "x/app", d); r.Status != metadata.ScanComplete || r.Summary == nil || len(r.Findings) != 0 {
		t.Fatalf("scan = %+v", r)
	}
	unknown := digest.FromString("nope")
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/api/v1/repositories/x/app/manifests/v1/scan", http.StatusBadRequest},
		{http.MethodGet, "/api/v1/repositories/x/app/manifests/" + unknown.String() + "/scan", http.StatusNotFound},
		{http.MethodPost, "/api/v1/repositories/x/app/manifests/" + unknown.String() + "/scan", http.StatusNotFound},
		{http.MethodGet, "/api/v1/repositories/no/such/manifests/" + d.String() + "/scan", http.StatusNotFound},
		{http.MethodGet, "/api/v1/repositories/x/app/manifests/" + d.String() + "/scan?format=sarif", http.StatusBadRequest},
		{http.MethodGet, "/api/v1/repositories/x/app/manifests/" + d.String() + "/scan?format=spdx", http.StatusOK},
		{http.MethodGet, "/api/v1/repositories/no/such/vulnerabilities", http.StatusNotFound},
		{http.MethodGet, "/api/v1/vulnerabilities/GO-2020-0015", http.StatusOK},
		{http.MethodDelete, "/api/v1/vulndb", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			if code := scanGet(t, tt.method, base+tt.path, nil); code != tt.status {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, code, tt.status)
			}
		})
	}
}
