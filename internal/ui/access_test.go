package ui_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// registryStatus is the status of an authenticated registry request.
func registryStatus(t *testing.T, base, path, user, pass string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var secretRE = regexp.MustCompile(`<code id="token-secret">([^<]+)</code>`)
var loginRE = regexp.MustCompile(`<code id="token-login">([^<]+)</code>`)

// TestAccessPage drives the Access page as an admin: accounts, a scoped
// token that logs in to the registry until it is revoked, network rules
// with the lock-out check, the audit log's filters; a non-admin and a
// forged form are refused.
func TestAccessPage(t *testing.T) {
	base := startServer(t,
		user{"root", "root-password-1", []metadata.Grant{{Pattern: "*", Role: "admin"}}},
		user{"alice", "alice-password-1", []metadata.Grant{{Pattern: "team/*", Role: "reader"}}})
	g := registry{t: t, base: base, user: "root", pass: "root-password-1"}
	g.image("team/app", "v1", "amd64")
	root := signIn(t, base, "root", "root-password-1")

	pg := root.get("/ui/access")
	checkPage(t, "access", pg, 200, "Users", "alice", "Scoped tokens", "No tokens.", "Network rules", "From the configuration file.", "Webhooks", "Audit log", "manifest.pushed")
	checkPage(t, "forged", root.post("/ui/access/tokens", url.Values{"name": {"x"}, "grants": {"team/*=pull"}}), 403)

	// Accounts: a generated password shown once works at sign-in; a
	// disabled account cannot sign in.
	r := root.post("/ui/access/users", form(t, pg, "name", "bob", "grants", "team/*=reader"))
	checkPage(t, "add user", r, 200, "Account bob created.", "team/*=reader")
	m := regexp.MustCompile(`<code id="user-secret">([^<]+)</code>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("no generated password on the page")
	}
	signIn(t, base, "bob", m[1])
	checkPage(t, "add user twice", root.post("/ui/access/users", form(t, pg, "name", "bob")), 400)
	checkPage(t, "bad grant", root.post("/ui/access/users", form(t, pg, "name", "carol", "grants", "team/*=owner")), 400, "unknown role")
	checkPage(t, "disable user", root.post("/ui/access/users/disable", form(t, pg, "name", "bob", "disable", "1")), 200, "Account bob disabled.")
	if s := registryStatus(t, base, "/v2/team/app/manifests/v1", "bob", m[1]); s != http.StatusUnauthorized {
		t.Errorf("disabled bob pulls: %d", s)
	}
	checkPage(t, "disable self", root.post("/ui/access/users/disable", form(t, pg, "name", "root", "disable", "1")), 400, "your own account")

	// A token: its secret once, a registry login with it, then revoked.
	r = root.post("/ui/access/tokens", form(t, pg, "name", "ci", "grants", "team/*=pull"))
	checkPage(t, "create token", r, 200, "Token ci created.", "it is not shown again", "team/*=pull")
	sec, login := secretRE.FindStringSubmatch(r.body), loginRE.FindStringSubmatch(r.body)
	if sec == nil || login == nil {
		t.Fatal("no token secret or login on the page")
	}
	if s := registryStatus(t, base, "/v2/team/app/manifests/v1", login[1], sec[1]); s != http.StatusOK {
		t.Fatalf("pull with the new token: %d", s)
	}
	r = root.get("/ui/access")
	lacks(t, "access after create", r, sec[1])
	checkPage(t, "token listed", r, 200, login[1])
	checkPage(t, "bad token grant", root.post("/ui/access/tokens", form(t, pg, "name", "bad", "grants", "team/*=fly")), 400)
	checkPage(t, "revoke", root.post("/ui/access/tokens/change", form(t, pg, "name", "ci", "action", "delete")), 200, "Token ci revoked.", "No tokens.")
	if s := registryStatus(t, base, "/v2/team/app/manifests/v1", login[1], sec[1]); s != http.StatusUnauthorized {
		t.Errorf("pull with the revoked token: %d, want 401", s)
	}

	// Network rules: ones that would lock the admin out are refused.
	checkPage(t, "lockout", root.post("/ui/access/network-rules", form(t, pg, "default_action", "deny", "allow", "10.0.0.0/8")), 400, "lock you out")
	checkPage(t, "bad rule", root.post("/ui/access/network-rules", form(t, pg, "default_action", "allow", "deny", "nonsense")), 400)
	r = root.post("/ui/access/network-rules", form(t, pg, "default_action", "deny", "allow", "127.0.0.0/8\n10.0.0.0/8"))
	checkPage(t, "rules", r, 200, "Network rules updated.", "by root", "127.0.0.0/8\n10.0.0.0/8")
	checkPage(t, "clear rules", root.post("/ui/access/network-rules", form(t, pg, "clear", "1")), 200, "From the configuration file.")

	// The audit log: every change above, with its actor, filtered.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = root.get("/ui/access?actor=root&action=token.delete&since=1h")
		if strings.Contains(r.body, ">token.delete<") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkPage(t, "audit filtered", r, 200, ">token.delete<", `value="token.delete"`)
	lacks(t, "audit filtered", r, ">manifest.pushed<")
	for _, action := range []string{"user.create", "user.disable", "token.create"} {
		checkPage(t, "audit "+action, root.get("/ui/access?action="+action), 200, ">"+action+"<")
	}
	checkPage(t, "audit bad since", root.get("/ui/access?since=yesterday"), 200, "since: want a duration")

	alice := signIn(t, base, "alice", "alice-password-1")
	checkPage(t, "alice access", alice.get("/ui/access"), 403)
	home := alice.get("/ui/")
	lacks(t, "alice nav", home, `href="/ui/access"`)
	checkPage(t, "alice creates a token", alice.post("/ui/access/tokens", form(t, home, "name", "x", "grants", "team/*=pull")), 403)
}
