package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/policy"
)

func policyCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	// The rules go through a file: "-" is the same decoder on stdin.
	if stdin != "" {
		file := filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(file, []byte(stdin), 0o600); err != nil {
			t.Fatal(err)
		}
		args = slices.Clone(args)
		args[slices.Index(args, "-")] = file
	}
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"policy"}, args...), &out, &errb, noEnv)
	return code, out.String(), errb.String()
}

// TestPolicyCommands drives berth policy against a real server: create
// from a file and from stdin, list, show, a dry run, a run and delete.
func TestPolicyCommands(t *testing.T) {
	c := startBerth(t)
	reg := "--registry=" + c.Base()
	for _, tag := range []string{"v1", "v2", "v3"} {
		push(t, c, "app", tag, "", nil, tag)
		time.Sleep(2 * time.Millisecond)
	}
	file := filepath.Join(t.TempDir(), "keep1.yaml")
	if err := os.WriteFile(file, []byte("keep: 1\nolderThan: 0d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		want     []string
	}{
		{"create from file", "", []string{"create", "keep1", "-f", file, "--schedule", "24h", reg}, ExitOK, []string{"stored policy keep1 (every 24h)"}},
		{"create from another file", `{"maxTags": 2}`, []string{"create", "cap", "-f", "-", "--disabled", reg}, ExitOK, []string{"stored policy cap (disabled)"}},
		{"invalid rules", "keep: -1\n", []string{"create", "bad", "-f", "-", reg}, ExitError, []string{"keep: must not be negative"}},
		{"unknown field", "kepe: 1\n", []string{"create", "bad", "-f", "-", reg}, ExitError, []string{"field kepe not found"}},
		{"create on cron", "keep: 5\n", []string{"create", "nightly", "-f", "-", "--schedule", "0 3 * * *", reg}, ExitOK, []string{"stored policy nightly (cron 0 3 * * *)"}},
		{"bad schedule", "keep: 1\n", []string{"create", "bad", "-f", "-", "--schedule", "0 3 * *", reg}, ExitError, []string{"want a cron expression"}},
		{"bad cron", "keep: 1\n", []string{"create", "bad", "-f", "-", "--schedule", "0 25 * * *", reg}, ExitError, []string{"above maximum (23)"}},
		{"no file", "", []string{"create", "bad", reg}, ExitUsage, []string{"--file is required"}},
		{"list", "", []string{"list", reg}, ExitOK, []string{"NAME", "cap", "disabled", "keep1", "every 24h", "nightly", "cron 0 3 * * *", `"keep":1,"olderThan":"0d"`}},
		{"dry run", "", []string{"run", "keep1", "--dry-run", reg}, ExitOK, []string{"deleted: older than 0d", "kept: newest 1", "would delete 2 tags and 2 manifests"}},
		{"run", "", []string{"run", "keep1", reg}, ExitOK, []string{"deleted 2 tags and 2 manifests, 0 skipped, 0 failed"}},
		{"show", "", []string{"show", "keep1", reg}, ExitOK, []string{"schedule: every 24h", "STARTED", `re:false\s+2\s+2\s+0\s+0\s+\d`, `re:true\s+2\s+2`}},
		{"absent", "", []string{"show", "nope", reg}, ExitError, []string{"not found"}},
		{"delete", "", []string{"delete", "cap", reg}, ExitOK, []string{"deleted policy cap"}},
		{"delete again", "", []string{"delete", "cap", reg}, ExitError, []string{"not found"}},
		{"bad output", "", []string{"run", "keep1", "-o", "yaml", reg}, ExitUsage, []string{"--output"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			code, out, errOut := policyCmd(t, st.stdin, st.args...)
			all := out + errOut
			if code != st.wantCode {
				t.Fatalf("exit %d, want %d; output:\n%s", code, st.wantCode, all)
			}
			for _, w := range st.want {
				if re, ok := strings.CutPrefix(w, "re:"); ok && regexp.MustCompile(re).MatchString(all) {
					continue
				}
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
		})
	}
	if tags := tagsOf(t, c, "app"); !slices.Equal(tags, []string{"v3"}) {
		t.Errorf("tags = %v, want [v3]", tags)
	}
	code, out, errOut := policyCmd(t, "", "run", "keep1", "--dry-run", "-o", "json", reg)
	var rep policy.Report
	if err := json.Unmarshal([]byte(out), &rep); code != ExitOK || err != nil || !rep.Run.DryRun || rep.Plan == nil || rep.Plan.Summary.TagsKept != 1 {
		t.Errorf("json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
}
