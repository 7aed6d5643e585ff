package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestScanRescan(t *testing.T) {
	url, im := startScannedServer(t)
	host := strings.TrimPrefix(url, "http://")
	byTag := host + "/team/app:v1"
	byDigest := host + "/team/app@" + digest.FromBytes(im.man).String()

	// A registry that is not Berth: no /api/v1.
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	plainRef := strings.TrimPrefix(plain.URL, "http://") + "/team/app:v1"
	sbom := filepath.Join(t.TempDir(), "sbom.json")

	tests := []struct {
		name string
		args []string
		code int
		out  []string // in stdout
		msg  string   // in stderr
	}{
		{"json by tag", []string{byTag, "--format", "json"}, 0, []string{`"GO-2022-0956"`, `"DEBIAN-CVE-2023-45853"`, `"status": "complete"`, `"zlib1g"`}, ""},
		{"gate fails on HIGH", []string{byTag, "--severity", "HIGH,CRITICAL", "--exit-code", "1"}, 1, []string{"HIGH", "GO-2022-0956", "Inventory: complete"}, "vulnerabilities left after the filters (exit code 1)"},
		{"gate passes on CRITICAL", []string{byDigest, "--severity", "CRITICAL", "--exit-code", "1"}, 0, []string{"CRITICAL: 0"}, ""},
		{"ignore unfixed", []string{byDigest, "--ignore-unfixed", "--format", "json"}, 0, []string{`"ignoreUnfixed": true`}, ""},
		{"sarif", []string{byDigest, "--format", "sarif"}, 0, []string{`"GO-2020-0015"`}, ""},
		{"cyclonedx to a file", []string{byTag, "--format", "cyclonedx", "--output", sbom}, 0, nil, ""},
		{"not berth", []string{plainRef}, ExitError, nil, "--rescan needs a Berth server"},
		{"unknown tag", []string{host + "/team/app:nope"}, ExitError, nil, "resolving"},
		{"with db", []string{byTag, "--db", goAdvisories}, ExitUsage, nil, "--db cannot be used"},
		{"with all", []string{host, "--all"}, ExitUsage, nil, "cannot be combined with --all"},
		{"not a registry", []string{"oci:" + t.TempDir()}, ExitUsage, nil, "not an image in a registry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := scan(t, append([]string{"--rescan"}, tt.args...)...)
			if code != tt.code || !strings.Contains(errOut, tt.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q\n%s", code, errOut, tt.code, tt.msg, out)
			}
			for _, want := range tt.out {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
		})
	}

	var bom struct {
		Components []struct {
			Name string `json:"name"`
		} `json:"components"`
		Vulnerabilities []struct {
			ID string `json:"id"`
		} `json:"vulnerabilities"`
	}
	b, err := os.ReadFile(sbom)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatal(err)
	}
	var names, ids []string
	for _, c := range bom.Components {
		names = append(names, c.Name)
	}
	for _, v := range bom.Vulnerabilities {
		ids = append(ids, v.ID)
	}
	slices.Sort(ids)
	if !slices.Contains(names, "zlib1g") || !slices.Contains(names, "golang.org/x/text") || !slices.Equal(slices.Compact(ids), allIDs) {
		t.Errorf("cyclonedx: components %v, vulnerabilities %v; want zlib1g, golang.org/x/text and %v", names, ids, allIDs)
	}
}
