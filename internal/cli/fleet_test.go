package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/fleet"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/server/servertest"
	"github.com/berth-registry/berth/test/harness"
)

// startDistribution starts CNCF distribution (Debian's docker-registry)
// on 127.0.0.1 with deletion enabled, or skips saying why.
func startDistribution(t *testing.T) *remote.Client {
	t.Helper()
	if _, err := exec.LookPath("docker-registry"); err != nil {
		harness.Missing(t, "docker-registry", "apt-get install docker-registry")
	}
	dir := t.TempDir()
	s, err := harness.StartServer(context.Background(), harness.Options{Kind: harness.TargetPeer, DataDir: filepath.Join(dir, "data"), LogDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	c, err := remote.New(s.URL(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pushBlob uploads b in two steps (POST, then PUT with the digest), which
// distribution 2.8 accepts where a one-request upload is not.
func pushBlob(t *testing.T, c *remote.Client, repo string, b []byte) (digest.Digest, error) {
	t.Helper()
	resp, err := http.Post(c.Base()+"/v2/"+repo+"/blobs/uploads/", "application/octet-stream", nil)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("upload start: %s: %w", resp.Status, err)
	}
	d := digest.FromBytes(b)
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("upload of %s: %s", d, resp.Status)
	}
	return d, nil
}

// day0 is the build time of the oldest test image.
var day0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pushImage pushes a one-layer image built at created under tags.
func pushImage(t *testing.T, c *remote.Client, repo string, created time.Time, tags ...string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	cfg := fmt.Appendf(nil, `{"created":%q,"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`, created.Format(time.RFC3339Nano))
	cfgD, err := pushBlob(t, c, repo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	layer := []byte("layer of " + repo)
	layerD, err := pushBlob(t, c, repo, layer)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		oci.MediaTypeImageManifest, cfgD, len(cfg), layerD, len(layer))
	for _, tag := range tags {
		if _, err := c.PushManifest(ctx, repo, tag, oci.MediaTypeImageManifest, body); err != nil {
			t.Fatal(err)
		}
	}
	return digest.FromBytes(body)
}

// pushSignature pushes a cosign-style signature of subject under the
// fallback tag sha256-<hex>.sig, as registries without the referrers API
// hold them.
func pushSignature(t *testing.T, c *remote.Client, repo string, subject digest.Digest) string {
	t.Helper()
	ctx := context.Background()
	cfgD, err := pushBlob(t, c, repo, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	sig := []byte("signature of " + subject.String())
	sigD, err := pushBlob(t, c, repo, sig)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":2},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":%q,"size":%d}]}`,
		oci.MediaTypeImageManifest, cfgD, sigD, len(sig))
	tag := "sha256-" + subject.Encoded() + ".sig"
	if _, err := c.PushManifest(ctx, repo, tag, oci.MediaTypeImageManifest, body); err != nil {
		t.Fatal(err)
	}
	return tag
}

func sorted(s []string) []string { slices.Sort(s); return s }

func TestPurgeDistributionKeepsTwoAndTheirSignatures(t *testing.T) {
	c := startDistribution(t)
	var ds []digest.Digest
	for i := range 4 {
		ds = append(ds, pushImage(t, c, "app", day0.AddDate(0, 0, i), fmt.Sprintf("v%d", i+1)))
	}
	keptSig := pushSignature(t, c, "app", ds[3])
	goneSig := pushSignature(t, c, "app", ds[0])
	pushImage(t, c, "other", day0, "v1")

	code, out, errOut := purge(t, "--registry", c.Base(), "--filter", "app:.*", "--ago", "0d", "--keep", "2")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"kept: newest 2", "deleted: older than 0d", "kept: referrer of kept manifest", "deleted: referrer of deleted manifest"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "oci registry, times from image config created") {
		t.Errorf("stderr does not say where times came from: %s", errOut)
	}
	got := sorted(tagsOf(t, c, "app"))
	if want := sorted([]string{"v3", "v4", keptSig}); !slices.Equal(got, want) {
		t.Errorf("tags left %v, want %v (signature %s gone with its subject)", got, want, goneSig)
	}
	if got := tagsOf(t, c, "other"); !slices.Equal(got, []string{"v1"}) {
		t.Errorf("unselected repository changed: %v", got)
	}
	// A second run converges: nothing left to delete, no error.
	if code, out, errOut := purge(t, "--registry", c.Base(), "--filter", "app:.*", "--ago", "0d", "--keep", "2"); code != ExitOK || !strings.Contains(out, "Deleted 0 tags") {
		t.Errorf("second run: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestPurgeDistributionCollateral(t *testing.T) {
	c := startDistribution(t)
	pushImage(t, c, "col", day0, "v1", "stable")
	pushImage(t, c, "col", day0.AddDate(0, 0, 1), "v2")
	args := []string{"--registry", c.Base(), "--filter", "col:v.*", "--ago", "0d", "--keep", "1"}

	code, out, errOut := purge(t, args...)
	if code != ExitError || !strings.Contains(errOut, "--allow-collateral") || !strings.Contains(out, "col:stable") {
		t.Fatalf("without --allow-collateral: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := sorted(tagsOf(t, c, "col")); !slices.Equal(got, []string{"stable", "v1", "v2"}) {
		t.Fatalf("refused run deleted something: %v", got)
	}
	code, out, errOut = purge(t, append(args, "--allow-collateral")...)
	if code != ExitOK || !strings.Contains(out, "deleted: collateral, same manifest as v1") {
		t.Fatalf("with --allow-collateral: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := tagsOf(t, c, "col"); !slices.Equal(got, []string{"v2"}) {
		t.Errorf("tags left %v, want [v2]", got)
	}
}

// deleteCanceller cancels the run after the nth DELETE has been answered.
type deleteCanceller struct {
	n      int64
	seen   atomic.Int64
	cancel context.CancelFunc
}

func (d *deleteCanceller) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if r.Method == http.MethodDelete && d.seen.Add(1) == d.n {
		d.cancel()
	}
	return resp, err
}

func TestPurgeDistributionResumes(t *testing.T) {
	c := startDistribution(t)
	for i := range 12 {
		pushImage(t, c, "big", day0.AddDate(0, 0, i), fmt.Sprintf("t%02d", i))
	}
	keep := 2
	var zero retention.Duration
	policy := fleet.PolicyPlanner([]retention.Policy{{Repositories: retention.Selector{Include: []string{".*"}}, Keep: keep, OlderThan: &zero}})
	noEnv := func(string) (string, bool) { return "", false }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(rt http.RoundTripper) *fleet.Registry {
		reg, err := fleet.Open(ctx, fleet.Target{URL: c.Base(), Credentials: remote.CredentialLookup{DockerConfig: "-", Env: noEnv},
			Options: remote.Options{HTTPClient: &http.Client{Transport: rt}}})
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	rep := fleet.Purge(ctx, open(&deleteCanceller{n: 4, cancel: cancel}), policy, fleet.PurgeOptions{Concurrency: 1})
	if !errors.Is(rep.Err, context.Canceled) {
		t.Fatalf("interrupted run: err %v", rep.Err)
	}
	if left := len(tagsOf(t, c, "big")); left <= keep || left >= 12 {
		t.Fatalf("after interruption %d tags left; want some deleted, some not", left)
	}
	ctx = context.Background()
	rep = fleet.Purge(ctx, open(http.DefaultTransport), policy, fleet.PurgeOptions{Concurrency: 4})
	if rep.Err != nil || len(rep.Result.Failed) > 0 {
		t.Fatalf("resumed run: %v %+v", rep.Err, rep.Result)
	}
	if got := sorted(tagsOf(t, c, "big")); !slices.Equal(got, []string{"t10", "t11"}) {
		t.Errorf("after resume %v, want what an uninterrupted run leaves: [t10 t11]", got)
	}
}

// TestPurgeRetriesDeletesOn429 puts a proxy in front of distribution that
// answers each DELETE's first attempt 429 with Retry-After: 1, a fault a
// local registry cannot be made to produce.
func TestPurgeRetriesDeletesOn429(t *testing.T) {
	c := startDistribution(t)
	pushImage(t, c, "rl", day0, "old")
	pushImage(t, c, "rl", day0.AddDate(0, 0, 1), "new")
	target, _ := url.Parse(c.Base())
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	limited := map[string]bool{}
	var throttled atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && !strings.Contains(r.URL.Path, "berth-probe") {
			mu.Lock()
			first := !limited[r.URL.Path]
			limited[r.URL.Path] = true
			mu.Unlock()
			if first {
				throttled.Add(1)
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	start := time.Now()
	code, out, errOut := purge(t, "--registry", front.URL, "--filter", "rl:.*", "--ago", "0d", "--keep", "1")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if throttled.Load() == 0 || time.Since(start) < time.Second {
		t.Errorf("throttled %d deletes in %v; want at least one, waited out", throttled.Load(), time.Since(start))
	}
	if got := tagsOf(t, c, "rl"); !slices.Equal(got, []string{"new"}) {
		t.Errorf("tags left %v, want [new]", got)
	}
}

// TestPurgeBerthRateLimited purges a Berth server whose rate limits allow
// one DELETE a second: the 429s with Retry-After are waited out and the
// run completes.
func TestPurgeBerthRateLimited(t *testing.T) {
	cfg := servertest.Config(t)
	cfg.RateLimit.Enabled = true
	cfg.RateLimit.Address.Deletes = 60
	cfg.RateLimit.Identity.Deletes = 60
	cfg.RateLimit.Burst = time.Second
	s := servertest.Start(t, cfg)
	c, err := remote.New(s.URL(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		push(t, c, "limited", fmt.Sprint(i), "", nil, fmt.Sprintf("v%d", i))
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	code, out, errOut := purge(t, "--registry", s.URL(), "--filter", "limited:.*", "--ago", "0d", "--keep", "1", "--concurrency", "4")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// Six deletions (three tags, three manifests) at one a second.
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("took %v; the limit of one delete a second was not in force", took)
	}
	if got := tagsOf(t, c, "limited"); !slices.Equal(got, []string{"v3"}) {
		t.Errorf("tags left %v, want [v3]", got)
	}
}
