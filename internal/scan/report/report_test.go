package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goScan matches a hand-written inventory against the real Go advisories
// in ../vulndb/testdata, so the reports show real ids, severities and fixes.
func goScan(t *testing.T, partial bool) *Scan {
	t.Helper()
	b := vulndb.NewBuilder(vulndb.Limits{})
	if err := b.AddDir(context.Background(), filepath.Join("..", "vulndb", "testdata", "go")); err != nil {
		t.Fatal(err)
	}
	db := b.Build()
	layer := "sha256:" + strings.Repeat("ab", 32)
	inv := &inventory.Inventory{
		OS:     inventory.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Status: inventory.StatusComplete,
		Packages: []inventory.Package{
			{Name: "base-files", Version: "12.4+deb12u5", SourceName: "base-files", SourceVersion: "12.4+deb12u5", Arch: "amd64", Ecosystem: inventory.EcosystemDeb, PURL: "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12", Layer: digest.Digest("sha256:" + strings.Repeat("cd", 32)), Path: "var/lib/dpkg/status"},
			{Name: "golang.org/x/text", Version: "v0.3.0", Ecosystem: inventory.EcosystemGo, PURL: "pkg:golang/golang.org/x/text@v0.3.0", Layer: digest.Digest(layer), Path: "usr/local/bin/app"},
			{Name: "gopkg.in/yaml.v2", Version: "v2.2.2", Ecosystem: inventory.EcosystemGo, PURL: "pkg:golang/gopkg.in/yaml.v2@v2.2.2", Layer: digest.Digest(layer), Path: "usr/local/bin/app"},
		},
	}
	s := &Scan{
		Image: "127.0.0.1:5000/team/app:v1", Digest: "sha256:" + strings.Repeat("01", 32), Platform: "linux/amd64",
		Inventory: inv, DBVersion: db.Version(), Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ToolVersion: "test",
	}
	if partial {
		inv.Status = inventory.StatusPartial
		inv.Reasons = []string{"var/lib/rpm/rpmdb.sqlite: rpm database not supported yet"}
		s.Filter = Filter{Severities: []vulndb.Severity{vulndb.SeverityCritical}, IgnoreUnfixed: true}
		return s
	}
	s.Findings = match.New(db).Run(inv).Findings
	if len(s.Findings) == 0 {
		t.Fatal("the test inventory matched nothing")
	}
	return s
}

func TestGolden(t *testing.T) {
	for _, scenario := range []string{"findings", "partial"} {
		for _, f := range Formats {
			t.Run(scenario+"/"+string(f), func(t *testing.T) {
				s := goScan(t, scenario == "partial")
				var buf bytes.Buffer
				if err := Write(&buf, f, s); err != nil {
					t.Fatal(err)
				}
				ext := map[Format]string{Table: ".txt"}[f]
				if ext == "" {
					ext = ".json"
				}
				golden := filepath.Join("testdata", scenario+"."+string(f)+ext)
				if *update {
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Fatalf("%s differs from the golden file:\n%s", golden, buf.String())
				}
				if f != Table && !json.Valid(buf.Bytes()) {
					t.Fatal("not valid JSON")
				}
			})
		}
	}
}

// TestPartialIsLoud checks every format says a partial scan is partial and
// none claims the image is clean.
func TestPartialIsLoud(t *testing.T) {
	tests := []struct {
		format Format
		has    []string
	}{
		{Table, []string{"PARTIAL SCAN", "rpm database not supported yet", "the scan is PARTIAL"}},
		{JSON, []string{`"status": "partial"`, "rpm database not supported yet"}},
		{SARIF, []string{`"executionSuccessful": false`, "partial scan: var/lib/rpm"}},
		{CycloneDX, []string{`"value": "partial"`, "berth:scan:partial-reason"}},
		{SPDX, []string{"PARTIAL inventory"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, tt.format, goScan(t, true)); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, h := range tt.has {
				if !strings.Contains(out, h) {
					t.Errorf("output lacks %q", h)
				}
			}
			if strings.Contains(out, "No vulnerabilities found.") {
				t.Error("a partial scan claims no vulnerabilities")
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"table", "JSON", "sarif", "cyclonedx", "spdx"} {
		if _, err := ParseFormat(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("xml accepted")
	}
}
