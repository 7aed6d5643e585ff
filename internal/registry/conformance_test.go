package registry

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestConformance runs the OCI distribution-spec conformance binary named
// by BERTH_CONFORMANCE_BIN against this package's handler on real stores.
// It is skipped unless that variable is set, since the binary is built
// separately:
//
//	GOFLAGS=-buildvcs=false GOBIN=/tmp/confbin go install \
//	  github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111
//
// OCI_VERSION=dev in the environment also runs the optional APIs (tag
// parameters, upload cancel, digest headers); BERTH_CONFORMANCE_RESULTS
// keeps the reports.
func TestConformance(t *testing.T) {
	bin := os.Getenv("BERTH_CONFORMANCE_BIN")
	if bin == "" {
		t.Skip("BERTH_CONFORMANCE_BIN not set")
	}
	env := newEnv(t, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	srv := &http.Server{Handler: env.reg, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	results := os.Getenv("BERTH_CONFORMANCE_RESULTS")
	if results == "" {
		results = t.TempDir()
	}
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+ln.Addr().String(),
		"OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_RESULTS_DIR="+filepath.Clean(results),
	)
	out, err := cmd.CombinedOutput()
	t.Logf("conformance output:\n%s", out)
	if err != nil {
		t.Fatalf("conformance failed: %v (results in %s)", err, results)
	}
}
