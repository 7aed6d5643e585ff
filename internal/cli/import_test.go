package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/importer"
	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/server"
	"github.com/berth-registry/berth/internal/server/servertest"
)

// pushScanImage pushes the scan fixture image (a Debian package and an old
// Go binary with known advisories) to a distribution registry.
func pushScanImage(t *testing.T, c *remote.Client, repo, tag string) digest.Digest {
	t.Helper()
	im := newScanImage(t)
	for _, b := range append(slices.Clone(im.blobs), im.config) {
		if _, err := pushBlob(t, c, repo, b); err != nil {
			t.Fatal(err)
		}
	}
	d, err := c.PushManifest(context.Background(), repo, tag, ocispec.MediaTypeImageManifest, im.man)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// lockedBuffer is a log sink for a server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startImporting serves cfg as servertest.Start does, with POST
// /api/v1/import built as berth serve builds it.
func startImporting(t *testing.T, cfg config.Config, logs io.Writer) *server.Server {
	t.Helper()
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s := server.New(cfg, log).WithImporter(importer.New)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Open(ctx); err != nil {
		cancel()
		t.Fatalf("opening server: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

func TestImportFromDistributionIsScanned(t *testing.T) {
	dist := startDistribution(t)
	want := pushScanImage(t, dist, "app", "v1")
	cfg := servertest.Config(t)
	cfg.Scan.DB = "../scan/vulndb/testdata/go,testdata/scan/osv"
	cfg.Import.AllowCIDRs = "127.0.0.1/32"
	logs := &lockedBuffer{}
	s := startImporting(t, cfg, logs)
	closeIdleFirst(t)

	code, out, errOut := runBerth(t, "import", dist.Base()+"/app:v1", "--to", s.URL()+"/team/app", "--wait", "30s", "--src-creds", "someone:pa55-secret")
	if code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "team/app:v1 "+want.String()) || !strings.Contains(out, "scan: complete, HIGH: 2") {
		t.Errorf("import output:\n%s", out)
	}
	if got := summary(t, out); got != [5]int{1, 0, 3, 0, 0} {
		t.Errorf("import stats %v, want 1 manifest and 3 blobs", got)
	}
	c, _ := newAPIClient(s.URL())
	var rep scanner.Report
	if err := c.call(context.Background(), http.MethodGet, "repositories/team/app/manifests/"+want.String()+"/scan", nil, &rep); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range rep.Findings {
		ids = append(ids, f.ID)
	}
	slices.Sort(ids)
	if rep.Status != "complete" || rep.Digest != want.String() || !slices.Equal(ids, allIDs) {
		t.Errorf("scan of the import = %s %s %v, want complete %s %v", rep.Status, rep.Digest, ids, want, allIDs)
	}

	if l := logs.String(); !strings.Contains(l, "image imported") || strings.Contains(l, "pa55-secret") {
		t.Errorf("server log has no import line, or has the source password:\n%s", l)
	}

	// A locked tag refuses an import as it refuses a push.
	if code, out, errOut := runBerth(t, "lock", "set", "team/app:v1", "--write=false", "--registry", s.URL()); code != 0 {
		t.Fatalf("lock: exit %d\n%s\n%s", code, out, errOut)
	}
	pushImage(t, dist, "other", day0, "v1")
	code, _, errOut = runBerth(t, "import", dist.Base()+"/other:v1", "--to", s.URL()+"/team/app:v1")
	if code == 0 || !strings.Contains(errOut, "import refused") || !strings.Contains(errOut, "locked") {
		t.Errorf("import onto a locked tag: exit %d\n%s", code, errOut)
	}
}

func TestImportRefusesInternalSources(t *testing.T) {
	dist := startDistribution(t)
	pushImage(t, dist, "app", day0, "v1")
	s := startImporting(t, servertest.Config(t), nil)
	closeIdleFirst(t)

	for _, tt := range []struct {
		name, source, want string
	}{
		{"loopback", dist.Base() + "/app:v1", "import.allow_cidrs"},
		{"metadata", "http://169.254.169.254/app:v1", "import.allow_cidrs"},
		{"private", "http://10.1.2.3:5000/app:v1", "import.allow_cidrs"},
		{"ipv6 loopback", "http://[::1]:5000/app:v1", "import.allow_cidrs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runBerth(t, "import", tt.source, "--to", s.URL()+"/team/app", "--src-creds", "user:s3cret")
			if code == 0 || !strings.Contains(errOut, "import source refused") || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d\n%s\n%s", code, out, errOut)
			}
			if strings.Contains(errOut, "s3cret") {
				t.Errorf("the answer carries the source password: %s", errOut)
			}
		})
	}
	c, err := remote.New(s.URL(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tags, err := c.Tags(context.Background(), "team/app", 0); err == nil && len(tags) > 0 {
		t.Errorf("refused imports left tags %v", tags)
	}
}

// TestCopyAndImportWithAuth drives copy (token flow at the destination,
// then a mount within it) and import (the admin's API call, pushed in
// process under the admin's grants) against a Berth with authentication.
func TestCopyAndImportWithAuth(t *testing.T) {
	dist := startDistribution(t)
	m := pushMultiArch(t, dist, "app", "v1", true)
	cfg := servertest.Config(t)
	cfg.Auth.Enabled = true
	cfg.Import.AllowCIDRs = "127.0.0.1"
	s := startImporting(t, cfg, nil)
	closeIdleFirst(t)
	pwb, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(pwb))
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("BERTH_USERNAME", "")
	t.Setenv("BERTH_PASSWORD", "")

	if code, _, errOut := runBerth(t, "copy", dist.Base()+"/app:v1", s.URL()+"/team/app"); code == 0 {
		t.Fatalf("anonymous copy into an authenticated Berth succeeded\n%s", errOut)
	}
	code, out, errOut := runBerth(t, "copy", dist.Base()+"/app:v1", s.URL()+"/team/app", "--referrers", "--dest-creds", "admin:"+pw)
	if code != 0 || strings.Contains(out+errOut, pw) {
		t.Fatalf("copy with --dest-creds: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv("BERTH_"+remote.HostEnvName(strings.TrimPrefix(s.URL(), "http://"))+"_PASSWORD", pw)
	t.Setenv("BERTH_"+remote.HostEnvName(strings.TrimPrefix(s.URL(), "http://"))+"_USERNAME", "admin")
	code, out, errOut = runBerth(t, "copy", s.URL()+"/team/app:v1", s.URL()+"/mirror/app")
	if code != 0 {
		t.Fatalf("copy within Berth: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := summary(t, out); got[2] != 0 {
		t.Errorf("copy within an authenticated Berth streamed %d blobs instead of mounting them:\n%s", got[2], out)
	}

	// A registry that ignores mounts (a proxy drops the query here) starts
	// an upload instead, which needs a token of its own scope.
	target, _ := url.Parse(s.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("mount") {
			r.URL.RawQuery = ""
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	fh := strings.TrimPrefix(front.URL, "http://")
	t.Setenv("BERTH_"+remote.HostEnvName(fh)+"_USERNAME", "admin")
	t.Setenv("BERTH_"+remote.HostEnvName(fh)+"_PASSWORD", pw)
	code, out, errOut = runBerth(t, "copy", front.URL+"/team/app:v1", front.URL+"/unmounted/app")
	if got := summary(t, out); code != 0 || got[2] != 4 || got[4] != 0 {
		t.Errorf("copy where mounts are ignored: exit %d, %v; want 4 blobs copied\n%s\n%s", code, got, out, errOut)
	}

	t.Setenv("BERTH_USERNAME", "admin")
	t.Setenv("BERTH_PASSWORD", pw)
	code, out, errOut = runBerth(t, "import", dist.Base()+"/app:v1", "--to", s.URL()+"/imported/app", "--referrers")
	if code != 0 || !strings.Contains(out, "imported/app:v1 "+m.index.String()) {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	c, err := remote.New(s.URL(), remote.Options{Credential: remote.Credential{Username: "admin", Password: pw}})
	if err != nil {
		t.Fatal(err)
	}
	assertCopied(t, c, "imported/app", "v1", m, true)
}
