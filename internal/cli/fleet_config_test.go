package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/server/servertest"
)

func runBerth(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestTagsCommand(t *testing.T) {
	dist := startDistribution(t)
	pushImage(t, dist, "app", day0.AddDate(0, 0, 2), "new")
	pushImage(t, dist, "app", day0, "old")
	pushImage(t, dist, "app", day0.AddDate(0, 0, 1), "mid")
	pushImage(t, dist, "repro", time.Unix(0, 0), "a", "b")
	berth := startBerth(t)
	push(t, berth, "app", "one", "", nil, "x")
	push(t, berth, "app", "two", "", nil, "y")

	for _, tt := range []struct {
		name   string
		args   []string
		lines  []string // tag names in output order
		source string
		warn   bool
	}{
		{"distribution oldest first", []string{"tags", dist.Base() + "/app", "--orderby", "time_asc"}, []string{"old", "mid", "new"}, "image config created", false},
		{"distribution newest first", []string{"tags", dist.Base() + "/app", "--orderby", "time_desc"}, []string{"new", "mid", "old"}, "image config created", false},
		{"reproducible builds", []string{"tags", dist.Base() + "/repro"}, []string{"a", "b"}, "image config created", true},
		{"berth", []string{"tags", berth.Base() + "/app", "--orderby", "time_desc"}, []string{"y", "x"}, "berth /api/v1", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runBerth(t, tt.args...)
			if code != ExitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			var names []string
			for _, l := range strings.Split(out, "\n")[1:] {
				if f := strings.Fields(l); len(f) == 3 || (len(f) == 4 && f[3] == "(unusable)") {
					names = append(names, f[0])
				}
			}
			if !slices.Equal(names, tt.lines) {
				t.Errorf("tags %v, want %v:\n%s", names, tt.lines, out)
			}
			if !strings.Contains(out, "times from "+tt.source) {
				t.Errorf("output does not name the time source %q:\n%s", tt.source, out)
			}
			if got := strings.Contains(errOut, "unusable times"); got != tt.warn {
				t.Errorf("warning %v, want %v: %s", got, tt.warn, errOut)
			}
		})
	}
	code, out, _ := runBerth(t, "repos", dist.Base(), "--output", "json")
	var repos struct{ Repositories []string }
	if err := json.Unmarshal([]byte(out), &repos); code != ExitOK || err != nil || !slices.Equal(repos.Repositories, []string{"app", "repro"}) {
		t.Errorf("repos: exit %d %v %q", code, err, out)
	}
	// --ago cannot order 1970 tags: refused, then forced.
	args := []string{"purge", "--registry", dist.Base(), "--filter", "repro:.*", "--ago", "30d"}
	if code, out, errOut := runBerth(t, args...); code != ExitError || !strings.Contains(errOut, "--force") {
		t.Errorf("purge with unusable times: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := tagsOf(t, dist, "repro"); len(got) != 2 {
		t.Errorf("refused purge deleted tags: %v", got)
	}
	if code, out, errOut := runBerth(t, append(args, "--force")...); code != ExitOK {
		t.Errorf("purge --force: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestPurgeFleetFile purges a Berth server and a distribution registry in
// one run from a fleet file whose credentials are environment variable
// names.
func TestPurgeFleetFile(t *testing.T) {
	dist := startDistribution(t)
	for i := range 3 {
		pushImage(t, dist, "svc", day0.AddDate(0, 0, i), fmt.Sprintf("v%d", i))
	}
	berth := startBerth(t)
	for i := range 3 {
		push(t, berth, "svc", fmt.Sprint(i), "", nil, fmt.Sprintf("v%d", i))
		time.Sleep(10 * time.Millisecond) // distinct push times
	}
	file := filepath.Join(t.TempDir(), "fleet.yaml")
	yml := fmt.Sprintf(`concurrency: 8
registries:
  - url: %s
    credentials: {usernameEnv: FLEET_TEST_USER, passwordEnv: FLEET_TEST_PASSWORD}
    policies:
      - name: keep-1
        repositories: {include: ["svc"]}
        olderThan: 0d
        keep: 1
  - url: %s
    kind: oci
    policies:
      - repositories: {include: [".*"]}
        maxTags: 2
`, berth.Base(), dist.Base())
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLEET_TEST_USER", "nobody")
	t.Setenv("FLEET_TEST_PASSWORD", "unused-without-auth")
	code, out, errOut := runBerth(t, "purge", "--config", file)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"== " + berth.Base(), "== " + dist.Base(), "SUMMARY", "beyond max 2 tags", "kept: newest 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := tagsOf(t, berth, "svc"); !slices.Equal(got, []string{"v2"}) {
		t.Errorf("berth tags %v, want [v2]", got)
	}
	if got := sorted(tagsOf(t, dist, "svc")); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Errorf("distribution tags %v, want [v1 v2]", got)
	}
}

func TestFleetFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, yml, want string }{
		{"no registries", "registries: []\n", "registries: none listed"},
		{"unknown key", "registries:\n  - url: x\n    pasword: y\n", "field pasword not found"},
		{"no rule", "registries:\n  - url: x\n    policies:\n      - keep: 2\n", "no deletion rule"},
		{"bad kind", "registries:\n  - url: x\n    kind: harbor\n    policies: [{maxTags: 1}]\n", "kind: want berth, acr or oci"},
		{"env pair", "registries:\n  - url: x\n    credentials: {usernameEnv: U}\n    policies: [{maxTags: 1}]\n", "usernameEnv needs passwordEnv"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, tt.name+".yaml")
			if err := os.WriteFile(f, []byte(tt.yml), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runBerth(t, "purge", "--config", f)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want usage error with %q", code, errOut, tt.want)
			}
		})
	}
}

// TestFleetAgainstBerthWithAuth drives the token flow against a real
// Berth with authentication on: pushes through Bearer tokens, then tags
// and purge with the password on stdin.
func TestFleetAgainstBerthWithAuth(t *testing.T) {
	cfg := servertest.Config(t)
	cfg.Auth.Enabled = true
	s := servertest.Start(t, cfg)
	pwb, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(pwb))
	c, err := remote.New(s.URL(), remote.Options{Credential: remote.Credential{Username: "admin", Password: pw}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		push(t, c, "secure", fmt.Sprint(i), "", nil, fmt.Sprintf("v%d", i))
		time.Sleep(10 * time.Millisecond)
	}
	t.Setenv("BERTH_USERNAME", "")
	t.Setenv("BERTH_PASSWORD", "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if code, out, errOut := runBerth(t, "tags", s.URL()+"/secure"); code == ExitOK {
		t.Fatalf("anonymous tags succeeded:\n%s\n%s", out, errOut)
	}
	var out, errb bytes.Buffer
	cmd := newRoot(&out, &errb, os.LookupEnv)
	cmd.SetIn(strings.NewReader(pw + "\n"))
	cmd.SetArgs([]string{"purge", "--registry", s.URL(), "--filter", "secure:.*", "--ago", "0d", "--keep", "1", "--username", "admin", "--password-stdin"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("purge with credentials: %v\n%s\n%s", err, out.String(), errb.String())
	}
	if got := tagsOf(t, c, "secure"); !slices.Equal(got, []string{"v2"}) {
		t.Errorf("tags left %v, want [v2]", got)
	}
}
