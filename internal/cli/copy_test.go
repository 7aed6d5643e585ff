package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/remote"
)

// multiArch is an index of two images with a referrer (an SBOM) of the
// index, as pushed to a registry.
type multiArch struct {
	index, amd64, arm64, sbom digest.Digest
}

// pushMultiArch pushes a two-platform index to repo:tag with 256 KiB random
// layers and an SBOM referring to the index. On a registry without the
// referrers API (distribution) the SBOM is listed under the fallback tag.
func pushMultiArch(t *testing.T, c *remote.Client, repo, tag string, fallback bool) multiArch {
	t.Helper()
	ctx := context.Background()
	var m multiArch
	image := func(arch string) (digest.Digest, int) {
		cfg := fmt.Appendf(nil, `{"architecture":%q,"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`, arch)
		layer := make([]byte, 256<<10)
		rand.Read(layer)
		cd, err := pushBlob(t, c, repo, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ld, err := pushBlob(t, c, repo, layer)
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
			oci.MediaTypeImageManifest, cd, len(cfg), ld, len(layer))
		d, err := c.PushManifest(ctx, repo, digest.FromBytes(body).String(), oci.MediaTypeImageManifest, body)
		if err != nil {
			t.Fatal(err)
		}
		return d, len(body)
	}
	amd, amdSize := image("amd64")
	arm, armSize := image("arm64")
	idx := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":"arm64","os":"linux"}}]}`,
		oci.MediaTypeImageIndex, oci.MediaTypeImageManifest, amd, amdSize, oci.MediaTypeImageManifest, arm, armSize)
	id, err := c.PushManifest(ctx, repo, tag, oci.MediaTypeImageIndex, idx)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := pushBlob(t, c, repo, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	sbom := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	sd, err := pushBlob(t, c, repo, sbom)
	if err != nil {
		t.Fatal(err)
	}
	ref := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"artifactType":"application/spdx+json","config":{"mediaType":%q,"digest":%q,"size":2},"layers":[{"mediaType":"application/spdx+json","digest":%q,"size":%d}],"subject":{"mediaType":%q,"digest":%q,"size":%d}}`,
		oci.MediaTypeImageManifest, oci.MediaTypeEmptyJSON, empty, sd, len(sbom), oci.MediaTypeImageIndex, id, len(idx))
	rd, err := c.PushManifest(ctx, repo, digest.FromBytes(ref).String(), oci.MediaTypeImageManifest, ref)
	if err != nil {
		t.Fatal(err)
	}
	if fallback {
		fb := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"artifactType":"application/spdx+json","digest":%q,"size":%d}]}`,
			oci.MediaTypeImageIndex, oci.MediaTypeImageManifest, rd, len(ref))
		if _, err := c.PushManifest(ctx, repo, remote.FallbackTag(id), oci.MediaTypeImageIndex, fb); err != nil {
			t.Fatal(err)
		}
	}
	m.index, m.amd64, m.arm64, m.sbom = id, amd, arm, rd
	return m
}

// closeIdleFirst closes the idle client connections before the servers
// stop: a connection the transport dialed for a request that another one
// then served never carried a request, and the server's drain waits for
// such connections as if they were busy.
func closeIdleFirst(t *testing.T) {
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
}

// referrersOf lists the referrers of d as the destination keeps them.
func referrersOf(t *testing.T, c *remote.Client, repo string, d digest.Digest) []digest.Digest {
	t.Helper()
	refs, api, err := c.Referrers(context.Background(), repo, d)
	if err == nil && !api {
		refs, err = c.FallbackReferrers(context.Background(), repo, d)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []digest.Digest
	for _, r := range refs {
		out = append(out, r.Digest)
	}
	return out
}

func assertCopied(t *testing.T, c *remote.Client, repo, tag string, m multiArch, referrerAPI bool) {
	t.Helper()
	ctx := context.Background()
	for ref, want := range map[string]digest.Digest{tag: m.index, m.amd64.String(): m.amd64, m.arm64.String(): m.arm64, m.sbom.String(): m.sbom} {
		got, body, err := c.GetManifest(ctx, repo, ref)
		if err != nil {
			t.Fatalf("%s %s:%s: %v", c.Base(), repo, ref, err)
		}
		if got.Digest != want || digest.FromBytes(body) != want {
			t.Errorf("%s:%s has digest %s (body %s), want %s", repo, ref, got.Digest, digest.FromBytes(body), want)
		}
	}
	if refs := referrersOf(t, c, repo, m.index); len(refs) != 1 || refs[0] != m.sbom {
		t.Errorf("referrers of the index in %s = %v, want [%s]", c.Base(), refs, m.sbom)
	}
	_, api, err := c.Referrers(ctx, repo, m.index)
	if err != nil || api != referrerAPI {
		t.Errorf("%s referrers API = %v, %v; want %v", c.Base(), api, err, referrerAPI)
	}
}

var summaryRe = regexp.MustCompile(`copied (\d+) manifests \((\d+) already there\), (\d+) blobs of .* \((\d+) already there, (\d+) mounted\)`)

// summary reads the summary line: manifests, manifests skipped, blobs,
// blobs skipped, blobs mounted.
func summary(t *testing.T, out string) [5]int {
	t.Helper()
	m := summaryRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary in %q", out)
	}
	var n [5]int
	for i := range n {
		fmt.Sscan(m[i+1], &n[i])
	}
	return n
}

