package registry

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// testImage pushes a config and a layer to repo and returns an OCI image
// manifest referencing them, with extra JSON fields spliced in.
func (e *testEnv) testImage(repo, extra string) []byte {
	e.t.Helper()
	cfg := e.pushBlob(repo, []byte(`{"architecture":"amd64","os":"linux"}`))
	layer := e.pushBlob(repo, []byte("layer "+repo+extra))
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cfg.String() + `","size":37},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + layer.String() + `","size":1}]` + extra + `}`)
}

func TestManifestPushPull(t *testing.T) {
	env := newEnv(t, Options{})
	body := env.testImage("app", "")
	d := digest.FromBytes(body)
	put := env.pushManifest("app", "v1", oci.MediaTypeImageManifest, body)
	if put.header.Get("Location") != "/v2/app/manifests/"+d.String() || put.header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("PUT headers %v", put.header)
	}
	for _, ref := range []string{"v1", d.String()} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			t.Run(method+" "+ref, func(t *testing.T) {
				r := env.do(method, "/v2/app/manifests/"+ref, nil, "Accept", oci.MediaTypeImageManifest)
				if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				if r.header.Get("Content-Type") != oci.MediaTypeImageManifest || r.header.Get("Docker-Content-Digest") != d.String() ||
					r.header.Get("Content-Length") != itoa(len(body)) || r.header.Get("ETag") != `"`+d.String()+`"` {
					t.Fatalf("headers %v", r.header)
				}
				want := body
				if method == http.MethodHead {
					want = nil
				}
				if !bytes.Equal(r.body, want) {
					t.Fatalf("body %q", r.body)
				}
			})
		}
	}
	t.Run("If-None-Match", func(t *testing.T) {
		r := env.do(http.MethodGet, "/v2/app/manifests/v1", nil, "If-None-Match", `"`+d.String()+`"`)
		if r.status != http.StatusNotModified || len(r.body) != 0 {
			t.Fatalf("status %d, %d bytes", r.status, len(r.body))
		}
	})
	t.Run("sha512 reference", func(t *testing.T) {
		d512 := digest.SHA512.FromBytes(body)
		r := env.pushManifest("app", d512.String(), oci.MediaTypeImageManifest, body)
		if r.header.Get("Docker-Content-Digest") != d512.String() {
			t.Fatalf("digest header %q", r.header.Get("Docker-Content-Digest"))
		}
		if g := env.do(http.MethodGet, "/v2/app/manifests/"+d512.String(), nil); g.status != 200 || !bytes.Equal(g.body, body) {
			t.Fatalf("GET by sha512: status %d", g.status)
		}
	})
	t.Run("tag parameters", func(t *testing.T) {
		r := env.do(http.MethodPut, "/v2/app/manifests/"+d.String()+"?tag=a&tag=b", body, "Content-Type", oci.MediaTypeImageManifest)
		if r.status != http.StatusCreated || r.header.Get("OCI-Tag") != "a, b" {
			t.Fatalf("status %d OCI-Tag %q", r.status, r.header.Get("OCI-Tag"))
		}
		if g := env.do(http.MethodHead, "/v2/app/manifests/b", nil); g.status != 200 {
			t.Fatalf("HEAD tag b: status %d", g.status)
		}
	})
	t.Run("delete tag keeps manifest", func(t *testing.T) {
		if r := env.do(http.MethodDelete, "/v2/app/manifests/v1", nil); r.status != http.StatusAccepted {
			t.Fatalf("DELETE tag: status %d %s", r.status, r.body)
		}
		if r := env.do(http.MethodHead, "/v2/app/manifests/v1", nil); r.status != http.StatusNotFound {
			t.Fatalf("HEAD deleted tag: status %d", r.status)
		}
		if r := env.do(http.MethodHead, "/v2/app/manifests/"+d.String(), nil); r.status != http.StatusOK {
			t.Fatalf("HEAD by digest after tag delete: status %d", r.status)
		}
	})
	t.Run("delete by digest", func(t *testing.T) {
		if r := env.do(http.MethodDelete, "/v2/app/manifests/"+d.String(), nil); r.status != http.StatusAccepted {
			t.Fatalf("DELETE: status %d %s", r.status, r.body)
		}
		for _, ref := range []string{d.String(), "a"} {
			if r := env.do(http.MethodGet, "/v2/app/manifests/"+ref, nil); r.status != http.StatusNotFound ||
				errCode(t, r.body) != string(oci.CodeManifestUnknown) {
				t.Fatalf("GET %s after delete: status %d %s", ref, r.status, r.body)
			}
		}
	})
}

