package e2e

import (
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
		berth("trash", "restore", name+"@"+a)
		if got := craneRun("digest", repo+":v1"); got != a {
			t.Errorf("digest of v1 after restore = %s, want %s", got, a)
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
