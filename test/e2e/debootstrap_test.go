package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/test/harness"
)

// TestDebootstrapInventory builds a real Debian bookworm root with
// debootstrap --variant=minbase, pushes it to berth as a one-layer image and
// checks that the scan's inventory lists exactly the packages dpkg-query
// lists in that root.
//
// debootstrap took 8 min 11 s on the loaded 2-core development machine, so
// `make test` (and CI) builds the root in the background while the other
// suites run and passes its path in BERTH_TEST_DEBOOTSTRAP_PENDING; a plain
// `go test` skips the test unless BERTH_TEST_DEBOOTSTRAP=1 (build it here,
// -timeout 30m) or BERTH_TEST_DEBOOTSTRAP_ROOT=DIR (a root made before).
func TestDebootstrapInventory(t *testing.T) {
	if harness.Target() != harness.TargetBerth {
		t.Skip("scanning is Berth's own")
	}
	root := os.Getenv("BERTH_TEST_DEBOOTSTRAP_ROOT")
	if root == "" {
		root = pendingRoot(t, os.Getenv("BERTH_TEST_DEBOOTSTRAP_PENDING"))
	}
	if root == "" {
		if os.Getenv("BERTH_TEST_DEBOOTSTRAP") == "" {
			t.Skip("opt-in: debootstrap takes about 8 minutes here; set BERTH_TEST_DEBOOTSTRAP=1 (and -timeout 30m)")
		}
		root = debootstrap(t)
	}
	dpkgQuery, err := exec.LookPath("dpkg-query")
	if err != nil {
		t.Skip("dpkg-query not found: " + err.Error())
	}
	out, err := exec.Command(dpkgQuery, "-W", "-f", "${Package} ${Version}\n", "--admindir="+filepath.Join(root, "var/lib/dpkg")).Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	want := strings.Split(strings.TrimSpace(string(out)), "\n")
	slices.Sort(want)

	layer, diffID := packRoot(t, root)
	osv := filepath.Join("..", "..", "internal", "scan", "vulndb", "testdata", "go")
	dir := t.TempDir()
	srv, err := harness.StartServer(context.Background(), harness.Options{Kind: harness.TargetBerth, BerthBin: berthBin,
		DataDir: filepath.Join(dir, "data"), LogDir: dir, ExtraArgs: []string{"--scan-db", osv}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	const repo = "e2e/debootstrap/bookworm"
	ld := pushBlobMonolithic(t, srv.URL(), repo, layer)
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}}})
	cd := pushBlobMonolithic(t, srv.URL(), repo, cfg)
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: ld, Size: int64(len(layer))}}})
	req, _ := http.NewRequest(http.MethodPut, srv.URL()+"/v2/"+repo+"/manifests/v1", bytes.NewReader(m))
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	mustStatus(t, req, http.StatusCreated)
	md := digest.FromBytes(m)
	if st := waitGateScan(t, srv.URL(), repo, md); st != "complete" {
		t.Fatalf("scan status %s", st)
	}
	var sbom struct {
		Components []struct {
			Name, Version, Purl string
		} `json:"components"`
	}
	getJSON(t, fmt.Sprintf("%s/api/v1/repositories/%s/manifests/%s/scan?format=cyclonedx", srv.URL(), repo, md), &sbom)
	var got []string
	for _, c := range sbom.Components {
		if strings.HasPrefix(c.Purl, "pkg:deb/debian/") {
			got = append(got, c.Name+" "+c.Version)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("inventory (%d packages) differs from dpkg-query (%d):\n got %q\nwant %q", len(got), len(want), got, want)
	}
	t.Logf("%d packages, as dpkg-query lists them", len(got))
}

// pendingRoot waits for the root `make test` builds in the background
// (scripts/debootstrap-root.sh): it returns "" when no build was started,
// the root when the build succeeded, and skips (fails under CI=true) when
// the machine could not build it.
func pendingRoot(t *testing.T, dir string) string {
	t.Helper()
	if dir == "" {
		return ""
	}
	deadline := time.Now().Add(25 * time.Minute)
	for {
		b, err := os.ReadFile(dir + ".status")
		if err == nil {
			status := strings.TrimSpace(string(b))
			switch {
			case status == "ok":
				return dir
			case strings.HasPrefix(status, "skip: ") && os.Getenv("CI") != "true":
				t.Skip(strings.TrimPrefix(status, "skip: "))
			}
			log, _ := os.ReadFile(dir + ".log")
			t.Fatalf("building the Debian root: %s\n%s", status, lastLines(log, 20))
		}
		if !building(dir + ".lock") {
			return "" // nobody started it: `go test` on its own
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Debian root %s was not built within 25 minutes", dir)
		}
		time.Sleep(2 * time.Second)
	}
}

// building reports whether scripts/debootstrap-root.sh holds its lock.
func building(lock string) bool {
	f, err := os.Open(lock)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// debootstrap builds the root with the first Debian mirror of the
// machine's apt sources.
func debootstrap(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("debootstrap")
	if err != nil {
		t.Skip("debootstrap not found (apt-get install debootstrap): " + err.Error())
	}
	if os.Geteuid() != 0 {
		t.Skip("debootstrap needs root")
	}
	mirror := aptMirror()
	if mirror == "" {
		t.Skip("no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d/*.sources")
	}
	root := filepath.Join(t.TempDir(), "root")
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "--variant=minbase", "bookworm", root, mirror).CombinedOutput()
	if err != nil {
		t.Skipf("debootstrap from %s failed (mirror unreachable?): %v\n%s", mirror, err, lastLines(out, 20))
	}
	t.Logf("debootstrap from %s took %s", mirror, time.Since(start).Round(time.Second))
	return root
}

// aptMirror reads the first Debian archive URI (not the security one) from
// the one-line and deb822 apt sources.
func aptMirror() string {
	var uris []string
	if b, err := os.ReadFile("/etc/apt/sources.list"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "deb" {
				i := 1
				if strings.HasPrefix(f[1], "[") {
					for i < len(f) && !strings.HasSuffix(f[i], "]") {
						i++
					}
					i++
				}
				if i < len(f) {
					uris = append(uris, f[i])
				}
			}
		}
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "URIs:"); ok {
				uris = append(uris, strings.Fields(v)...)
			}
		}
	}
	for _, u := range uris {
		if strings.HasSuffix(strings.TrimSuffix(u, "/"), "/debian") {
			return u
		}
	}
	return ""
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// packRoot tars root (regular files, directories, symbolic links; devices
// and the like are left out) and gzips it, returning the layer and the
// digest of the uncompressed tar.
func packRoot(t *testing.T, root string) ([]byte, digest.Digest) {
	t.Helper()
	var gz bytes.Buffer
	dg := digest.Canonical.Digester()
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	tw := tar.NewWriter(io.MultiWriter(zw, dg.Hash()))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular(), fi.IsDir():
		default:
			return nil
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("packing %s: %v", root, err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return gz.Bytes(), dg.Digest()
}
