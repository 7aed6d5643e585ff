package server

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/internal/access/oidc"
	"github.com/berth-registry/berth/internal/metadata"
)

// dexBin finds a Dex binary: $BERTH_DEX, the one `make test` builds in
// the background ($BERTH_DEX_PENDING, scripts/build-dex.sh; waited for),
// .tools/bin/dex, or PATH.
func dexBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BERTH_DEX"); p != "" {
		return p
	}
	if p := os.Getenv("BERTH_DEX_PENDING"); p != "" {
		if ok := waitDex(t, p); ok {
			return p
		}
	}
	if p, err := filepath.Abs("../../.tools/bin/dex"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("dex"); err == nil {
		return p
	}
	t.Skip("dex not found ($BERTH_DEX, .tools/bin/dex or PATH); see docs/testing.md for building it")
	return ""
}

// waitDex waits for scripts/build-dex.sh's status of out: true when it
// built Dex, false when no build was started; a failed build fails the
// test under CI=true and skips it otherwise.
func waitDex(t *testing.T, out string) bool {
	t.Helper()
	deadline := time.Now().Add(20 * time.Minute)
	for {
		if b, err := os.ReadFile(out + ".status"); err == nil {
			status := strings.TrimSpace(string(b))
			if status == "ok" {
				return true
			}
			log, _ := os.ReadFile(out + ".log")
			if os.Getenv("CI") == "true" {
				t.Fatalf("building Dex: %s\n%.2000s", status, log)
			}
			t.Skipf("building Dex: %s", status)
		}
		if !dexBuilding(out + ".lock") {
			return false
		}
		if time.Now().After(deadline) {
			t.Fatalf("Dex was not built within 20 minutes (%s)", out)
		}
		time.Sleep(2 * time.Second)
	}
}