func TestCopyMultiArchWithReferrerBetweenDistributionAndBerth(t *testing.T) {
	dist := startDistribution(t)
	berth := startBerth(t)
	closeIdleFirst(t)
	m := pushMultiArch(t, dist, "app", "v1", true)

	code, out, errOut := runBerth(t, "copy", dist.Base()+"/app:v1", berth.Base()+"/team/app", "--referrers")
	if code != 0 {
		t.Fatalf("copy to berth: exit %d\n%s\n%s", code, out, errOut)
	}
	// index, two images, the SBOM; 2 configs + 2 layers + {} + SBOM.
	if got, want := summary(t, out), [5]int{4, 0, 6, 0, 0}; got != want {
		t.Errorf("first copy: %v, want %v\n%s", got, want, out)
	}
	assertCopied(t, berth, "team/app", "v1", m, true)

	code, out, errOut = runBerth(t, "copy", berth.Base()+"/team/app:v1", dist.Base()+"/back:v2", "--referrers")
	if code != 0 {
		t.Fatalf("copy back: exit %d\n%s\n%s", code, out, errOut)
	}
	assertCopied(t, dist, "back", "v2", m, false)

	// Within one registry blobs are mounted, not copied.
	code, out, errOut = runBerth(t, "copy", berth.Base()+"/team/app:v1", berth.Base()+"/mirror/app:v1")
	if code != 0 {
		t.Fatalf("copy within berth: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := summary(t, out); got[2] != 0 || got[4] != 4 {
		t.Errorf("copy within berth: %v, want 0 blobs copied and 4 mounted\n%s", got, out)
	}

	// Again: everything is there.
	code, out, _ = runBerth(t, "copy", dist.Base()+"/app:v1", berth.Base()+"/team/app", "--referrers")
	if got, want := summary(t, out), [5]int{0, 2, 0, 0, 0}; code != 0 || got != want { // the index and the SBOM: what is below a manifest there is there
		t.Errorf("second copy: exit %d, %v, want %v\n%s", code, got, want, out)
	}
}

func TestCopyPlatformAndAllTags(t *testing.T) {
	dist := startDistribution(t)
	berth := startBerth(t)
	closeIdleFirst(t)
	m := pushMultiArch(t, dist, "app", "v1", true)
	pushImage(t, dist, "app", day0, "v0", "latest")

	code, out, errOut := runBerth(t, "copy", dist.Base()+"/app:v1", berth.Base()+"/one:arm", "--platform", "linux/arm64")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	got, err := berth.HeadManifest(context.Background(), "one", "arm")
	if err != nil || got.Digest != m.arm64 {
		t.Errorf("one:arm = %v, %v; want the arm64 image %s", got.Digest, err, m.arm64)
	}
	if _, err := berth.HeadManifest(context.Background(), "one", m.amd64.String()); !remote.IsNotFound(err) {
		t.Errorf("amd64 image copied too: %v", err)
	}

	code, out, errOut = runBerth(t, "copy", dist.Base()+"/app", berth.Base()+"/all", "--all-tags")
	if code != 0 || !strings.Contains(out, "3 tags of app copied") {
		t.Fatalf("--all-tags: exit %d\n%s\n%s", code, out, errOut)
	}
	tags, err := berth.Tags(context.Background(), "all", 0)
	if err != nil || strings.Join(tags, ",") != "latest,v0,v1" {
		t.Errorf("tags of all = %v, %v; want latest,v0,v1 (no fallback tag)", tags, err)
	}

	for _, args := range [][]string{
		{"copy", dist.Base() + "/app", berth.Base() + "/x"},
		{"copy", dist.Base() + "/app:v1", berth.Base() + "/x", "--all-tags"},
		{"copy", dist.Base() + "/app:v1", berth.Base() + "/x@" + m.index.String()},
		{"copy", dist.Base() + "/app:v1", berth.Base() + "/x", "--concurrency", "0"},
		{"copy", dist.Base() + "/app:v1", berth.Base() + "/x", "--src-creds", "nopassword"},
	} {
		if code, _, errOut := runBerth(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, errOut)
		}
	}
}

