package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

// testEnv is a Registry on real stores in a temporary directory, served
// over a real HTTP server on 127.0.0.1.
type testEnv struct {
	t    *testing.T
	reg  *Registry
	meta *sqlite.Store
	srv  *httptest.Server
}

func newEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := fsblob.Open(ctx, filepath.Join(dir, "blobs"), fsblob.Options{NoSync: true})
	if err != nil {
		t.Fatalf("opening blob store: %v", err)
	}
	meta, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("opening metadata: %v", err)
	}
	opts.Blobs, opts.Meta = blobs, meta
	reg, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(func() {
		srv.Close()
		if err := reg.Close(context.Background()); err != nil {
			t.Errorf("closing registry: %v", err)
		}
		_ = meta.Close()
		_ = blobs.Close()
	})
	return &testEnv{t: t, reg: reg, meta: meta, srv: srv}
}

// response is a fully read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; body may be nil. Header pairs are name, value, ...
func (e *testEnv) do(method, path string, body []byte, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatalf("building request: %v", err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		e.t.Fatalf("reading body of %s %s: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// pushBlob uploads content monolithically into repo and returns its digest.
func (e *testEnv) pushBlob(repo string, content []byte) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(content)
	r := e.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), content)
	if r.status != http.StatusCreated {
		e.t.Fatalf("pushing blob to %s: status %d: %s", repo, r.status, r.body)
	}
	return d
}

// pushManifest puts body under ref and fails the test unless it is 201.
func (e *testEnv) pushManifest(repo, ref, mediaType string, body []byte) response {
	e.t.Helper()
	r := e.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, body, "Content-Type", mediaType)
	if r.status != http.StatusCreated {
		e.t.Fatalf("pushing manifest %s:%s: status %d: %s", repo, ref, r.status, r.body)
	}
	return r
}

// errCode returns the first OCI error code in a response body, or "".
func errCode(t *testing.T, body []byte) string {
	t.Helper()
	var es struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &es); err != nil || len(es.Errors) == 0 {
		return ""
	}
	return es.Errors[0].Code
}
