package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/test/harness"
)

// gateAdvisory rates the Debian zlib entry HIGH (CVSS 7.5), so that an
// image with zlib1g has one HIGH finding whose alias is the CVE.
const gateAdvisory = `{"schema_version":"1.4.0","id":"DEBIAN-CVE-2023-45853","modified":"2024-01-10T00:00:00Z",
"aliases":["CVE-2023-45853"],"summary":"integer overflow in minizip",
"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
"affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`

var debianFiles = map[string][]byte{
	"etc/os-release":      []byte("ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"),
	"var/lib/dpkg/status": []byte("Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\n"),
}

// TestScanGates drives the gates with crane and the berth CLI against a
// real berth serve: a pull refused by severity naming the CVE, let
// through by an exception; quarantine until a scan (on a server with
// scan.on_push off, so the image waits for berth rescan); a failed
// scan refused only by a fail-closed gate; the refusals in the audit log.
func TestScanGates(t *testing.T) {
	if harness.Target() != harness.TargetBerth {
		t.Skip("scan gates are Berth's own")
	}
	t.Parallel()
	crane := harness.Tool(t, "crane")
	osv := t.TempDir()
	if err := os.WriteFile(filepath.Join(osv, "DEBIAN-CVE-2023-45853.json"), []byte(gateAdvisory), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv, err := harness.StartServer(context.Background(), harness.Options{Kind: harness.TargetBerth, BerthBin: berthBin,
		DataDir: data, LogDir: dir, ExtraArgs: []string{"--scan-db", osv}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(srv.Log)
			t.Logf("berth log:\n%s", b)
		}
	})
	berth := func(args ...string) string {
		t.Helper()
		return harness.Run(t, nil, berthBin, append(args, "--registry", srv.URL())...)
	}
	pull := func(ref string) (string, error) {
		return harness.RunErr(nil, crane, "manifest", "--insecure", srv.Addr+"/"+ref)
	}
	var lastLayer digest.Digest
	push := func(files map[string][]byte, ref string) digest.Digest {
		t.Helper()
		l := newLayout(t)
		d, layer := gateImage(t, l, files)
		if err := l.Tag(d, "v1"); err != nil {
			t.Fatal(err)
		}
		harness.Run(t, nil, crane, "push", "--insecure", l.Dir, srv.Addr+"/"+ref)
		lastLayer = layer.Digest
		return d.Digest
	}

	// Severity: HIGH finding refused, then allowed by an exception on its CVE alias.
	d := push(debianFiles, "e2e/gate/app:v1")
	if st := waitGateScan(t, srv.URL(), "e2e/gate/app", d); st != "complete" {
		t.Fatalf("scan status %s", st)
	}
	berth("gate", "set", "e2e/gate/*", "--severity", "HIGH")
	out, err := pull("e2e/gate/app:v1")
	if err == nil || !strings.Contains(err.Error(), "DENIED") || !strings.Contains(err.Error(), "DEBIAN-CVE-2023-45853 [CVE-2023-45853] (HIGH, zlib1g)") ||
		!strings.Contains(err.Error(), "berth gate allow CVE-2023-45853 --repo e2e/gate/app") {
		t.Fatalf("pull of a HIGH image: %v %s; want DENIED naming the CVE and the way out", err, out)
	}
	// skopeo too, and the status is 403 on the wire.
	if skopeo, err := harness.FindTool("skopeo"); err == nil {
		out, err := harness.RunErr(nil, skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+srv.Addr+"/e2e/gate/app:v1")
		if err == nil || !strings.Contains(err.Error(), "CVE-2023-45853") {
			t.Errorf("skopeo inspect of a HIGH image: %v %s", err, out)
		}
	}
	if resp, err := http.Get(srv.URL() + "/v2/e2e/gate/app/manifests/v1"); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET manifest: %v %v, want 403", resp, err)
	} else {
		resp.Body.Close()
	}
	if _, err := pull("e2e/gate/app@" + d.String()); err == nil {
		t.Fatal("pull by digest passed the gate")
	}
	berth("gate", "allow", "CVE-2023-45853", "--repo", "e2e/gate/app", "--reason", "minizip is not shipped", "--expires", "7d")
	harness.Run(t, nil, crane, "pull", "--insecure", "--format", "oci", srv.Addr+"/e2e/gate/app:v1", filepath.Join(t.TempDir(), "img"))
	if got := berth("gate", "allowlist"); !strings.Contains(got, "minizip is not shipped") {
		t.Errorf("berth gate allowlist:\n%s", got)
	}

	// Quarantine, deterministically: a second server does not scan on
	// push, so the pushed image stays unscanned until berth rescan.
	qsrv, err := harness.StartServer(context.Background(), harness.Options{Kind: harness.TargetBerth, BerthBin: berthBin,
		DataDir: filepath.Join(dir, "qdata"), LogDir: t.TempDir(), ExtraArgs: []string{"--scan-db", osv, "--scan-on-push=false"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qsrv.Stop() })
	harness.Run(t, nil, berthBin, "gate", "set", "e2e/quar/*", "--quarantine", "--registry", qsrv.URL())
	l := newLayout(t)
	qm, _ := gateImage(t, l, debianFiles)
	if err := l.Tag(qm, "v1"); err != nil {
		t.Fatal(err)
	}
	harness.Run(t, nil, crane, "push", "--insecure", l.Dir, qsrv.Addr+"/e2e/quar/app:v1")
	qpull := func() (string, error) {
		return harness.RunErr(nil, crane, "manifest", "--insecure", qsrv.Addr+"/e2e/quar/app:v1")
	}
	if _, err := qpull(); err == nil || !strings.Contains(err.Error(), "quarantined") {
		t.Fatalf("pull of an image not scanned yet: %v, want quarantined", err)
	}
	// Still refused a moment later: nothing scans it behind the test's back.
	time.Sleep(300 * time.Millisecond)
	if _, err := qpull(); err == nil || !strings.Contains(err.Error(), "quarantined") {
		t.Fatalf("second pull of an image not scanned: %v, want quarantined", err)
	}
	harness.Run(t, nil, berthBin, "rescan", "e2e/quar/app@"+qm.Digest.String(), "--registry", qsrv.URL())
	if st := waitGateScan(t, qsrv.URL(), "e2e/quar/app", qm.Digest); st != "complete" {
		t.Fatalf("rescan: %s", st)
	}
	if out, err := qpull(); err != nil {
		t.Fatalf("pull after the scan: %v %s", err, out)
	}
	waitAudit(t, qsrv.URL(), "gate.quarantined", "denied")

	// Fail closed refuses a failed scan; fail open lets it through.
	berth("gate", "set", "e2e/closed/*", "--unscanned", "deny")
	cd := push(map[string][]byte{"etc/os-release": debianFiles["etc/os-release"]}, "e2e/closed/app:v1")
	waitGateScan(t, srv.URL(), "e2e/closed/app", cd)
	if _, err := pull("e2e/closed/app:v1"); err != nil {
		t.Fatalf("clean image refused: %v", err)
	}
	removeBlob(t, data, lastLayer)
	// berth rescan exits 1 for a failed scan, which is what this wants.
	_, _ = harness.RunErr(nil, berthBin, "rescan", "e2e/closed/app@"+cd.String(), "--registry", srv.URL())
	if st := waitGateScan(t, srv.URL(), "e2e/closed/app", cd); st != "failed" {
		t.Fatalf("rescan without layers: %s", st)
	}
	if _, err := pull("e2e/closed/app:v1"); err == nil || !strings.Contains(err.Error(), "fails closed") {
		t.Fatalf("failed scan behind a fail-closed gate: %v", err)
	}
	berth("gate", "set", "e2e/closed/*", "--unscanned", "allow", "--quarantine")
	if _, err := pull("e2e/closed/app:v1"); err != nil {
		t.Fatalf("failed scan behind a fail-open gate: %v", err)
	}

	// Every refusal and the exception's use are in the audit log.
	waitAudit(t, srv.URL(), "gate.denied", "denied")
	waitAudit(t, srv.URL(), "gate.excepted", "")
}