// dexBuilding reports whether scripts/build-dex.sh holds its lock.
func dexBuilding(lock string) bool {
	f, err := os.Open(lock)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDex runs Dex on 127.0.0.1 with in-memory storage, one static
// user and one public client with the given redirect URIs (this Dex
// accepts unregistered loopback redirects only on "localhost").
func startDex(t *testing.T, redirects ...string) (issuer string) {
	t.Helper()
	bin := dexBin(t)
	port := freePort(t)
	issuer = fmt.Sprintf("http://127.0.0.1:%d/dex", port)
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-password"), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`issuer: %s
storage: {type: memory}
web: {http: 127.0.0.1:%d}
logger: {level: warn}
oauth2: {skipApprovalScreen: true, responseTypes: [code]}
enablePasswordDB: true
staticClients:
- id: berth
  name: Berth
  public: true
  redirectURIs: [%s]
staticPasswords:
- email: alice@example.com
  hash: %q
  username: alice
  userID: 08a8684b-db88-4b73-90a9-3cd1661f5466
`, issuer, port, strings.Join(redirects, ", "), hash)
	path := filepath.Join(dir, "dex.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	log, _ := os.Create(filepath.Join(dir, "dex.log"))
	cmd := exec.Command(bin, "serve", path)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("dex log:\n%s", b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(issuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return issuer
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dex did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// browserLogin plays the user's browser: it opens authURL, fills Dex's
// password form and follows the redirects back to the relying party. It
// runs in goroutines too, so it reports errors rather than failing t.
func browserLogin(authURL, email, password string) (*http.Response, string, error) {
	jar, _ := cookiejar.New(nil)
	return browserLoginWith(&http.Client{Jar: jar, Timeout: 30 * time.Second}, authURL, email, password)
}

// browserLoginWith is browserLogin with the browser's own client (its
// cookie jar holding the relying party's cookies).
func browserLoginWith(c *http.Client, authURL, email, password string) (*http.Response, string, error) {
	resp, err := c.Get(authURL)
	if err != nil {
		return nil, "", err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// With one connector Dex shows the password form at once; the form
	// posts to the page's own URL.
	if !strings.Contains(string(body), `name="password"`) {
		return resp, string(body), fmt.Errorf("no login form at %s: %.500s", resp.Request.URL, body)
	}
	resp, err = c.PostForm(resp.Request.URL.String(), url.Values{"login": {email}, "password": {password}})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

func TestOIDCWithDex(t *testing.T) {
	berthPort, cliPort := freePort(t), freePort(t)
	redirect := fmt.Sprintf("http://127.0.0.1:%d/auth/oidc/callback", berthPort)
	issuer := startDex(t, redirect, fmt.Sprintf("http://127.0.0.1:%d/callback", cliPort))
	cfg := authConfig(t)
	cfg.Listen = fmt.Sprintf("127.0.0.1:%d", berthPort)
	cfg.Auth.AnonymousRead = "" // every UI page needs a session
	cfg.Auth.OIDC.Issuer, cfg.Auth.OIDC.ClientID, cfg.Auth.OIDC.RedirectURL = issuer, "berth", redirect
	s, logs, _ := start(t, cfg)
	base := s.URL()
	addUser(t, s, "alice@example.com", "unused-password", false, metadata.Grant{Pattern: "team/*", Role: "writer"})
	ctx := context.Background()

	t.Run("cli", func(t *testing.T) {
		p, err := oidc.Discover(ctx, oidc.Config{Issuer: issuer, ClientID: "berth"})
		if err != nil {
			t.Fatal(err)
		}
		lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		id, raw, err := oidc.LoopbackLogin(lctx, p, fmt.Sprintf("127.0.0.1:%d", cliPort), func(u string) {
			go func() {
				if resp, body, err := browserLogin(u, "alice@example.com", "alice-password"); err != nil || resp.StatusCode != 200 {
					t.Errorf("loopback callback: %v %.300s", err, body)
					cancel()
				}
			}()
		})
		if err != nil || id.Email != "alice@example.com" || !id.EmailVerified {
			t.Fatalf("loopback login: %+v, %v", id, err)
		}
		code, out := postForm(t, base, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {raw}, "subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}, "access_type": {"offline"},
			"scope": {"repository:team/app:pull,push"}})
		refresh, _ := out["refresh_token"].(string)
		if code != 200 || refresh == "" || out["scope"] != "repository:team/app:pull,push" {
			t.Fatalf("token exchange: %d %v", code, out)
		}
		if code, _ := postForm(t, base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); code != 200 {
			t.Errorf("refresh after OIDC login: %d", code)
		}
		// A forged or tampered ID token is refused.
		bad := raw[:len(raw)-4] + "AAAA"
		if code, _ := postForm(t, base, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {bad}, "subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}}); code != 401 {
			t.Errorf("tampered ID token: %d, want 401", code)
		}
		if strings.Contains(logs.String(), raw) || strings.Contains(logs.String(), refresh) {
			t.Error("a token reached the log")
		}
	})

	// The web UI's sign-in through Dex, as a browser: a page that needs a
	// session sends to the sign-in page, whose SSO link goes through
	// Berth's /auth/oidc/login to Dex's password form; the callback starts
	// a UI session and returns to the page asked for first.
	t.Run("browser", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		var callback string
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == oidc.CallbackPath {
				callback = req.URL.String()
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		}}
		resp, err := c.Get(base + "/ui/repositories?q=team")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		link := regexp.MustCompile(`<a href="([^"]+)">Sign in with SSO</a>`).FindSubmatch(page)
		if resp.Request.URL.Path != "/ui/signin" || link == nil {
			t.Fatalf("GET /ui/repositories without a session ended at %s without an SSO link:\n%.1000s", resp.Request.URL, page)
		}
		login := html.UnescapeString(string(link[1]))
		if !strings.HasPrefix(login, oidc.LoginPath+"?next=") {
			t.Errorf("SSO link %q", login)
		}
		resp, body, err := browserLoginWith(c, base+login, "alice@example.com", "alice-password")
		if err != nil || resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/repositories" || resp.Request.URL.Query().Get("q") != "team" {
			t.Fatalf("SSO sign-in ended at %v: %v %d %.500q", resp.Request.URL, err, resp.StatusCode, body)
		}
		if !strings.Contains(body, "alice@example.com") || !strings.Contains(body, "Sign out") {
			t.Errorf("the repositories page after SSO is not alice's:\n%.2000s", body)
		}
		if !strings.Contains(logs.String(), "oidc login") {
			t.Error("no oidc login in the log")
		}
		// A callback replayed without the state cookie is refused.
		if callback == "" {
			t.Fatal("the sign-in did not pass through the callback")
		}
		r, err := http.Get(callback)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("replayed callback: %d, want 400", r.StatusCode)
		}
		// A wrong password never reaches the callback.
		if resp, _, err := browserLogin(base+oidc.LoginPath, "alice@example.com", "wrong"); err != nil || strings.HasPrefix(resp.Request.URL.Path, oidc.CallbackPath) {
			t.Errorf("a wrong password at Dex: %v, or it reached the callback", err)
		}
	})
}
