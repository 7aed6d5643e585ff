package ui_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// partial posts form as app.js does, asking for the preview fragment.
func partial(t *testing.T, b *browser, path string, form url.Values) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Berth-Partial", "1")
	req.Header.Set("Origin", b.base)
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

// form is vals as url.Values with the page's CSRF token.
func form(t *testing.T, page response, kv ...string) url.Values {
	t.Helper()
	v := url.Values{"csrf_token": {csrf(t, page.body)}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// TestPoliciesPage drives the Policies page as an admin: a retention
// preview (whole page and fragment), saving, editing and deleting a
// policy, locks, immutability rules, gates and CVE exceptions; a
// non-admin and a forged form are refused.
func TestPoliciesPage(t *testing.T) {
	base := startServer(t,
		user{"root", "root-password-1", []metadata.Grant{{Pattern: "*", Role: "admin"}}},
		user{"alice", "alice-password-1", []metadata.Grant{{Pattern: "team/*", Role: "reader"}}})
	g := registry{t: t, base: base, user: "root", pass: "root-password-1"}
	g.image("team/app", "v1", "amd64")
	g.image("team/app", "v2", "arm64")
	root := signIn(t, base, "root", "root-password-1")

	pg := root.get("/ui/policies")
	checkPage(t, "policies", pg, 200, "Retention policies", "No retention policies yet.", "New policy", "Locks", "Immutability rules", "Scan gates", "CVE exceptions")
	policy := []string{"name", "cleanup", "repos", "team/.*", "keep", "1", "older_than", "0d", "schedule", "@daily", "enabled", "1"}

	checkPage(t, "preview without JS", root.post("/ui/policies/preview", form(t, pg, policy...)), 200,
		"<strong>1</strong> tags", "deleted: ", "team/app", `value="cleanup"`, "New policy")
	r := partial(t, root, "/ui/policies/preview", form(t, pg, policy...))
	checkPage(t, "preview fragment", r, 200, "<strong>1</strong> tags", "team/app")
	lacks(t, "preview fragment", r, "<html", "Retention policies")
	checkPage(t, "bad preview", partial(t, root, "/ui/policies/preview", form(t, pg, "repos", ".*", "older_than", "ten days")), 200, "older than")
	checkPage(t, "preview without a token", root.post("/ui/policies/preview", url.Values{"name": {"x"}}), 403)

	checkPage(t, "save", root.post("/ui/policies", form(t, pg, policy...)), 200, "Policy cleanup saved.", "Edit policy cleanup", "@daily", "repositories team/.*; keep 1; older than 0d")
	checkPage(t, "save invalid", root.post("/ui/policies", form(t, pg, "name", "bad name!", "repos", ".*")), 400, "policy name")
	checkPage(t, "edit", root.get("/ui/policies?edit=cleanup"), 200, `value="team/.*"`, "readonly")
	checkPage(t, "delete", root.post("/ui/policies/delete", form(t, pg, "name", "cleanup")), 200, "Policy cleanup deleted.", "No retention policies yet.")

	checkPage(t, "lock", root.post("/ui/locks", form(t, pg, "repository", "team/app", "tag", "v1", "no_delete", "1")), 200, "Locked team/app:v1.", ">delete <")
	checkPage(t, "lock nothing", root.post("/ui/locks", form(t, pg, "repository", "team/app", "tag", "v1")), 400, "at least one")
	checkPage(t, "unlock", root.post("/ui/locks/delete", form(t, pg, "repository", "team/app", "tag", "v1")), 200, "Unlocked team/app:v1.", "Nothing is locked.")

	r = root.post("/ui/immutable-rules", form(t, pg, "repos", "team/.*", "tags", "v[0-9]+"))
	checkPage(t, "rule", r, 200, "Immutability rule 1 added.", "v[0-9]+")
	checkPage(t, "bad rule", root.post("/ui/immutable-rules", form(t, pg, "repos", "(", "tags", "x")), 400, "pattern")
	checkPage(t, "rule delete", root.post("/ui/immutable-rules/delete", form(t, pg, "id", "1")), 200, "Immutability rule 1 removed.", "No immutability rules.")

	checkPage(t, "gate", root.post("/ui/gates", form(t, pg, "pattern", "team/**", "severity", "CRITICAL", "unscanned", "allow")), 200, "Gate team/** saved.", "sev-critical")
	checkPage(t, "exception without reason", root.post("/ui/gates/exceptions", form(t, pg, "pattern", "team/**", "id", "CVE-2099-0001")), 400, "reason: required")
	r = root.post("/ui/gates/exceptions", form(t, pg, "pattern", "team/**", "id", "CVE-2099-0001", "reason", "fixed upstream next week", "expires", "2099-12-31"))
	checkPage(t, "exception", r, 200, "Exception for CVE-2099-0001 added.", "fixed upstream next week", "2099-12-31 23:59 UTC")
	checkPage(t, "exception delete", root.post("/ui/gates/exceptions/delete", form(t, pg, "pattern", "team/**", "id", "CVE-2099-0001")), 200, "No exceptions.")
	checkPage(t, "gate delete", root.post("/ui/gates/delete", form(t, pg, "pattern", "team/**")), 200, "No gates")

	alice := signIn(t, base, "alice", "alice-password-1")
	checkPage(t, "alice policies", alice.get("/ui/policies"), 403, "for administrators")
	home := alice.get("/ui/")
	lacks(t, "alice nav", home, `href="/ui/policies"`)
	checkPage(t, "alice lock", alice.post("/ui/locks", form(t, home, "repository", "team/app", "tag", "v1", "no_delete", "1")), 403)

	// The changes were audited with the admin as the actor, like the API's.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = root.get("/ui/access?actor=root&action=retention_policy.set")
		if strings.Contains(r.body, "retention_policy.set") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkPage(t, "audit", r, 200, "retention_policy.set")
}

// TestUsagePage checks the usage page: totals, the chart drawn from the
// sample recorded at start, and per-repository rows within the grants.
func TestUsagePage(t *testing.T) {
	base := startServer(t,
		user{"root", "root-password-1", []metadata.Grant{{Pattern: "*", Role: "admin"}}},
		user{"alice", "alice-password-1", []metadata.Grant{{Pattern: "team/*", Role: "reader"}}})
	g := registry{t: t, base: base, user: "root", pass: "root-password-1"}
	g.image("team/app", "v1", "amd64")
	g.image("other/lib", "1.0", "arm64")
	root := signIn(t, base, "root", "root-password-1")
	var r response
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = root.get("/ui/usage")
		if strings.Contains(r.body, "other/lib") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkPage(t, "usage", r, 200, "Stored", "Reclaimable by GC", "Free disk", "Stored bytes over time", "<svg", "<polyline", `href="/ui/repositories/team/app"`, "other/lib", "Unique")
	if !regexp.MustCompile(`points="[0-9.]+,[0-9.]+`).MatchString(r.body) {
		t.Errorf("the chart has no points")
	}
	alice := signIn(t, base, "alice", "alice-password-1")
	r = alice.get("/ui/usage")
	checkPage(t, "alice usage", r, 200, "team/app")
	lacks(t, "alice usage", r, "other/lib", "Reclaimable by GC", "<svg")
}