// waitAudit waits for an audit record of action (with result, unless
// empty) on the server at base.
func waitAudit(t *testing.T, base, action, result string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got struct {
			Records []struct {
				Result string `json:"result"`
				Repo   string `json:"repository"`
			} `json:"records"`
		}
		getJSON(t, base+"/api/v1/audit?action="+action, &got)
		if len(got.Records) > 0 {
			if result != "" && got.Records[0].Result != result {
				t.Errorf("%s recorded with result %s, want %s", action, got.Records[0].Result, result)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s record in the audit log", action)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gateImage writes a one-layer image of files into l.
func gateImage(t *testing.T, l *harness.Layout, files map[string][]byte) (ocispec.Descriptor, ocispec.Descriptor) {
	t.Helper()
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for _, name := range []string{"etc/os-release", "var/lib/dpkg/status"} {
		b, ok := files[name]
		if !ok {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(tarBuf.Bytes())
	zw.Close()
	layer, err := l.WriteBlob(ocispec.MediaTypeImageLayerGzip, gz.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(tarBuf.Bytes())}}}
	cd, err := l.WriteJSON(ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		t.Fatal(err)
	}
	md, err := l.WriteJSON(ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	return md, layer
}

// waitGateScan polls the scan API until the scan of repo@d has finished
// and returns its status.
func waitGateScan(t *testing.T, base, repo string, d digest.Digest) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var r struct {
			Status string `json:"status"`
		}
		code := getJSON(t, fmt.Sprintf("%s/api/v1/repositories/%s/manifests/%s/scan", base, repo, d), &r)
		if code == http.StatusOK && r.Status != "pending" && r.Status != "scanning" {
			return r.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("scan of %s@%s not finished: %d %s", repo, d, code, r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, b)
		}
	}
	return resp.StatusCode
}

// removeBlob deletes blob d from the data directory, wherever the blob
// store keeps it, so that a rescan fails.
func removeBlob(t *testing.T, data string, d digest.Digest) {
	t.Helper()
	removed := false
	err := filepath.WalkDir(data, func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && e.Name() == d.Encoded() {
			removed = true
			return os.Remove(path)
		}
		return err
	})
	if err != nil || !removed {
		t.Fatalf("removing blob %s under %s: %v (found: %v)", d, data, err, removed)
	}
}
