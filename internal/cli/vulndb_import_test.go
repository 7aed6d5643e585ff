package cli

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/server/servertest"
)

// debianZip is an osv.dev-style zip of two Debian advisories.
func debianZip(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, id := range []string{"DSA-1-1", "DSA-2-1"} {
		w, _ := zw.Create(id + ".json")
		w.Write([]byte(`{"id":"` + id + `","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1"}]}]}]}`))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "Debian-all.zip")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func dbStatus(t *testing.T, base string) api.DBStatus {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/vulndb")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st api.DBStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// The whole air-gap path against real servers: publish OSV data as an
// artifact in a Berth, pull it back, import it (uploaded, from the server's
// disk, from the artifact) into a running server, build a database file
// offline, and start a server whose scan.db is the artifact.
func TestVulndbImportPushPull(t *testing.T) {
	goDir := filepath.Join("..", "scan", "vulndb", "testdata", "go") // 8 real Go advisories
	deb := debianZip(t)
	reg := servertest.Start(t, servertest.Config(t))
	host := strings.TrimPrefix(reg.URL(), "http://")
	ref := host + "/security/osv:v1"

	run := func(wantCode int, args ...string) string {
		t.Helper()
		code, out, errOut := runBerth(t, args...)
		if code != wantCode {
			t.Fatalf("berth %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out + errOut
	}

	run(0, "vulndb", "push", ref, goDir, deb)
	pulled := t.TempDir()
	out := run(0, "vulndb", "pull", ref, "--output", pulled)
	for _, name := range []string{"go.zip", "Debian-all.zip"} {
		if !strings.Contains(out, filepath.Join(pulled, name)) {
			t.Errorf("pull output %q does not name %s", out, name)
		}
	}
	got, _ := os.ReadFile(filepath.Join(pulled, "Debian-all.zip"))
	want, _ := os.ReadFile(deb)
	if !bytes.Equal(got, want) {
		t.Error("the pulled Debian-all.zip differs from the pushed one")
	}
	// Pulling again fetches nothing new and keeps the files.
	run(0, "vulndb", "pull", ref, "--output", pulled)

	// Offline database file.
	dbFile := filepath.Join(t.TempDir(), "osv.zip")
	out = run(0, "vulndb", "import", "oci://"+ref, "--output", dbFile)
	if !strings.Contains(out, "10 advisories") {
		t.Errorf("offline build: %q, want 10 advisories", out)
	}
	offline := run(0, "vulndb", "status", "--db", dbFile, "--json")
	var offlineSt struct{ Version string }
	json.Unmarshal([]byte(offline), &offlineSt)

	// A running server without scan.db, importing step by step.
	srv := servertest.Start(t, servertest.Config(t))
	if st := dbStatus(t, srv.URL()); st.Status != "skipped" {
		t.Fatalf("server without a database: %+v", st)
	}
	run(0, "vulndb", "import", deb, "--registry", srv.URL())
	if st := dbStatus(t, srv.URL()); st.DB == nil || st.DB.Advisories != 2 {
		t.Fatalf("after uploading Debian-all.zip: %+v", st)
	}
	bad := filepath.Join(t.TempDir(), "Alpine-all.zip")
	os.WriteFile(bad, []byte("not a zip"), 0o600)
	out = run(1, "vulndb", "import", bad, "--registry", srv.URL())
	if !strings.Contains(out, "zip") {
		t.Errorf("bad upload: %q", out)
	}
	run(0, "vulndb", "import", "oci://"+ref, "--registry", srv.URL())
	st := dbStatus(t, srv.URL())
	if st.DB == nil || st.DB.Advisories != 10 {
		t.Fatalf("after importing the artifact: %+v", st.DB)
	}
	if st.DB.Version != offlineSt.Version {
		t.Errorf("server version %s, offline file %s: the same data should give the same version", st.DB.Version, offlineSt.Version)
	}
	run(0, "vulndb", "import", "--on-server", goDir, "--registry", srv.URL())
	if st := dbStatus(t, srv.URL()); st.DB.Advisories != 10 || st.DB.Version != offlineSt.Version {
		t.Errorf("re-importing the Go directory from the server's disk changed the database: %+v", st.DB)
	}
	// The server's side: the database and the last (background) re-match.
	if out := run(0, "vulndb", "status", "--registry", srv.URL()); !strings.Contains(out, "Advisories:  10") ||
		!strings.Contains(out, "Re-match:    done, version "+offlineSt.Version+", 0 of 0 inventories") {
		t.Errorf("berth vulndb status --registry:\n%s", out)
	}

	// A server whose scan.db names the artifact pulls it at start.
	cfg := servertest.Config(t)
	cfg.Scan.DB = config.List("oci://" + ref)
	fromOCI := servertest.Start(t, cfg)
	if st := dbStatus(t, fromOCI.URL()); st.DB == nil || st.DB.Version != offlineSt.Version {
		t.Errorf("server with scan.db=oci://…: %+v", st.DB)
	}
}
