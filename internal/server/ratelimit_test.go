package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/remote"
)

// A real client past the limit gets 429 TOOMANYREQUESTS with Retry-After
// and, honouring it, gets through; addresses are counted apart, and
// health probes are never limited.
func TestRateLimitsPerAddress(t *testing.T) {
	cfg := testConfig(t)
	cfg.RateLimit.Enabled = true
	cfg.RateLimit.Burst = time.Second
	// Two reads a second per address, a burst of two; writes unlimited.
	cfg.RateLimit.Address = config.RateClass{Reads: 120}
	s, _, _ := start(t, cfg)
	d := pushImage(t, s.URL(), "team/limited", "v1", creds{})

	for i, want := range []int{200, 200, 429} {
		resp, body := callFromResp(t, "127.0.0.2", http.MethodGet, s.URL()+"/v2/team/limited/manifests/v1", creds{})
		if resp.StatusCode != want {
			t.Fatalf("read %d: %d %s, want %d", i, resp.StatusCode, body, want)
		}
		if want == 429 && (resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, string(oci.CodeTooManyRequests))) {
			t.Errorf("429 with Retry-After %q and body %s; want 1 and TOOMANYREQUESTS", resp.Header.Get("Retry-After"), body)
		}
	}
	if code, _ := callFrom(t, "127.0.0.2", http.MethodGet, s.URL()+"/healthz", creds{}, ""); code != 200 {
		t.Errorf("/healthz while limited: %d", code)
	}
	if code, _ := callFrom(t, "127.0.0.3", http.MethodGet, s.URL()+"/v2/", creds{}, ""); code != 200 {
		t.Errorf("another address: %d, want its own bucket", code)
	}

	// The Go client honours Retry-After: six pulls at two a second, a
	// burst of two, take about two seconds, and all succeed.
	c, err := remote.New(s.URL(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	for i := range 6 {
		desc, _, err := c.GetManifest(context.Background(), "team/limited", "v1")
		if err != nil || desc.Digest != d {
			t.Fatalf("pull %d: %v %v", i, desc.Digest, err)
		}
	}
	if took := time.Since(begin); took < 1500*time.Millisecond {
		t.Errorf("six pulls took %v: the limit did not hold them back", took)
	}
}

// Writes are counted per identity, whatever the address; anonymous
// requests only per address.
func TestRateLimitsPerIdentity(t *testing.T) {
	cfg := authConfig(t)
	cfg.RateLimit.Enabled = true
	cfg.RateLimit.Burst = time.Second
	cfg.RateLimit.Identity = config.RateClass{Writes: 6} // one every 10 s
	cfg.RateLimit.Address = config.RateClass{}
	s, _, _ := start(t, cfg)
	addUser(t, s, "wr", "writer-pass", false, metadata.Grant{Pattern: "*", Role: "writer"})
	addUser(t, s, "wr2", "writer-pass", false, metadata.Grant{Pattern: "*", Role: "writer"})
	steps := []struct {
		src        string
		c          creds
		want       int
		retryAfter string
	}{
		{"127.0.0.4", creds{user: "wr", pass: "writer-pass"}, 202, ""},
		{"127.0.0.5", creds{user: "wr", pass: "writer-pass"}, 429, "10"},
		{"127.0.0.5", creds{user: "wr2", pass: "writer-pass"}, 202, ""},
		{"127.0.0.5", creds{}, 401, ""}, // anonymous: not counted as anyone
	}
	for i, st := range steps {
		resp, body := callFromResp(t, st.src, http.MethodPost, s.URL()+"/v2/team/w/blobs/uploads/", st.c)
		if resp.StatusCode != st.want || resp.Header.Get("Retry-After") != st.retryAfter {
			t.Errorf("step %d: %d Retry-After %q %s; want %d %q", i, resp.StatusCode, resp.Header.Get("Retry-After"), body, st.want, st.retryAfter)
		}
	}
}

func callFromResp(t *testing.T, src, method, url string, c creds) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := fromAddr(src).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	return resp, b.String()
}
