package registry

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/storage"
)

// limit installs a quota.Limiter over the env's metadata.
func (e *testEnv) limit(opts quota.Options) {
	e.t.Helper()
	l, err := quota.New(e.meta, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.reg.opts.Limits = l
}

// leftovers counts uploads in progress and reports whether d is stored.
func (e *testEnv) leftovers(d digest.Digest) (uploads int, stored bool) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.reg.opts.Blobs.(storage.UploadLister).ListUploads(ctx, func(storage.UploadInfo) error {
		uploads++
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	_, err := e.reg.opts.Blobs.Stat(ctx, d)
	return uploads, err == nil
}

func TestQuotaRefusals(t *testing.T) {
	e := newEnv(t, Options{})
	big := bytes.Repeat([]byte("b"), 80)
	e.pushBlob("src", big)
	e.limit(quota.Options{Repos: []quota.Rule{{Pattern: "q", Limit: 100}}})
	e.pushBlob("q", bytes.Repeat([]byte("a"), 60))

	over := bytes.Repeat([]byte("c"), 50)
	d := digest.FromBytes(over)
	t.Run("monolithic POST", func(t *testing.T) {
		r := e.do(http.MethodPost, "/v2/q/blobs/uploads/?digest="+d.String(), over)
		if r.status != http.StatusForbidden || errCode(t, r.body) != string(oci.CodeDenied) ||
			!strings.Contains(string(r.body), "quota exceeded: repository q uses 60 of 100 bytes") {
			t.Errorf("status %d: %s", r.status, r.body)
		}
		if n, stored := e.leftovers(d); n != 0 || stored {
			t.Errorf("left %d uploads, blob stored: %v", n, stored)
		}
	})
	t.Run("chunk", func(t *testing.T) {
		start := e.do(http.MethodPost, "/v2/q/blobs/uploads/", nil)
		if start.status != http.StatusAccepted {
			t.Fatalf("start: %d %s", start.status, start.body)
		}
		loc := start.header.Get("Location")
		r := e.do(http.MethodPatch, loc, over, "Content-Type", "application/octet-stream")
		if r.status != http.StatusForbidden || errCode(t, r.body) != string(oci.CodeDenied) {
			t.Errorf("PATCH over quota: %d %s", r.status, r.body)
		}
		if n, stored := e.leftovers(d); n != 0 || stored {
			t.Errorf("left %d uploads, blob stored: %v", n, stored)
		}
	})
	t.Run("manifest after a mount", func(t *testing.T) {
		r := e.do(http.MethodPost, "/v2/q/blobs/uploads/?mount="+digest.FromBytes(big).String()+"&from=src", nil)
		if r.status != http.StatusCreated {
			t.Fatalf("mount: %d %s", r.status, r.body)
		}
		m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
			`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + digest.FromBytes(big).String() + `","size":80},"layers":[]}`)
		r = e.do(http.MethodPut, "/v2/q/manifests/v1", m, "Content-Type", oci.MediaTypeImageManifest)
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "uses 140 of 100 bytes") {
			t.Errorf("manifest over quota: %d %s", r.status, r.body)
		}
		if r := e.do(http.MethodGet, "/v2/q/manifests/v1", nil); r.status != http.StatusNotFound {
			t.Errorf("refused manifest is readable: %d", r.status)
		}
	})
}

func TestLowDiskRefusesUploadsNotPulls(t *testing.T) {
	e := newEnv(t, Options{})
	content := []byte("pulled while the disk is full")
	d := e.pushBlob("r", content)
	e.limit(quota.Options{MinFree: 1 << 62, Dir: t.TempDir()})
	for _, path := range []string{"/v2/r/blobs/uploads/", "/v2/r/blobs/uploads/?digest=" + digest.FromString("x").String()} {
		body := []byte(nil)
		if strings.Contains(path, "digest") {
			body = []byte("x")
		}
		r := e.do(http.MethodPost, path, body)
		if r.status != http.StatusInsufficientStorage || errCode(t, r.body) != string(oci.CodeDenied) ||
			!strings.Contains(string(r.body), "storage is low") {
			t.Errorf("POST %s: %d %s", path, r.status, r.body)
		}
	}
	if n, stored := e.leftovers(digest.FromString("x")); n != 0 || stored {
		t.Errorf("left %d uploads, blob stored: %v", n, stored)
	}
	if r := e.do(http.MethodGet, "/v2/r/blobs/"+d.String(), nil); r.status != http.StatusOK || !bytes.Equal(r.body, content) {
		t.Errorf("pull under the watermark: %d", r.status)
	}
}

func TestCondemnedBlobIsUploadedAgain(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	content := []byte("condemned")
	d := e.pushBlob("a", content)
	// The collector condemned d and has not deleted it yet.
	if got, err := e.meta.CondemnBlobs(ctx, []digest.Digest{d}, time.Now().Add(time.Hour)); err != nil || len(got) != 1 {
		t.Fatalf("CondemnBlobs = %v, %v", got, err)
	}
	r := e.do(http.MethodPost, "/v2/b/blobs/uploads/?mount="+d.String()+"&from=a", nil)
	if r.status != http.StatusAccepted {
		t.Errorf("mount of a condemned blob: %d, want 202 (upload instead)", r.status)
	}
	r = e.do(http.MethodPost, "/v2/b/blobs/uploads/?digest="+d.String(), content)
	if r.status != http.StatusServiceUnavailable || errCode(t, r.body) != string(oci.CodeBlobUploadInvalid) {
		t.Errorf("upload of a condemned blob: %d %s", r.status, r.body)
	}
	if _, err := e.meta.StatBlob(ctx, "b", d); err == nil {
		t.Error("a condemned blob was linked")
	}
}