func TestManifestPutErrors(t *testing.T) {
	env := newEnv(t, Options{MaxManifestBytes: 2048})
	body := env.testImage("r", "")
	missingLayer := strings.Replace(string(body), `"layers":[`,
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"`+digest.FromString("absent").String()+`","size":1},`, 1)
	missingChild := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest.FromString("absent").String() + `","size":1}]}`
	tests := []struct {
		name, ref, contentType string
		body                   []byte
		status                 int
		code                   oci.Code
	}{
		{"missing layer", "t", oci.MediaTypeImageManifest, []byte(missingLayer), 400, oci.CodeManifestBlobUnknown},
		{"missing child", "t", oci.MediaTypeImageIndex, []byte(missingChild), 400, oci.CodeManifestBlobUnknown},
		{"digest mismatch", digest.FromString("x").String(), oci.MediaTypeImageManifest, body, 400, oci.CodeDigestInvalid},
		{"malformed digest", "sha256:baddigeststring", oci.MediaTypeImageManifest, body, 400, oci.CodeDigestInvalid},
		{"invalid tag", "-bad", oci.MediaTypeImageManifest, body, 400, oci.CodeManifestInvalid},
		{"content type mismatch", "t", oci.MediaTypeImageIndex, body, 400, oci.CodeManifestInvalid},
		{"not a manifest", "t", oci.MediaTypeImageManifest, []byte(`{"hello":1}`), 400, oci.CodeManifestInvalid},
		{"empty body", "t", oci.MediaTypeImageManifest, []byte{}, 400, oci.CodeManifestInvalid},
		{"too large", "t", oci.MediaTypeImageManifest, bytes.Repeat([]byte(" "), 4096), 413, oci.CodeManifestInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.do(http.MethodPut, "/v2/r/manifests/"+tt.ref, tt.body, "Content-Type", tt.contentType)
			if r.status != tt.status || errCode(t, r.body) != string(tt.code) {
				t.Fatalf("status %d code %q, want %d %s: %s", r.status, errCode(t, r.body), tt.status, tt.code, r.body)
			}
		})
	}
	t.Run("nothing stored", func(t *testing.T) {
		if r := env.do(http.MethodGet, "/v2/r/manifests/t", nil); r.status != http.StatusNotFound {
			t.Fatalf("tag t exists after failed pushes: status %d", r.status)
		}
	})
}

func TestIndexAndMissingSubject(t *testing.T) {
	env := newEnv(t, Options{})
	img := env.testImage("r", "")
	imgDigest := digest.FromBytes(img)
	env.pushManifest("r", imgDigest.String(), oci.MediaTypeImageManifest, img)
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + imgDigest.String() + `","size":` + itoa(len(img)) + `}]}`)
	env.pushManifest("r", "multi", oci.MediaTypeImageIndex, index)
	if r := env.do(http.MethodGet, "/v2/r/manifests/multi", nil); r.status != 200 || r.header.Get("Content-Type") != oci.MediaTypeImageIndex {
		t.Fatalf("GET index: status %d type %q", r.status, r.header.Get("Content-Type"))
	}
	// A subject may be pushed after its referrers.
	absent := digest.FromString("not pushed yet")
	ref := env.testImage("r", `,"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+absent.String()+`","size":1}`)
	put := env.pushManifest("r", "sig", oci.MediaTypeImageManifest, ref)
	if put.header.Get("OCI-Subject") != absent.String() {
		t.Fatalf("OCI-Subject %q", put.header.Get("OCI-Subject"))
	}
}

func TestPullsAreBatched(t *testing.T) {
	env := newEnv(t, Options{PullFlushInterval: time.Hour})
	body := env.testImage("p", "")
	d := digest.FromBytes(body)
	env.pushManifest("p", "v1", oci.MediaTypeImageManifest, body)
	ctx := context.Background()
	if r := env.do(http.MethodGet, "/v2/p/manifests/v1", nil); r.status != 200 {
		t.Fatalf("GET: status %d", r.status)
	}
	m, err := env.meta.Manifest(ctx, "p", d)
	if err != nil {
		t.Fatal(err)
	}
	if !m.LastPulledAt.IsZero() {
		t.Fatalf("pull written synchronously: %v", m.LastPulledAt)
	}
	if err := env.reg.pulls.flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if m, err = env.meta.Manifest(ctx, "p", d); err != nil || m.LastPulledAt.IsZero() {
		t.Fatalf("pull not recorded after flush: %v, %v", m.LastPulledAt, err)
	}
	// HEAD is not a pull.
	if n := env.reg.pulls.pendingCount(); n != 0 {
		t.Fatalf("%d pulls pending after flush", n)
	}
	env.do(http.MethodHead, "/v2/p/manifests/v1", nil)
	if n := env.reg.pulls.pendingCount(); n != 0 {
		t.Fatalf("HEAD recorded as a pull")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func (p *pullRecorder) pendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}