// cancelAfter cancels a context once the progress has shown n copied blobs.
type cancelAfter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Count(c.buf.String(), " copied (") >= c.n {
		c.cancel()
	}
	return len(p), nil
}

func TestCopyResumesAfterInterruption(t *testing.T) {
	dist := startDistribution(t)
	berth := startBerth(t)
	closeIdleFirst(t)
	m := pushMultiArch(t, dist, "app", "v1", false)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := &cancelAfter{n: 2, cancel: cancel}
	var out bytes.Buffer
	code := Run(ctx, []string{"copy", dist.Base() + "/app:v1", berth.Base() + "/app", "--concurrency", "1"}, &out, progress)
	if code == 0 {
		t.Fatalf("interrupted copy exited 0\n%s\n%s", out.String(), progress.buf.String())
	}
	if _, err := berth.HeadManifest(context.Background(), "app", "v1"); !remote.IsNotFound(err) {
		t.Fatalf("tag written by an interrupted copy: %v", err)
	}

	code, o, errOut := runBerth(t, "copy", dist.Base()+"/app:v1", berth.Base()+"/app")
	if code != 0 {
		t.Fatalf("resumed copy: exit %d\n%s\n%s", code, o, errOut)
	}
	got := summary(t, o)
	if got[3] < 2 || got[2]+got[3] != 4 {
		t.Errorf("resumed copy: %v, want at least 2 blobs skipped of 4\n%s", got, o)
	}
	d, err := berth.HeadManifest(context.Background(), "app", "v1")
	if err != nil || d.Digest != m.index {
		t.Errorf("app:v1 = %v, %v; want %s", d.Digest, err, m.index)
	}
}

// TestCopyRetriesOn429 puts a proxy in front of Berth that answers the
// first two blob uploads 429 with Retry-After: 1; the copy waits as told
// and finishes.
func TestCopyRetriesOn429(t *testing.T) {
	dist := startDistribution(t)
	berth := startBerth(t)
	closeIdleFirst(t)
	m := pushMultiArch(t, dist, "app", "v1", false)
	target, _ := url.Parse(berth.Base())
	var refused atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && refused.Add(1) <= 2 {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	start := time.Now()
	code, out, errOut := runBerth(t, "copy", dist.Base()+"/app:v1", front.URL+"/app", "--concurrency", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if n := strings.Count(errOut, "retrying in 1s"); n != 2 {
		t.Errorf("%d retries after 1s in the progress, want 2:\n%s", n, errOut)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("copy took %s: Retry-After: 1 was not waited for twice", took)
	}
	if d, err := berth.HeadManifest(context.Background(), "app", "v1"); err != nil || d.Digest != m.index {
		t.Errorf("app:v1 = %v, %v; want %s", d.Digest, err, m.index)
	}
}

// TestCopyStreamsBlobs copies a 64 MiB layer and samples the heap of the
// process (the copy and Berth both run in it): a copy that held the blob
// would need 64 MiB at once.
func TestCopyStreamsBlobs(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 64 MiB")
	}
	dist := startDistribution(t)
	berth := startBerth(t)
	closeIdleFirst(t)
	const size = 64 << 20
	layer := make([]byte, size)
	rand.Read(layer)
	ld, err := pushBlob(t, dist, "big", layer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cd, err := pushBlob(t, dist, "big", cfg)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		oci.MediaTypeImageManifest, cd, len(cfg), ld, size)
	if _, err := dist.PushManifest(context.Background(), "big", "v1", oci.MediaTypeImageManifest, body); err != nil {
		t.Fatal(err)
	}
	layer = nil
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	done := make(chan struct{})
	var peak atomic.Uint64
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	start := time.Now()
	code, out, errOut := runBerth(t, "copy", dist.Base()+"/big:v1", berth.Base()+"/big")
	took := time.Since(start)
	close(done)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("copied %d MiB in %s (%.0f MiB/s); heap grew by at most %d MiB", size>>20, took.Round(time.Millisecond), float64(size>>20)/took.Seconds(), grew>>20)
	if grew > size/2 {
		t.Errorf("heap grew by %d MiB while copying a %d MiB blob: it is held, not streamed", grew>>20, size>>20)
	}
}
