package registry

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"strconv"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// startUpload begins a resumable upload and returns its location.
func (e *testEnv) startUpload(repo string) string {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	if r.status != http.StatusAccepted {
		e.t.Fatalf("POST upload: status %d: %s", r.status, r.body)
	}
	loc := r.header.Get("Location")
	if loc == "" || r.header.Get("Docker-Upload-UUID") == "" || r.header.Get("Range") != "0-0" {
		e.t.Fatalf("POST upload: headers %v", r.header)
	}
	return loc
}

func TestBlobPushFlows(t *testing.T) {
	env := newEnv(t, Options{})
	content := randomBytes(t, 3000)
	d := digest.FromBytes(content)
	sha512 := digest.SHA512.FromBytes(content)
	tests := []struct {
		name string
		dgst digest.Digest
		push func(repo string, d digest.Digest) response
	}{
		{"monolithic POST", d, func(repo string, d digest.Digest) response {
			return env.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), content)
		}},
		{"POST then PUT", d, func(repo string, d digest.Digest) response {
			return env.do(http.MethodPut, env.startUpload(repo)+"?digest="+d.String(), content)
		}},
		{"streamed PATCH then PUT", sha512, func(repo string, d digest.Digest) response {
			loc := env.startUpload(repo)
			if r := env.do(http.MethodPatch, loc, content); r.status != http.StatusAccepted || r.header.Get("Range") != "0-2999" {
				t.Fatalf("PATCH: status %d range %q", r.status, r.header.Get("Range"))
			}
			return env.do(http.MethodPut, loc+"?digest="+d.String(), nil)
		}},
		{"chunks with a last chunk in PUT", d, func(repo string, d digest.Digest) response {
			loc := env.startUpload(repo)
			for _, c := range [][2]int{{0, 1000}, {1000, 2000}} {
				r := env.do(http.MethodPatch, loc, content[c[0]:c[1]],
					"Content-Range", strconv.Itoa(c[0])+"-"+strconv.Itoa(c[1]-1))
				if r.status != http.StatusAccepted {
					t.Fatalf("PATCH %v: status %d: %s", c, r.status, r.body)
				}
				loc = r.header.Get("Location")
			}
			if r := env.do(http.MethodGet, loc, nil); r.status != http.StatusNoContent || r.header.Get("Range") != "0-1999" {
				t.Fatalf("upload status: %d range %q", r.status, r.header.Get("Range"))
			}
			return env.do(http.MethodPut, loc+"?digest="+d.String(), content[2000:], "Content-Range", "2000-2999")
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := "flows/r" + strconv.Itoa(i)
			r := tt.push(repo, tt.dgst)
			if r.status != http.StatusCreated {
				t.Fatalf("commit: status %d: %s", r.status, r.body)
			}
			if got := r.header.Get("Location"); got != "/v2/"+repo+"/blobs/"+tt.dgst.String() {
				t.Errorf("Location %q", got)
			}
			if got := r.header.Get("Docker-Content-Digest"); got != tt.dgst.String() {
				t.Errorf("Docker-Content-Digest %q", got)
			}
			g := env.do(http.MethodGet, "/v2/"+repo+"/blobs/"+tt.dgst.String(), nil)
			if g.status != http.StatusOK || !bytes.Equal(g.body, content) {
				t.Fatalf("GET: status %d, %d bytes", g.status, len(g.body))
			}
			if g.header.Get("Content-Type") != "application/octet-stream" || g.header.Get("Docker-Content-Digest") != tt.dgst.String() {
				t.Errorf("GET headers %v", g.header)
			}
			h := env.do(http.MethodHead, "/v2/"+repo+"/blobs/"+tt.dgst.String(), nil)
			if h.status != http.StatusOK || len(h.body) != 0 || h.header.Get("Content-Length") != "3000" {
				t.Errorf("HEAD: status %d, body %d bytes, Content-Length %q", h.status, len(h.body), h.header.Get("Content-Length"))
			}
			// Content pushed to one repository is not visible in another.
			if o := env.do(http.MethodHead, "/v2/other/blobs/"+tt.dgst.String(), nil); o.status != http.StatusNotFound {
				t.Errorf("HEAD in another repository: status %d", o.status)
			}
		})
	}
}

func TestBlobGetRangeAndEmpty(t *testing.T) {
	env := newEnv(t, Options{})
	content := randomBytes(t, 2048)
	d := env.pushBlob("r", content)
	tests := []struct {
		rng    string
		status int
		body   []byte
	}{
		{"bytes=500-1499", http.StatusPartialContent, content[500:1500]},
		{"bytes=-500", http.StatusPartialContent, content[1548:]},
		{"bytes=2000-5000", http.StatusPartialContent, content[2000:]},
		{"bytes=5000-10000", http.StatusRequestedRangeNotSatisfiable, nil},
		{"", http.StatusOK, content},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			var hdr []string
			if tt.rng != "" {
				hdr = []string{"Range", tt.rng}
			}
			r := env.do(http.MethodGet, "/v2/r/blobs/"+d.String(), nil, hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			if tt.body != nil && !bytes.Equal(r.body, tt.body) {
				t.Fatalf("got %d bytes, want %d", len(r.body), len(tt.body))
			}
		})
	}
	t.Run("empty blob", func(t *testing.T) {
		e := env.pushBlob("r", []byte{})
		r := env.do(http.MethodGet, "/v2/r/blobs/"+e.String(), nil)
		if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Content-Length") != "0" {
			t.Fatalf("GET empty blob: status %d, %d bytes, Content-Length %q", r.status, len(r.body), r.header.Get("Content-Length"))
		}
	})
}

