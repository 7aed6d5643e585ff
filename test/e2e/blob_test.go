package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"testing"

	"github.com/opencontainers/go-digest"
)

// pushBlobMonolithic uploads b to repo with POST + PUT and returns its digest.
func pushBlobMonolithic(t *testing.T, base, repo string, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	loc := startUpload(t, base, repo)
	req, _ := http.NewRequest(http.MethodPut, withDigest(t, loc, d), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	mustStatus(t, req, http.StatusCreated)
	return d
}

// startUpload opens an upload session and returns its absolute location.
func startUpload(t *testing.T, base, repo string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil)
	resp := mustStatus(t, req, http.StatusAccepted)
	return absLocation(t, base, resp.Header.Get("Location"))
}

func absLocation(t *testing.T, base, loc string) string {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	l, err := url.Parse(loc)
	if err != nil || loc == "" {
		t.Fatalf("bad Location %q: %v", loc, err)
	}
	return b.ResolveReference(l).String()
}

func withDigest(t *testing.T, loc string, d digest.Digest) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	return u.String()
}

// mustStatus sends req and fails unless the status is want; the body is
// drained and closed.
func mustStatus(t *testing.T, req *http.Request, want int) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", req.Method, req.URL, resp.StatusCode, want, body)
	}
	return resp
}

// TestBlobMount checks cross-repository mounting: the blob appears in the
// target repository without being uploaded again, and an unknown source is
// answered with a plain upload session.
func TestBlobMount(t *testing.T) {
	t.Parallel()
	srv := newRegistry(t)
	base := srv.URL()
	blob := make([]byte, 256<<10)
	for i := range blob {
		blob[i] = byte(rand.Uint32())
	}
	d := pushBlobMonolithic(t, base, "e2e/mount/src", blob)

	tests := []struct {
		name       string
		from       string
		wantStatus int
		wantInDst  bool
	}{
		{name: "from repository holding the blob", from: "e2e/mount/src", wantStatus: http.StatusCreated, wantInDst: true},
		{name: "from repository without it", from: "e2e/mount/empty", wantStatus: http.StatusAccepted},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := fmt.Sprintf("e2e/mount/dst%d", i)
			req, _ := http.NewRequest(http.MethodPost, base+"/v2/"+dst+"/blobs/uploads/?mount="+d.String()+"&from="+tt.from, nil)
			resp := mustStatus(t, req, tt.wantStatus)
			loc := resp.Header.Get("Location")
			if tt.wantStatus == http.StatusCreated {
				if got := resp.Header.Get("Docker-Content-Digest"); got != d.String() {
					t.Errorf("Docker-Content-Digest = %q, want %s", got, d)
				}
				if want := "/v2/" + dst + "/blobs/" + d.String(); loc != want && loc != base+want {
					t.Errorf("Location = %q, want %q", loc, want)
				}
			} else if loc == "" {
				t.Error("202 without an upload Location")
			}
			head, _ := http.NewRequest(http.MethodHead, base+"/v2/"+dst+"/blobs/"+d.String(), nil)
			want := http.StatusNotFound
			if tt.wantInDst {
				want = http.StatusOK
			}
			mustStatus(t, head, want)
		})
	}
}

// TestLargeLayerRoundTrip uploads a 64 MiB blob in 8 MiB PATCH chunks (the
// resumable path), then downloads it and verifies size and sha256 while
// streaming.
func TestLargeLayerRoundTrip(t *testing.T) {
	t.Parallel()
	const size, chunk = 64 << 20, 8 << 20
	srv := newRegistry(t)
	base := srv.URL()
	repo := "e2e/large"
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, uint64(size)))
	for i := 0; i < size; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	want := digest.FromBytes(data)

	loc := startUpload(t, base, repo)
	for off := 0; off < size; off += chunk {
		req, _ := http.NewRequest(http.MethodPatch, loc, bytes.NewReader(data[off:off+chunk]))
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+chunk-1))
		req.ContentLength = chunk
		resp := mustStatus(t, req, http.StatusAccepted)
		if got, wantRange := resp.Header.Get("Range"), fmt.Sprintf("0-%d", off+chunk-1); got != wantRange {
			t.Fatalf("after chunk at %d: Range = %q, want %q", off, got, wantRange)
		}
		loc = absLocation(t, base, resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest(http.MethodPut, withDigest(t, loc, want), nil)
	mustStatus(t, req, http.StatusCreated)

	resp, err := http.Get(base + "/v2/" + repo + "/blobs/" + want.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET blob: status %d", resp.StatusCode)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatalf("reading blob after %d bytes: %v", n, err)
	}
	if n != size {
		t.Errorf("downloaded %d bytes, want %d", n, size)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != want {
		t.Errorf("downloaded digest %s, want %s", got, want)
	}
	if cl := resp.ContentLength; cl != size {
		t.Errorf("Content-Length = %d, want %d", cl, size)
	}
}
