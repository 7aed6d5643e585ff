// Package conformance runs the OCI distribution-spec conformance suite
// (the `conformance` binary from opencontainers/distribution-spec) against a
// registry started by the harness, with every API and data type enabled,
// including sha512 content.
package conformance

import (
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/test/harness"
)

var berthBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if harness.Target() == harness.TargetBerth {
		dir, err := os.MkdirTemp("", "berth-conformance-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if berthBin, err = harness.BuildBerth(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// suites mirrors the parts of the suite's junit.xml the summary needs.
type suites struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Skipped  int `xml:"skipped,attr"`
	Disabled int `xml:"disabled,attr"`
	Cases    []struct {
		Name   string `xml:"name,attr"`
		Status string `xml:"status,attr"`
		// The suite writes the reason of a failure to system-out.
		SystemOut string `xml:"system-out"`
	} `xml:"testsuite>testcase"`
}

// Summary is the pass/fail count of one conformance run.
type Summary struct{ Passed, Failed, Skipped int }

func parseJUnit(b []byte) (Summary, []string, error) {
	var s suites
	if err := xml.Unmarshal(b, &s); err != nil {
		return Summary{}, nil, fmt.Errorf("parsing junit.xml: %w", err)
	}
	if s.Tests == 0 {
		return Summary{}, nil, fmt.Errorf("junit.xml reports no tests")
	}
	failed := s.Failures + s.Errors
	// Disabled tests are counted with the skipped ones: neither ran.
	skipped := s.Skipped + s.Disabled
	var names []string
	seen := map[string]bool{}
	for _, c := range s.Cases {
		if c.Status != "failure" && c.Status != "error" {
			continue
		}
		// A case that fails once per data variant repeats its line; one is enough.
		line := strings.TrimPrefix(c.Name, "OCI Conformance Test/") + ": " + firstLine(c.SystemOut)
		if !seen[line] {
			seen[line] = true
			names = append(names, line)
		}
	}
	return Summary{Passed: s.Tests - failed - skipped, Failed: failed, Skipped: skipped}, names, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

func TestOCIConformance(t *testing.T) {
	bin := harness.Tool(t, "conformance")
	srv := harness.Start(t, berthBin)
	work := t.TempDir()
	results := filepath.Join(work, "results")
	cmd := exec.Command(bin)
	// The suite reads oci-conformance.yaml from its working directory when
	// present; an empty temp dir guarantees only the variables below apply.
	cmd.Dir = work
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+srv.Addr,
		"OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_RESULTS_DIR="+results,
		"OCI_VERSION=1.1",
		"OCI_LOG=error",
		// Every data type on, explicitly, so a change of the suite's
		// defaults cannot quietly shrink what is tested. Sparse manifests
		// stay off: the spec lets a registry reject an index whose children
		// are missing, and Berth does.
		"OCI_DATA_IMAGE=true", "OCI_DATA_INDEX=true", "OCI_DATA_INDEX_LIST=true",
		"OCI_DATA_ARTIFACT=true", "OCI_DATA_SUBJECT=true", "OCI_DATA_SUBJECT_MISSING=true",
		"OCI_DATA_ARTIFACT_LIST=true", "OCI_DATA_SUBJECT_LIST=true", "OCI_DATA_DATA_FIELD=true",
		"OCI_DATA_NONDISTRIBUTABLE=true", "OCI_DATA_CUSTOM_FIELDS=true", "OCI_DATA_NO_LAYERS=true",
		"OCI_DATA_EMPTY_BLOB=true", "OCI_DATA_SHA512=true",
		// Two optional APIs the suite leaves off by default; Berth has both.
		"OCI_API_BLOBS_UPLOAD_CANCEL=true", "OCI_API_MANIFESTS_TAG_PARAM=true",
	)
	// A developer may still override data and API switches from the shell
	// (e.g. OCI_DATA_SPARSE=true); the last duplicate wins in exec.Cmd.Env.
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OCI_DATA_") || strings.HasPrefix(kv, "OCI_API_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, runErr := cmd.CombinedOutput()
	// The suite exits 1 on any failure; the junit report is the verdict.
	t.Logf("conformance output (exit: %v):\n%s", runErr, summaryBlock(string(out)))
	if dst := os.Getenv("BERTH_CONFORMANCE_RESULTS"); dst != "" {
		// Keep the HTML report for humans when asked to.
		_ = os.MkdirAll(dst, 0o755)
		_ = exec.Command("cp", "-r", results+"/.", dst).Run()
	}
	b, err := os.ReadFile(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("no junit.xml from conformance (exit %v): %v\n%s", runErr, err, out)
	}
	sum, failures, err := parseJUnit(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("conformance vs %s: %d passed, %d failed, %d skipped", srv.Kind, sum.Passed, sum.Failed, sum.Skipped)
	fmt.Printf("conformance(%s): %d passed, %d failed, %d skipped\n", srv.Kind, sum.Passed, sum.Failed, sum.Skipped)
	if sum.Failed > 0 {
		t.Errorf("%d conformance tests failed (%d distinct):\n  %s", sum.Failed, len(failures), strings.Join(failures, "\n  "))
	}
	if sum.Passed == 0 {
		t.Error("no conformance test passed")
	}
}

// summaryBlock keeps the suite's closing verdict tables (totals, API and
// data areas); the per-test tree above them is in results/report.html and the
// failure list below repeats what matters more compactly.
func summaryBlock(out string) string {
	if i := strings.Index(out, "OCI Conformance Result:"); i >= 0 {
		return out[i:]
	}
	return out
}

func TestParseJUnit(t *testing.T) {
	tests := []struct {
		name    string
		xml     string
		want    Summary
		wantErr bool
		fails   int
	}{
		{
			name: "mixed",
			xml: `<testsuites tests="10" failures="2" skipped="3" disabled="1"><testsuite tests="10" failures="2">
<testcase name="OCI Conformance Test/a" status="passed"></testcase>
<testcase name="OCI Conformance Test/b" status="failure"><system-out>boom&#xA;detail</system-out></testcase>
<testcase name="OCI Conformance Test/b" status="failure"><system-out>boom</system-out></testcase>
</testsuite></testsuites>`,
			want:  Summary{Passed: 4, Failed: 2, Skipped: 4},
			fails: 1,
		},
		{name: "empty", xml: `<testsuites tests="0"></testsuites>`, wantErr: true},
		{name: "garbage", xml: `not xml`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fails, err := parseJUnit([]byte(tt.xml))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got != tt.want {
				t.Errorf("summary = %+v, want %+v", got, tt.want)
			}
			if len(fails) != tt.fails {
				t.Errorf("failures = %q, want %d entries", fails, tt.fails)
			}
			if tt.fails > 0 && fails[0] != "b: boom" {
				t.Errorf("failure line = %q, want %q", fails[0], "b: boom")
			}
		})
	}
}
