package ui_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/ui"
)

// TestSignInAndGrants runs with authentication on: the sign-in flow, its
// cookie and CSRF checks, and pages that show only what the account may
// pull.
func TestSignInAndGrants(t *testing.T) {
	base := startServer(t,
		user{"root", "root-password-1", []metadata.Grant{{Pattern: "*", Role: "admin"}}},
		user{"alice", "alice-password-1", []metadata.Grant{{Pattern: "team/*", Role: "reader"}}})
	g := registry{t: t, base: base, user: "root", pass: "root-password-1"}
	app := g.image("team/app", "v1", "amd64")
	lib := g.image("other/lib", "1.0", "arm64") // a different config: another digest, same CVEs
	g.waitScan("team/app", app)
	g.waitScan("other/lib", lib)

	anon := newBrowser(t, base)
	r := anon.get("/ui/repositories?q=x")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/signin?next="+url.QueryEscape("/ui/repositories?q=x") {
		t.Fatalf("anonymous GET = %d %q, want a redirect to the sign-in page", r.status, r.header.Get("Location"))
	}
	checkPage(t, "redirect", r, http.StatusSeeOther)
	form := anon.get("/ui/signin?next=/ui/repositories")
	checkPage(t, "sign-in form", form, 200, `<label for="username">`, `<label for="password">`, `name="next" value="/ui/repositories"`)
	lacks(t, "sign-in form", form, "Sign in with SSO") // no OIDC configured
	pre := cookieOf(t, anon, "sign-in form")
	token := csrf(t, form.body)

	// The CSRF check: no token, a wrong token, and a token without the
	// session it belongs to are all refused before the password is read.
	checkPage(t, "no token", anon.post("/ui/signin", url.Values{"username": {"alice"}, "password": {"alice-password-1"}}), 403)
	checkPage(t, "wrong token", anon.post("/ui/signin", url.Values{"csrf_token": {token + "x"}, "username": {"alice"}, "password": {"alice-password-1"}}), 403)
	stranger := newBrowser(t, base)
	checkPage(t, "token of another session", stranger.post("/ui/signin", url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"alice-password-1"}}), 403)

	r = anon.post("/ui/signin", url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"wrong-password"}})
	checkPage(t, "wrong password", r, http.StatusUnauthorized, "Wrong user name or password.")

	r = anon.post("/ui/signin", url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"alice-password-1"}, "next": {"//evil.example/"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/" {
		t.Fatalf("sign-in = %d %q, want a redirect to /ui/ (an off-site next is dropped)", r.status, r.header.Get("Location"))
	}
	post := cookieOf(t, anon, "sign-in")
	if post.Value == pre.Value {
		t.Errorf("the session id did not change at sign-in")
	}
	alice := anon

	r = alice.get("/ui/")
	checkPage(t, "alice home", r, 200, "alice", "Sign out", "CVE-2099-0001")
	lacks(t, "alice home", r, `href="/ui/access"`, "Reclaimable by GC", "other/lib")
	r = alice.get("/ui/repositories")
	checkPage(t, "alice repositories", r, 200, "team/app", "1 repository")
	lacks(t, "alice repositories", r, "other/lib")
	checkPage(t, "alice other/lib", alice.get("/ui/repositories/other/lib"), 404)
	checkPage(t, "alice other/lib image", alice.get("/ui/repositories/other/lib/-/images/"+lib.String()), 404)
	checkPage(t, "alice other/lib SBOM", alice.get("/ui/repositories/other/lib/-/images/"+lib.String()+"/sbom?format=spdx"), 404)
	r = alice.get("/ui/repositories/team/app/-/images/" + app.String())
	checkPage(t, "alice image", r, 200, "DEBIAN-CVE-2099-0001", "none you can see")
	lacks(t, "alice image", r, "other/lib")

	r = alice.get("/ui/vulnerabilities/CVE-2099-0001")
	checkPage(t, "alice vulnerability", r, 200, "team/app")
	lacks(t, "alice vulnerability", r, "other/lib")

	root := signIn(t, base, "root", "root-password-1")
	r = root.get("/ui/")
	checkPage(t, "root home", r, 200, `href="/ui/access"`, "Reclaimable by GC")
	checkPage(t, "root repositories", root.get("/ui/repositories"), 200, "team/app", "other/lib", "2 repositories")
	checkPage(t, "root image", root.get("/ui/repositories/team/app/-/images/"+app.String()), 200,
		`href="/ui/repositories/other/lib/-/images/`+lib.String())

	// Sign-out is a POST with the token; a bare POST (a cross-site form)
	// is refused and leaves the session alone.
	page := alice.get("/ui/")
	checkPage(t, "sign-out without token", alice.post("/ui/signout", url.Values{}), 403)
	checkPage(t, "still signed in", alice.get("/ui/"), 200, "Sign out")
	r = alice.post("/ui/signout", url.Values{"csrf_token": {csrf(t, page.body)}})
	if r.status != http.StatusSeeOther || len(alice.setCookies) != 1 || alice.setCookies[0].MaxAge >= 0 {
		t.Fatalf("sign-out = %d, cookies %v, want a redirect clearing the cookie", r.status, alice.setCookies)
	}
	alice.cookies[ui.SessionCookie] = post // a stolen copy of the old cookie is dead too
	if r := alice.get("/ui/"); r.status != http.StatusSeeOther {
		t.Errorf("after sign-out GET /ui/ = %d, want a redirect to sign in", r.status)
	}
}

// cookieOf returns the session cookie the last response set, checking
// its attributes.
func cookieOf(t *testing.T, b *browser, what string) *http.Cookie {
	t.Helper()
	for _, c := range b.setCookies {
		if c.Name != ui.SessionCookie {
			continue
		}
		if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/ui" || c.MaxAge <= 0 || len(c.Value) < 40 {
			t.Errorf("%s: session cookie %s, want HttpOnly; Secure; SameSite=Lax; Path=/ui with a long random value", what, c)
		}
		return c
	}
	t.Fatalf("%s: no session cookie set (got %v)", what, b.setCookies)
	return nil
}
