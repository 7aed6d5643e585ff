package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/test/harness"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Helm's OCI media types (helm.sh/helm/v3/pkg/registry).
const (
	helmConfigType = "application/vnd.cncf.helm.config.v1+json"
	helmChartType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// helmEnv keeps helm's config, cache, data and registry login files in a
// temp dir so the test never reads or writes the user's.
func helmEnv(t *testing.T) []string {
	dir := t.TempDir()
	return []string{
		"HELM_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"HELM_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"HELM_DATA_HOME=" + filepath.Join(dir, "data"),
		"HELM_REGISTRY_CONFIG=" + filepath.Join(dir, "registry.json"),
	}
}

// TestHelm packages a chart and round-trips it with the real helm client:
// helm push to oci://, helm show chart, helm pull, bytes compared.
func TestHelm(t *testing.T) {
	t.Parallel()
	helm := harness.Tool(t, "helm")
	srv := newRegistry(t)
	env := helmEnv(t)
	work := t.TempDir()
	harness.RunIn(t, work, env, helm, "create", "berthchart")
	harness.RunIn(t, work, env, helm, "package", "berthchart", "--version", "0.3.1", "--destination", work)
	tgz := filepath.Join(work, "berthchart-0.3.1.tgz")
	orig, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}

	repo := "oci://" + srv.Addr + "/charts"
	// helm reports the pushed digest on stderr; the pull below is the check.
	harness.Run(t, env, helm, "push", tgz, repo, "--plain-http")

	show := harness.Run(t, env, helm, "show", "chart", repo+"/berthchart", "--version", "0.3.1", "--plain-http")
	if !strings.Contains(show, "name: berthchart") || !strings.Contains(show, "version: 0.3.1") {
		t.Errorf("helm show chart = %q, want name berthchart version 0.3.1", show)
	}

	dst := filepath.Join(work, "pulled")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	harness.Run(t, env, helm, "pull", repo+"/berthchart", "--version", "0.3.1", "--plain-http", "--destination", dst)
	got, err := os.ReadFile(filepath.Join(dst, "berthchart-0.3.1.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, orig) {
		t.Errorf("pulled chart differs from pushed: %d vs %d bytes", len(got), len(orig))
	}
}

// TestHelmChartArtifact pushes a chart-shaped artifact with Helm's config and
// layer media types through oras and checks the manifest and content come
// back unchanged. It runs even where helm itself is not installed.
func TestHelmChartArtifact(t *testing.T) {
	t.Parallel()
	oras := harness.Tool(t, "oras")
	srv := newRegistry(t)
	work := t.TempDir()
	chart := bytes.Repeat([]byte("not really gzip, the registry must not care\n"), 100)
	cfg := []byte(`{"name":"berthchart","version":"0.3.1","apiVersion":"v2"}`)
	for name, b := range map[string][]byte{"berthchart-0.3.1.tgz": chart, "config.json": cfg} {
		if err := os.WriteFile(filepath.Join(work, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ref := srv.Addr + "/charts/berthchart:0.3.1"
	harness.RunIn(t, work, nil, oras, "push", "--plain-http",
		"--config", "config.json:"+helmConfigType, ref, "berthchart-0.3.1.tgz:"+helmChartType)

	var m ocispec.Manifest
	if err := json.Unmarshal([]byte(harness.Run(t, nil, oras, "manifest", "fetch", "--plain-http", ref)), &m); err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != helmConfigType || len(m.Layers) != 1 || m.Layers[0].MediaType != helmChartType {
		t.Fatalf("manifest config=%q layers=%+v, want %q and one %q layer", m.Config.MediaType, m.Layers, helmConfigType, helmChartType)
	}
	gotCfg := harness.Run(t, nil, oras, "blob", "fetch", "--plain-http", "--output", "-", srv.Addr+"/charts/berthchart@"+m.Config.Digest.String())
	if gotCfg != string(cfg) {
		t.Errorf("config blob = %q, want %q", gotCfg, cfg)
	}
	dst := filepath.Join(work, "pulled")
	harness.Run(t, nil, oras, "pull", "--plain-http", "-o", dst, ref)
	if got, err := os.ReadFile(filepath.Join(dst, "berthchart-0.3.1.tgz")); err != nil || !bytes.Equal(got, chart) {
		t.Errorf("pulled chart differs (err %v)", err)
	}
}
