package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/test/harness"
)

// TestRecycleBinAndLocks drives the recycle bin, locks and immutability
// rules with crane and the berth CLI against a real berth serve: what a
// user sees is crane's error text, so the assertions read it.
func TestRecycleBinAndLocks(t *testing.T) {
	t.Parallel()
	if harness.Target() != harness.TargetBerth {
		t.Skip("the recycle bin and locks are Berth's own")
	}
	crane := harness.Tool(t, "crane")
	srv := newRegistry(t)
	la, lb := newLayout(t), newLayout(t)
	a := singleImage(t, la, "v1").Digest.String()
	b := singleImage(t, lb, "v1").Digest.String()
	const name = "e2e/lifecycle/app"
	repo := srv.Addr + "/" + name
	craneRun := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(harness.Run(t, nil, crane, append(args, "--insecure")...))
	}
	craneErr := func(args ...string) error {
		t.Helper()
		_, err := harness.RunErr(nil, crane, append(args, "--insecure")...)
		return err
	}
	berth := func(args ...string) string {
		t.Helper()
		return harness.Run(t, nil, berthBin, append(args, "--registry", srv.URL())...)
	}
	// refused asserts that err is a 403 DENIED whose message has want.
	refused := func(what string, err error, want string) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s succeeded, want 403 DENIED", what)
		case !strings.Contains(err.Error(), "DENIED") || !strings.Contains(err.Error(), want):
			t.Errorf("%s: want DENIED naming %q, got %v", what, want, err)
		}
	}
	craneRun("push", la.Dir, repo+":v1")

	t.Run("trash restore", func(t *testing.T) {
		craneRun("delete", repo+"@"+a)
		if err := craneErr("digest", repo+"@"+a); err == nil || !(strings.Contains(err.Error(), "MANIFEST_UNKNOWN") || strings.Contains(err.Error(), "404")) {
			t.Fatalf("pull after delete by digest: want 404 MANIFEST_UNKNOWN, got %v", err)
		}
		if out := berth("trash", "list", "--repo", name); !strings.Contains(out, a[:19]) && !strings.Contains(out, a) {
			t.Errorf("berth trash list does not show %s:\n%s", a, out)
		}
		// The bin holds the manifest and its two layers (random, so no
		// other manifest shares them); the listing no longer counts it.
		if u := usageOf(t, srv.URL()); u.TrashManifests != 1 || u.TrashBytes < (64+200)<<10 {
			t.Errorf("berth usage with a manifest in the bin: %+v", u)
		}
		if r := repoSummary(t, srv.URL(), name); r.ManifestCount != 0 || r.TagCount != 0 {
			t.Errorf("GET /api/v1/repositories with the manifest in the bin: %+v, want no manifest or tag", r)
		}
		berth("trash", "restore", name+"@"+a)
		if got := craneRun("digest", repo+":v1"); got != a {
			t.Errorf("digest of v1 after restore = %s, want %s", got, a)
		}
		if u := usageOf(t, srv.URL()); u.TrashManifests != 0 || u.TrashBytes != 0 {
			t.Errorf("berth usage after restore: %+v, want an empty bin", u)
		}
		if r := repoSummary(t, srv.URL(), name); r.ManifestCount != 1 || r.TagCount != 1 {
			t.Errorf("GET /api/v1/repositories after restore: %+v, want 1 manifest and 1 tag", r)
		}
	})

	t.Run("tag lock", func(t *testing.T) {
		berth("lock", "set", name+":v1", "--write=false")
		lockMsg := "tag " + name + ":v1 is locked (write-enabled=false)"
		refused("crane delete of a locked tag", craneErr("delete", repo+":v1"), lockMsg)
		refused("crane delete of a locked tag's manifest", craneErr("delete", repo+"@"+a), lockMsg)
		refused("crane push over a locked tag", craneErr("push", lb.Dir, repo+":v1"), lockMsg)
		if got := craneRun("digest", repo+":v1"); got != a {
			t.Fatalf("locked tag moved to %s, want %s", got, a)
		}
		// Re-pushing the same content moves nothing and is allowed.
		if err := craneErr("copy", repo+":v1", repo+":v1"); err != nil {
			t.Errorf("re-push of the same content to a locked tag: %v", err)
		}
		berth("lock", "clear", name+":v1")
		craneRun("delete", repo+":v1")
		if got := lines(craneRun("ls", repo)); len(got) != 0 {
			t.Errorf("tags after deleting the unlocked v1: %q", got)
		}
	})

	t.Run("immutable rule", func(t *testing.T) {
		out := berth("lock", "immutable", "--repos", "e2e/lifecycle/.*", "--tags", "release-.*")
		if !strings.Contains(out, "rule ") {
			t.Fatalf("berth lock immutable: %q", out)
		}
		craneRun("push", la.Dir, repo+":release-1")
		craneRun("push", lb.Dir, repo+":dev-1")
		refused("overwriting an immutable tag", craneErr("copy", repo+":dev-1", repo+":release-1"), "tag "+name+":release-1 is immutable")
		refused("deleting an immutable tag", craneErr("delete", repo+":release-1"), "is immutable")
		if got := craneRun("digest", repo+":release-1"); got != a {
			t.Errorf("immutable tag now points at %s, want %s", got, a)
		}
		// Tags outside the rule still move.
		craneRun("copy", repo+":release-1", repo+":dev-1")
		if got := craneRun("digest", repo+":dev-1"); got != a {
			t.Errorf("dev-1 after copy = %s, want %s (it was %s)", got, a, b)
		}
	})
}

type binUsage struct {
	TrashManifests int   `json:"trashManifests"`
	TrashBytes     int64 `json:"trashBytes"`
}

// usageOf runs berth usage --output json against the server at url.
func usageOf(t *testing.T, url string) binUsage {
	t.Helper()
	out := harness.Run(t, nil, berthBin, "usage", "--registry", url, "--output", "json")
	var u binUsage
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatalf("berth usage output %q: %v", out, err)
	}
	return u
}

type repoCounts struct {
	Name          string `json:"name"`
	TagCount      int    `json:"tagCount"`
	ManifestCount int    `json:"manifestCount"`
}

// repoSummary reads one repository's entry of GET /api/v1/repositories.
func repoSummary(t *testing.T, url, name string) repoCounts {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/repositories")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Repositories []repoCounts `json:"repositories"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET /api/v1/repositories: %s: %v", resp.Status, err)
	}
	for _, r := range body.Repositories {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("%s not in GET /api/v1/repositories: %+v", name, body.Repositories)
	return repoCounts{}
}
