package ui_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/server/servertest"
)

// critical and low are the test vulnerability database: zlib in Debian 12
// has a critical finding with a fix and a low one without.
const (
	critical = `{"schema_version":"1.6.0","id":"DEBIAN-CVE-2099-0001","modified":"2099-01-01T00:00:00Z",
"aliases":["CVE-2099-0001"],"summary":"zlib overflow","details":"A crafted stream overflows a buffer.",
"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
"references":[{"type":"WEB","url":"https://example.org/CVE-2099-0001"}],
"affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.3.dfsg-1"}]}]}]}`
	low = `{"schema_version":"1.6.0","id":"DEBIAN-CVE-2099-0002","modified":"2099-01-01T00:00:00Z",
"aliases":["CVE-2099-0002"],"summary":"zlib minor leak","database_specific":{"severity":"low"},
"affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`
	osRelease  = "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"
	dpkgStatus = "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\n"
)

type user struct {
	name, pass string
	grants     []metadata.Grant
}

// startServer starts a real berth serve with the test database and, when
// users are given, authentication on with those accounts.
func startServer(t *testing.T, users ...user) string {
	t.Helper()
	cfg := servertest.Config(t)
	db := t.TempDir()
	for name, body := range map[string]string{"critical.json": critical, "low.json": low} {
		if err := os.WriteFile(filepath.Join(db, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Scan.DB = config.List(db)
	if len(users) > 0 {
		cfg.Auth.Enabled = true
		s, err := sqlite.Open(context.Background(), cfg.MetadataPath(), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			hash, err := authn.HashPassword(u.pass)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateUser(context.Background(), &metadata.User{Name: u.name, PasswordHash: hash, Grants: u.grants}); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
	}
	return servertest.Start(t, cfg).URL()
}

// registry pushes through the OCI API, with Basic credentials if set.
type registry struct {
	t          *testing.T
	base       string
	user, pass string
}

func (g registry) do(method, path, ctype string, body []byte, want int) []byte {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, bytes.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if g.user != "" {
		req.SetBasicAuth(g.user, g.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		g.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

// blob uploads b to repo and returns its descriptor JSON.
func (g registry) blob(repo, mediaType string, b []byte) string {
	g.t.Helper()
	d := digest.FromBytes(b)
	g.do(http.MethodPost, fmt.Sprintf("/v2/%s/blobs/uploads/?digest=%s", repo, d), "application/octet-stream", b, http.StatusCreated)
	return fmt.Sprintf(`{"mediaType":%q,"digest":"%s","size":%d}`, mediaType, d, len(b))
}

func (g registry) manifest(repo, ref, mediaType string, body []byte) digest.Digest {
	g.t.Helper()
	g.do(http.MethodPut, fmt.Sprintf("/v2/%s/manifests/%s", repo, ref), mediaType, body, http.StatusCreated)
	return digest.FromBytes(body)
}

// image pushes a Debian image with zlib (so that the test database finds
// both advisories) for arch, tagged ref.
func (g registry) image(repo, ref, arch string) digest.Digest {
	g.t.Helper()
	layer := gzLayer(g.t, map[string]string{"etc/os-release": osRelease, "var/lib/dpkg/status": dpkgStatus})
	cfg := fmt.Appendf(nil, `{"architecture":%q,"os":"linux","created":"2026-01-02T03:04:05Z","config":{"Cmd":["/bin/app","--serve"],"User":"app"},"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"ADD"}]}`, arch)
	man := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}`,
		g.blob(repo, "application/vnd.oci.image.config.v1+json", cfg), g.blob(repo, "application/vnd.oci.image.layer.v1.tar+gzip", layer))
	return g.manifest(repo, ref, "application/vnd.oci.image.manifest.v1+json", man)
}

// index pushes an index of two platform images.
func (g registry) index(repo, tag string) (digest.Digest, []digest.Digest) {
	g.t.Helper()
	amd, arm := g.image(repo, "amd", "amd64"), g.image(repo, "arm", "arm64")
	size := func(d digest.Digest) int {
		return len(g.do(http.MethodGet, "/v2/"+repo+"/manifests/"+d.String(), "", nil, http.StatusOK))
	}
	idx := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
		{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"platform":{"os":"linux","architecture":"amd64"}},
		{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}`,
		amd, size(amd), arm, size(arm))
	return g.manifest(repo, tag, "application/vnd.oci.image.index.v1+json", idx), []digest.Digest{amd, arm}
}

// referrer attaches an SBOM-typed artifact to subject.
func (g registry) referrer(repo string, subject digest.Digest) digest.Digest {
	g.t.Helper()
	subj := g.do(http.MethodGet, "/v2/"+repo+"/manifests/"+subject.String(), "", nil, http.StatusOK)
	man := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json",
		"config":%s,"layers":[%s],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}}`,
		g.blob(repo, "application/vnd.oci.empty.v1+json", []byte("{}")), g.blob(repo, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`)),
		subject, len(subj))
	d := digest.FromBytes(man)
	return g.manifest(repo, d.String(), "application/vnd.oci.image.manifest.v1+json", man)
}

// waitScan polls the scan API until repo@d is scanned.
func (g registry) waitScan(repo string, d digest.Digest) {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r scanner.Report
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/repositories/%s/manifests/%s/scan", g.base, repo, d), nil)
		if g.user != "" {
			req.SetBasicAuth(g.user, g.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			g.t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && json.Unmarshal(b, &r) == nil && r.Status == metadata.ScanComplete {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("scan of %s@%s not complete: %d %s", repo, d, resp.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func gzLayer(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range []string{"etc/os-release", "var/lib/dpkg/status"} {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, files[n])
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// browser is a client that keeps cookies the way a browser on
// http://127.0.0.1 does (Go's cookie jar drops Secure cookies over plain
// HTTP; browsers treat loopback as a secure context) and never follows
// redirects, so tests see them.
type browser struct {
	t          *testing.T
	base       string
	cookies    map[string]*http.Cookie
	setCookies []*http.Cookie // of the last response
}

func newBrowser(t *testing.T, base string) *browser {
	return &browser{t: t, base: base, cookies: map[string]*http.Cookie{}}
}

type response struct {
	status int
	header http.Header
	body   string
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (b *browser) do(method, path string, form url.Values) response {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	b.setCookies = resp.Cookies()
	for _, c := range b.setCookies {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func (b *browser) get(path string) response { b.t.Helper(); return b.do(http.MethodGet, path, nil) }

func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	return b.do(http.MethodPost, path, form)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf is the token of the form in a page.
func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token in the page:\n%s", page)
	}
	return m[1]
}

// signIn signs in through the form and returns the signed-in browser.
func signIn(t *testing.T, base, name, pass string) *browser {
	t.Helper()
	b := newBrowser(t, base)
	form := b.get("/ui/signin")
	r := b.post("/ui/signin", url.Values{"csrf_token": {csrf(t, form.body)}, "username": {name}, "password": {pass}, "next": {"/ui/"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/" {
		t.Fatalf("sign-in as %s = %d %s", name, r.status, r.header.Get("Location"))
	}
	return b
}
