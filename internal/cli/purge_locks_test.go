package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// berthCLI runs a berth verb against the server at url and fails the test
// on a non-zero exit.
func berthCLI(t *testing.T, url string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Run(context.Background(), append(args, "--registry", url), &out, &errb); code != ExitOK {
		t.Fatalf("berth %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

// TestPurgeLocked runs berth purge over locked tags and manifests of a
// real server: without --include-locked they are kept with a reason and
// nothing fails; with it, item locks are cleared and their items deleted,
// while a repository lock and an immutability rule still keep theirs.
func TestPurgeLocked(t *testing.T) {
	c := startBerth(t)
	url := c.Base()
	for _, tag := range []string{"v1", "v2", "release-1", "v3"} {
		push(t, c, "app", tag, "", nil, tag)
	}
	pinned := push(t, c, "app", "pinned", "", nil)
	push(t, c, "frozen", "f1", "", nil, "f1")
	berthCLI(t, url, "lock", "set", "app:v1", "--write=false")
	berthCLI(t, url, "lock", "set", "app@"+pinned.String(), "--delete=false")
	berthCLI(t, url, "lock", "set", "frozen", "--delete=false")
	berthCLI(t, url, "lock", "immutable", "--repos", "app", "--tags", "release-.*")

	tests := []struct {
		name    string
		args    []string
		reasons map[string]string // tag or digest → reason prefix
		deleted int
		left    map[string][]string
	}{
		{
			name: "locked kept",
			args: nil,
			reasons: map[string]string{
				"app:v1": "kept: locked", "app:release-1": "kept: locked", "app:v2": "deleted: older than 0d",
				"app@" + pinned.String(): "kept: locked", "frozen:f1": "kept: locked",
			},
			deleted: 4, // v2, v3 and their manifests
			left:    map[string][]string{"app": {"release-1", "v1"}, "frozen": {"f1"}},
		},
		{
			name:    "include locked",
			args:    []string{"--include-locked"},
			reasons: map[string]string{"app:v1": "deleted: older than 0d", "app@" + pinned.String(): "deleted: untagged", "app:release-1": "kept: locked", "frozen:f1": "kept: locked"},
			deleted: 3, // v1, its manifest, pinned
			left:    map[string][]string{"app": {"release-1"}, "frozen": {"f1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--registry", url, "--filter", ".*:.*", "--ago", "0d", "--untagged", "--output", "json"}, tt.args...)
			code, out, errOut := purge(t, args...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s\n%s", code, errOut, out)
			}
			var rep report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			got := map[string]string{}
			for _, r := range rep.Plan.Repositories {
				for _, tg := range r.Tags {
					got[r.Name+":"+tg.Name] = tg.Reason
				}
				for _, m := range r.Manifests {
					got[r.Name+"@"+m.Digest.String()] = m.Reason
				}
			}
			for ref, want := range tt.reasons {
				if !strings.HasPrefix(got[ref], want) {
					t.Errorf("%s: reason %q, want %q", ref, got[ref], want)
				}
			}
			if rep.Result == nil || len(rep.Result.Failed) != 0 || len(rep.Result.Deleted) != tt.deleted {
				t.Errorf("result %+v, want %d deleted and none failed", rep.Result, tt.deleted)
			}
			for repo, want := range tt.left {
				if got := tagsOf(t, c, repo); !slices.Equal(got, want) {
					t.Errorf("%s tags left %v, want %v", repo, got, want)
				}
			}
		})
	}
	// The item locks went with their items; the repository lock and the
	// rule were not touched.
	list := berthCLI(t, url, "lock", "list")
	if strings.Contains(list, "app:v1") || strings.Contains(list, pinned.String()) || !strings.Contains(list, "frozen") || !strings.Contains(list, "release-.*") {
		t.Errorf("berth lock list after purge --include-locked:\n%s", list)
	}
}
