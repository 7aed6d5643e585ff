package ui_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/ui"
)

// checkPage asserts what every UI page must be: the security headers, no
// inline script or style (the CSP would block them anyway) and no
// html/template escaping failure.
func checkPage(t *testing.T, what string, r response, status int, contains ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d\n%s", what, r.status, status, r.body)
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": ui.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s: %s = %q, want %q", what, h, got, want)
		}
	}
	if strings.Contains(r.body, "ZgotmplZ") || inlineScript.MatchString(r.body) || strings.Contains(r.body, " style=") || strings.Contains(r.body, "<style") {
		t.Errorf("%s: inline script/style or an escaping failure in the page", what)
	}
	text := html.UnescapeString(r.body) // html/template writes + as &#43;
	for _, c := range contains {
		if !strings.Contains(text, c) {
			t.Errorf("%s: page lacks %q", what, c)
			if testing.Verbose() {
				t.Log(r.body)
			}
		}
	}
}

var inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`)

func lacks(t *testing.T, what string, r response, absent ...string) {
	t.Helper()
	for _, a := range absent {
		if strings.Contains(html.UnescapeString(r.body), a) {
			t.Errorf("%s: page shows %q", what, a)
		}
	}
}

// TestPagesAuthOff browses a registry without authentication, holding
// images pushed and scanned for real: every page, filter and download.
func TestPagesAuthOff(t *testing.T) {
	base := startServer(t)
	g := registry{t: t, base: base}
	v1 := g.image("team/app", "v1", "amd64")
	idx, children := g.index("team/app", "multi")
	ref := g.referrer("team/app", v1)
	lib := g.image("other/lib", "1.0", "amd64")
	g.waitScan("other/lib", lib)
	for _, d := range append(children, v1) {
		g.waitScan("team/app", d)
	}
	b := newBrowser(t, base)

	r := b.get("/")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/" {
		t.Fatalf("GET / = %d %q, want a redirect to /ui/", r.status, r.header.Get("Location"))
	}
	r = b.get("/ui/")
	checkPage(t, "home", r, 200, "Registry overview", `<a class="skip" href="#main">`, "CVE-2099-0001",
		"Reclaimable by GC", `href="/ui/access"`, "manifest.pushed",
		// DEBIAN-CVE-2099-0001 and its alias CVE-2099-0001 are one row.
		`<a href="/ui/vulnerabilities/CVE-2099-0001"><code>CVE-2099-0001</code></a> <span class="muted">also <code>DEBIAN-CVE-2099-0001</code></span>`)
	lacks(t, "home", r, `<a href="/ui/vulnerabilities/DEBIAN-CVE-2099-0001">`)

	checkPage(t, "repositories", b.get("/ui/repositories"), 200, `href="/ui/repositories/team/app"`, `href="/ui/repositories/other/lib"`,
		"2 repositories", `<th scope="col" aria-sort="ascending">`)
	r = b.get("/ui/repositories?q=lib")
	checkPage(t, "search", r, 200, "other/lib", "1 repository")
	lacks(t, "search", r, "team/app")
	// team/app has 4 tags (v1, multi, amd, arm), other/lib 1: by tag count
	// descending team/app comes first, ascending last.
	for _, tc := range []struct {
		order string
		first string
	}{{"desc", "team/app"}, {"asc", "other/lib"}} {
		r = b.get("/ui/repositories?sort=tags&order=" + tc.order)
		checkPage(t, "sorted "+tc.order, r, 200)
		if i, j := strings.Index(r.body, ">team/app<"), strings.Index(r.body, ">other/lib<"); (i < j) != (tc.first == "team/app") {
			t.Errorf("sort=tags&order=%s: team/app at %d, other/lib at %d", tc.order, i, j)
		}
	}
	r = b.get("/ui/repositories?sort=severity&page=2")
	checkPage(t, "page 2", r, 200, "Page 2 of 1", "No repositories")

	r = b.get("/ui/repositories/team/app")
	checkPage(t, "repository", r, 200, "<h1>team/app</h1>", ">v1<", ">multi<", "linux/amd64", "linux/arm64/v8", "<details>",
		"docker pull "+strings.TrimPrefix(base, "http://")+"/team/app:", `data-copy="pull-latest"`, "application/spdx+json",
		ref.String()[:19], `sev sev-critical`, "Not locked.")

	img := "/ui/repositories/team/app/-/images/" + v1.String()
	r = b.get(img)
	checkPage(t, "image", r, 200, "linux/amd64", "/bin/app --serve", "application/vnd.oci.image.layer.v1.tar+gzip",
		"DEBIAN-CVE-2099-0001", "CVE-2099-0001", "9.8", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "1:1.2.13.dfsg-1", "1:1.3.dfsg-1",
		"A crafted stream overflows a buffer.", "https://example.org/CVE-2099-0001", "DEBIAN-CVE-2099-0002", "Showing 2 of 2 findings",
		"/sbom?format=spdx", "/sbom?format=cyclonedx", `href="/ui/repositories/other/lib/-/images/`+lib.String(), "Scan <strong>complete</strong>")
	lacks(t, "image without a gate", r, "Pull gate")

	// With a gate on team/**, the page shows the decision a pull would get
	// and the finding that refuses it; other repositories show none.
	g.do(http.MethodPut, "/api/v1/gates", "application/json", []byte(`{"pattern":"team/**","severity":"CRITICAL","unscanned":"allow"}`), http.StatusOK)
	r = b.get(img)
	checkPage(t, "image gated", r, 200, "Pull gate", "<strong>denied</strong>", "gate <code>team/**</code>",
		`<a href="/ui/vulnerabilities/DEBIAN-CVE-2099-0001" class="mono">DEBIAN-CVE-2099-0001</a> in zlib1g`, "berth gate allow ID --repo team/app")
	lacks(t, "image gated", r, "DEBIAN-CVE-2099-0002</a> in")
	lacks(t, "other image", b.get("/ui/repositories/other/lib/-/images/"+lib.String()), "Pull gate")
	g.do(http.MethodPost, "/api/v1/gates/exceptions", "application/json",
		[]byte(`{"pattern":"team/**","id":"CVE-2099-0001","reason":"patched in the base image"}`), http.StatusCreated)
	checkPage(t, "image excepted", b.get(img), 200, "<strong>allowed by exception</strong>", "Let through by exceptions",
		"DEBIAN-CVE-2099-0001</span> in zlib1g — patched in the base image")
	g.do(http.MethodDelete, "/api/v1/gates/exceptions?pattern=team/**&id=CVE-2099-0001", "", nil, http.StatusNoContent)
	g.do(http.MethodDelete, "/api/v1/gates?pattern=team/**", "", nil, http.StatusNoContent)
	r = b.get(img + "?severity=LOW")
	checkPage(t, "filter severity", r, 200, "DEBIAN-CVE-2099-0002", "Showing 1 of 2")
	lacks(t, "filter severity", r, "DEBIAN-CVE-2099-0001")
	r = b.get(img + "?fixable=1")
	checkPage(t, "filter fixable", r, 200, "DEBIAN-CVE-2099-0001", "Showing 1 of 2")
	lacks(t, "filter fixable", r, "DEBIAN-CVE-2099-0002")
	r = b.get(img + "?id=cve-2099-0002&package=zlib")
	checkPage(t, "filter id", r, 200, "DEBIAN-CVE-2099-0002", "Showing 1 of 2")

	for format, key := range map[string]string{"spdx": "spdxVersion", "cyclonedx": "bomFormat"} {
		r = b.get(img + "/sbom?format=" + format)
		var doc map[string]any
		if r.status != 200 || json.Unmarshal([]byte(r.body), &doc) != nil || doc[key] == nil ||
			!strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment;") || r.header.Get("Content-Security-Policy") == "" {
			t.Errorf("SBOM %s = %d %v %.200s", format, r.status, r.header, r.body)
		}
	}
	checkPage(t, "bad SBOM format", b.get(img+"/sbom?format=sarif"), 400)

	r = b.get("/ui/vulnerabilities/CVE-2099-0001")
	checkPage(t, "vulnerability", r, 200, "Images affected by CVE-2099-0001", `href="/ui/repositories/other/lib/-/images/`+lib.String(),
		`href="/ui/repositories/team/app/-/images/`+v1.String(), "amd, v1")
	checkPage(t, "index", b.get("/ui/repositories/team/app/-/images/"+idx.String()), 200, "Platforms", "linux/arm64/v8", children[1].String()[:19])
	checkPage(t, "referrer", b.get("/ui/repositories/team/app/-/images/"+ref.String()), 200, "application/spdx+json", "refers to")

	for _, p := range []string{"/ui/repositories/nope", "/ui/repositories/team/app/-/images/sha256:" + strings.Repeat("0", 64),
		"/ui/repositories/team/app/-/images/notadigest", "/ui/nope"} {
		checkPage(t, p, b.get(p), 404, "404 Not Found")
	}
	for _, p := range []string{"/ui/policies", "/ui/usage", "/ui/access"} {
		checkPage(t, p, b.get(p), 200, `aria-current="page"`)
	}
	r = b.get("/ui/static/style.css")
	checkPage(t, "css", r, 200, "prefers-color-scheme: dark", ":focus-visible")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("style.css Content-Type = %q", ct)
	}
	checkPage(t, "js", b.get("/ui/static/app.js"), 200, "localStorage")
	// With authentication off there is nothing to sign in to, but a POST
	// still needs its token.
	checkPage(t, "signin off", b.get("/ui/signin"), 200, "Authentication is off")
	checkPage(t, "POST without token", b.post("/ui/signout", url.Values{}), 403)
	if r := newBrowser(t, base).post("/ui/signout", url.Values{"csrf_token": {"x"}}); r.status != 403 {
		t.Errorf("POST without a session = %d, want 403", r.status)
	}
	// Pages give a session even without authentication, so that forms
	// carry a token; the token works.
	fresh := newBrowser(t, base)
	page := fresh.get("/ui/repositories")
	cookieOf(t, fresh, "page without auth")
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no csrf-token meta in the page")
	}
	if r := fresh.post("/ui/signout", url.Values{"csrf_token": {m[1]}}); r.status != http.StatusSeeOther {
		t.Errorf("POST with the page's token = %d, want 303", r.status)
	}
}
