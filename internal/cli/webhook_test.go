package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/server/servertest"
)

// TestWebhookCommands drives berth webhook against a real server and a
// real receiver: create (secret printed once), refused target, list,
// ping, a push in the delivery log, delete.
func TestWebhookCommands(t *testing.T) {
	var hits atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer recv.Close()
	cfg := servertest.Config(t)
	cfg.Webhooks.AllowCIDRs = "127.0.0.0/8"
	s := servertest.Start(t, cfg)
	c, err := remote.New(s.URL(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := "--registry=" + s.URL()
	cmd := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"webhook"}, args...), &out, &errb, noEnv)
		return code, out.String() + errb.String()
	}
	steps := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"create", []string{"create", "ci", "--url", recv.URL + "/in", "--event", "push", "--repo-regex", "app", reg}, ExitOK,
			[]string{"created webhook ci -> " + recv.URL + "/in (push in app)", "secret: whsec_", "shown once"}},
		{"metadata address refused", []string{"create", "meta", "--url", "http://169.254.169.254/", reg}, ExitError, []string{"refused", "webhooks.allow_cidrs"}},
		{"bad event", []string{"create", "bad", "--url", recv.URL, "--event", "Push", reg}, ExitError, []string{"event type"}},
		{"no url", []string{"create", "bad", reg}, ExitUsage, []string{"--url is required"}},
		{"list", []string{"list", reg}, ExitOK, []string{"NAME", "ci", recv.URL + "/in", "push in app"}},
		{"ping", []string{"ping", "ci", reg}, ExitOK, []string{"ping ci: delivered, status 202"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			code, out := cmd(st.args...)
			if code != st.code {
				t.Fatalf("exit %d, want %d; output:\n%s", code, st.code, out)
			}
			for _, w := range st.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	if strings.Contains(func() string { _, o := cmd("list", reg); return o }(), "whsec_") {
		t.Error("list shows the secret")
	}
	push(t, c, "app", "x", "", nil, "v1")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, out := cmd("deliveries", "ci", reg)
		if pushDelivered(out) {
			if !strings.Contains(out, "ping") || !strings.Contains(out, "202") {
				t.Errorf("deliveries:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivered push in the log:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("receiver got %d requests, want the ping and the push", n)
	}
	if code, out := cmd("delete", "ci", reg); code != ExitOK || !strings.Contains(out, "deleted webhook ci") {
		t.Errorf("delete: %d %s", code, out)
	}
	if code, out := cmd("delete", "ci", reg); code != ExitError || !strings.Contains(out, "not found") {
		t.Errorf("second delete: %d %s", code, out)
	}
}

// pushDelivered reports whether the deliveries table has a delivered push
// (the ping's row is delivered too, so the row must say both).
func pushDelivered(table string) bool {
	for _, line := range strings.Split(table, "\n") {
		if strings.Contains(line, "manifest.pushed") && strings.Contains(line, "delivered") {
			return true
		}
	}
	return false
}
