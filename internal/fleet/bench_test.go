package fleet_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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

// countingTransport counts requests by kind, so the benchmark can say
// what a plan costs a registry.
type countingTransport struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	kind := r.Method + " other"
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/v1/"):
		kind = r.Method + " /api/v1"
	case strings.HasSuffix(p, "/_catalog"):
		kind = "GET catalog"
	case strings.HasSuffix(p, "/tags/list"):
		kind = "GET tags/list"
	case strings.Contains(p, "/manifests/"):
		kind = r.Method + " manifest"
	case strings.Contains(p, "/blobs/"):
		kind = r.Method + " blob"
	}
	c.mu.Lock()
	c.counts[kind]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestFleetPlanCost is the benchmark of bench/fleet.sh: berth purge
// --dry-run's plan over REPOS × TAGS images on CNCF distribution and on
// Berth, with the requests it made. It runs only with BERTH_FLEET_BENCH=1.
func TestFleetPlanCost(t *testing.T) {
	if os.Getenv("BERTH_FLEET_BENCH") != "1" {
		t.Skip("set BERTH_FLEET_BENCH=1 (bench/fleet.sh) to run the fleet benchmark")
	}
	repos, tags := envInt("FLEET_REPOS", 100), envInt("FLEET_TAGS", 100)
	dir := t.TempDir()
	dist, err := harness.StartServer(context.Background(), harness.Options{Kind: harness.TargetPeer, DataDir: filepath.Join(dir, "dist"), LogDir: dir})
	if err != nil {
		t.Skipf("docker-registry: %v", err)
	}
	defer dist.Stop()
	b := servertest.Start(t, servertest.Config(t))
	for _, target := range []struct{ name, url string }{{"distribution 2.8", dist.URL()}, {"berth", b.URL()}} {
		start := time.Now()
		fill(t, target.url, target.name == "berth", repos, tags)
		t.Logf("%s: pushed %d images in %v", target.name, repos*tags, time.Since(start).Round(time.Millisecond))

		ct := &countingTransport{counts: map[string]int{}}
		var zero retention.Duration
		policy := fleet.PolicyPlanner([]retention.Policy{{Repositories: retention.Selector{Include: []string{".*"}}, Keep: 2, OlderThan: &zero}})
		start = time.Now()
		reg, err := fleet.Open(context.Background(), fleet.Target{URL: target.url, Credentials: remote.CredentialLookup{DockerConfig: "-", Env: func(string) (string, bool) { return "", false }},
			Options: remote.Options{HTTPClient: &http.Client{Transport: ct, Timeout: time.Minute}}})
		if err != nil {
			t.Fatal(err)
		}
		rep := fleet.Purge(context.Background(), reg, policy, fleet.PurgeOptions{DryRun: true})
		wall := time.Since(start)
		if rep.Err != nil {
			t.Fatal(rep.Err)
		}
		total := 0
		var kinds []string
		for k, n := range ct.counts {
			total += n
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
		s := rep.Plan.Summary
		if s.TagsDeleted != repos*(tags-2) {
			t.Errorf("%s: plan deletes %d tags, want %d", target.name, s.TagsDeleted, repos*(tags-2))
		}
		fmt.Printf("| %s | %d × %d | %s | %d | %.2f | %.2f s | %s |\n", target.name, repos, tags, reg.Times, total,
			float64(total)/float64(repos*tags), wall.Seconds(), strings.Join(sortedStrings(kinds), ", "))
	}
}

func sortedStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// fill pushes repos × tags single-layer images, each with its own config
// (its own created time) and layer, 16 at a time: distribution mixes up
// concurrent uploads of one blob to one repository.
func fill(t *testing.T, base string, monolithic bool, repos, tags int) {
	t.Helper()
	c, err := remote.New(base, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	day0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= repos*tags || failed.Load() != nil {
					return
				}
				repo, tag := fmt.Sprintf("repo%03d", i/tags), fmt.Sprintf("t%03d", i%tags)
				if err := pushOne(ctx, c, base, monolithic, repo, tag, day0.Add(time.Duration(i%tags)*time.Hour)); err != nil {
					failed.Store(err)
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
}

func pushOne(ctx context.Context, c *remote.Client, base string, monolithic bool, repo, tag string, created time.Time) error {
	cfg := fmt.Appendf(nil, `{"created":%q,"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"image":%q}`, created.Format(time.RFC3339), repo+":"+tag)
	layer := []byte("layer of " + repo + ":" + tag)
	blob := func(b []byte) (digest.Digest, error) {
		if monolithic {
			return c.PushBlob(ctx, repo, b)
		}
		return twoStepBlob(base, repo, b)
	}
	cfgD, err := blob(cfg)
	if err != nil {
		return err
	}
	layerD, err := blob(layer)
	if err != nil {
		return err
	}
	body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		oci.MediaTypeImageManifest, cfgD, len(cfg), layerD, len(layer))
	_, err = c.PushManifest(ctx, repo, tag, oci.MediaTypeImageManifest, body)
	return err
}

// twoStepBlob uploads with POST then PUT ?digest=, which distribution 2.8
// needs.
func twoStepBlob(base, repo string, b []byte) (digest.Digest, error) {
	resp, err := http.Post(base+"/v2/"+repo+"/blobs/uploads/", "application/octet-stream", nil)
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