func TestBlobErrors(t *testing.T) {
	env := newEnv(t, Options{})
	content := []byte("hello blob")
	d := env.pushBlob("r", content)
	loc := env.startUpload("r")
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		header []string
		status int
		code   oci.Code
	}{
		{"unknown blob", http.MethodGet, "/v2/r/blobs/" + digest.FromString("x").String(), nil, nil, 404, oci.CodeBlobUnknown},
		{"invalid digest", http.MethodGet, "/v2/r/blobs/sha256:nothex", nil, nil, 400, oci.CodeDigestInvalid},
		{"unsupported algorithm", http.MethodGet, "/v2/r/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", nil, nil, 400, oci.CodeDigestInvalid},
		{"delete unknown", http.MethodDelete, "/v2/r/blobs/" + digest.FromString("x").String(), nil, nil, 404, oci.CodeBlobUnknown},
		{"monolithic digest mismatch", http.MethodPost, "/v2/r/blobs/uploads/?digest=" + d.String(), []byte("other"), nil, 400, oci.CodeDigestInvalid},
		{"PUT without digest", http.MethodPut, loc, nil, nil, 400, oci.CodeDigestInvalid},
		{"out-of-order chunk", http.MethodPatch, loc, []byte("abc"), []string{"Content-Range", "5-7"}, 416, oci.CodeRangeInvalid},
		{"unknown upload", http.MethodGet, "/v2/r/blobs/uploads/00000000-0000-0000-0000-000000000000", nil, nil, 404, oci.CodeBlobUploadUnknown},
		{"hostile upload id", http.MethodGet, "/v2/r/blobs/uploads/..", nil, nil, 404, oci.CodeBlobUploadUnknown},
		{"upload of another repository", http.MethodGet, "/v2/other" + loc[len("/v2/r"):], nil, nil, 404, oci.CodeBlobUploadUnknown},
		{"bad name", http.MethodGet, "/v2/UPPER/blobs/" + d.String(), nil, nil, 400, oci.CodeNameInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.do(tt.method, tt.path, tt.body, tt.header...)
			if r.status != tt.status || errCode(t, r.body) != string(tt.code) {
				t.Fatalf("status %d code %q, want %d %s (%s)", r.status, errCode(t, r.body), tt.status, tt.code, r.body)
			}
			if r.header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
				t.Errorf("missing API version header")
			}
		})
	}
	t.Run("commit with wrong digest", func(t *testing.T) {
		loc := env.startUpload("r")
		r := env.do(http.MethodPut, loc+"?digest="+digest.FromString("not it").String(), content)
		if r.status != 400 || errCode(t, r.body) != string(oci.CodeDigestInvalid) {
			t.Fatalf("status %d body %s, want 400 DIGEST_INVALID", r.status, r.body)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		loc := env.startUpload("r")
		if r := env.do(http.MethodDelete, loc, nil); r.status != http.StatusNoContent {
			t.Fatalf("DELETE upload: status %d", r.status)
		}
		if r := env.do(http.MethodGet, loc, nil); r.status != http.StatusNotFound {
			t.Fatalf("GET cancelled upload: status %d", r.status)
		}
	})
	t.Run("delete unlinks", func(t *testing.T) {
		if r := env.do(http.MethodDelete, "/v2/r/blobs/"+d.String(), nil); r.status != http.StatusAccepted {
			t.Fatalf("DELETE: status %d", r.status)
		}
		if r := env.do(http.MethodHead, "/v2/r/blobs/"+d.String(), nil); r.status != http.StatusNotFound {
			t.Fatalf("HEAD after delete: status %d", r.status)
		}
	})
}

func TestBlobMount(t *testing.T) {
	env := newEnv(t, Options{})
	content := []byte("mount me")
	d := env.pushBlob("src", content)
	tests := []struct {
		name, query string
		status      int
	}{
		{"from a repository holding it", "?mount=" + d.String() + "&from=src", http.StatusCreated},
		{"anonymous", "?mount=" + d.String(), http.StatusCreated},
		{"from a repository without it", "?mount=" + d.String() + "&from=elsewhere", http.StatusAccepted},
		{"unknown blob", "?mount=" + digest.FromString("nope").String() + "&from=src", http.StatusAccepted},
		{"invalid digest falls back to an upload", "?mount=bogus&from=src", http.StatusAccepted},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := "dst" + strconv.Itoa(i)
			r := env.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/"+tt.query, nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			g := env.do(http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil)
			mounted := g.status == http.StatusOK && bytes.Equal(g.body, content)
			if mounted != (tt.status == http.StatusCreated) {
				t.Fatalf("blob visible after mount = %v, status %d", mounted, g.status)
			}
			if tt.status == http.StatusAccepted && r.header.Get("Location") == "" {
				t.Fatal("fallback upload without Location")
			}
		})
	}
}
