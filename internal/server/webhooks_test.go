package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/webhook"
)

// hookReceiver is a real endpoint on 127.0.0.1 that checks every
// delivery's signature with the secret the server showed at creation.
type hookReceiver struct {
	srv    *httptest.Server
	status int

	mu     sync.Mutex
	secret string
	got    []webhook.CloudEvent
	bad    []string
}

func newHookReceiver(t *testing.T, status int) *hookReceiver {
	h := &hookReceiver{status: status}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := webhook.Verify(h.secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			h.bad = append(h.bad, err.Error())
		}
		if ct := r.Header.Get("Content-Type"); ct != webhook.ContentType {
			h.bad = append(h.bad, "content type "+ct)
		}
		var ce webhook.CloudEvent
		if err := json.Unmarshal(body, &ce); err != nil {
			h.bad = append(h.bad, err.Error())
		}
		h.got = append(h.got, ce)
		w.WriteHeader(h.status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) events(typ string) []webhook.CloudEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []webhook.CloudEvent
	for _, e := range h.got {
		if typ == "" || e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// createHook posts body as c and returns the status and the answer.
func createHook(t *testing.T, base string, c creds, body string) (int, api.WebhookCreated) {
	t.Helper()
	st, b := send(t, http.MethodPost, base+"/api/v1/webhooks", c, "application/json", []byte(body))
	var out api.WebhookCreated
	if st == http.StatusCreated {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
	}
	return st, out
}

func TestWebhooksFromARealServer(t *testing.T) {
	cfg := authConfig(t)
	cfg.Webhooks.AllowCIDRs = "127.0.0.0/8"
	osv := t.TempDir()
	copyFiles(t, osv, "../scan/vulndb/testdata/go/GO-2020-0015.json")
	cfg.Scan.DB = config.List(osv)
	cfg.Webhooks.MinBackoff, cfg.Webhooks.MaxBackoff, cfg.Webhooks.MaxAttempts = 20*time.Millisecond, 100*time.Millisecond, 3
	s, _, _ := start(t, cfg)
	base := s.URL()
	pw, err := os.ReadFile(filepath.Join(cfg.DataDir, adminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	admin := creds{user: "admin", pass: strings.TrimSpace(string(pw))}
	addUser(t, s, "wr", "writer-pass", false, metadata.Grant{Pattern: "*", Role: "writer"})
	writer := creds{user: "wr", pass: "writer-pass"}

	ok, down, pulls := newHookReceiver(t, http.StatusOK), newHookReceiver(t, http.StatusInternalServerError), newHookReceiver(t, http.StatusOK)
	scans := newHookReceiver(t, http.StatusOK)
	body := func(name, url, extra string) string {
		return fmt.Sprintf(`{"name":%q,"url":%q%s}`, name, url+"/hook", extra)
	}
	if st, _ := createHook(t, base, writer, body("ci", ok.srv.URL, "")); st != http.StatusForbidden {
		t.Fatalf("writer created a webhook: %d, want 403", st)
	}
	for _, tc := range []struct {
		r           *hookReceiver
		name, extra string
	}{
		{ok, "ci", `,"events":["push","delete"],"repositoryRegex":"team/.*","tagRegex":"v.*"`},
		{down, "down", `,"events":["push"]`},
		{pulls, "pulls", `,"events":["pull"],"includePulls":true`},
		{scans, "scans", `,"events":["scan"],"repositoryRegex":"other/.*"`},
	} {
		st, created := createHook(t, base, admin, body(tc.name, tc.r.srv.URL, tc.extra))
		if st != http.StatusCreated || !strings.HasPrefix(created.Secret, "whsec_") {
			t.Fatalf("create %s: %d %+v", tc.name, st, created)
		}
		tc.r.mu.Lock()
		tc.r.secret = created.Secret
		tc.r.mu.Unlock()
	}
	if st, _ := createHook(t, base, admin, body("ci", ok.srv.URL, "")); st != http.StatusConflict {
		t.Errorf("second create of ci: %d, want 409", st)
	}
	st, listing := send(t, http.MethodGet, base+"/api/v1/webhooks", admin, "", nil)
	if st != http.StatusOK || strings.Contains(string(listing), "whsec_") || !strings.Contains(string(listing), `"name":"pulls"`) {
		t.Errorf("GET /api/v1/webhooks: %d %s (the secret is shown once only)", st, listing)
	}

	pushed := time.Now()
	dgst := pushImage(t, base, "team/app", "v1", writer)
	pushImage(t, base, "team/app", "latest", writer) // tag filter: not for ci
	pushImage(t, base, "other/x", "v1", writer)      // repository filter: not for ci

	eventually(t, "the push at ci", func() bool { return len(ok.events("io.berth.manifest.pushed")) > 0 })
	t.Logf("push to webhook receipt (upper bound, two more pushes in between): %v", time.Since(pushed))
	eventually(t, "three attempts at down", func() bool {
		st, b := send(t, http.MethodGet, base+"/api/v1/webhooks/down/deliveries", admin, "", nil)
		var l api.DeliveryList
		_ = json.Unmarshal(b, &l)
		failed := 0
		for _, d := range l.Deliveries {
			if d.State == metadata.DeliveryFailed && d.Attempts == 3 && d.StatusCode == 500 {
				failed++
			}
		}
		return st == http.StatusOK && failed == 3
	})
	if n := len(down.events("")); n != 9 {
		t.Errorf("down received %d requests, want 3 pushes × 3 attempts", n)
	}
	time.Sleep(50 * time.Millisecond)
	pushes := ok.events("io.berth.manifest.pushed")
	if len(pushes) != 1 {
		t.Fatalf("ci received %d pushes, want only team/app:v1", len(pushes))
	}
	if e := pushes[0]; e.Subject != "team/app:v1" || e.SpecVersion != "1.0" || e.ID == "" || !strings.Contains(string(e.Data), dgst.String()) ||
		!strings.Contains(string(e.Data), `"actor":"wr"`) {
		t.Errorf("push event %+v data %s", e, e.Data)
	}

	// Every finished scan is announced (failed here: the layer is no
	// tar), to subscriptions of scan events only.
	eventually(t, "the scan", func() bool { return len(scans.events("io.berth.scan.completed")) > 0 })
	if e := scans.events("")[0]; !strings.HasPrefix(e.Subject, "other/x@sha256:") || !strings.Contains(string(e.Data), `"status":"`) {
		t.Errorf("scan event %+v data %s", e, e.Data)
	}

	// A pull reaches the subscription that includes pulls, from memory.
	if st, b := send(t, http.MethodGet, base+"/v2/team/app/manifests/v1", writer, "", nil); st != http.StatusOK {
		t.Fatalf("pull: %d %s", st, b)
	}
	eventually(t, "the pull", func() bool { return len(pulls.events("io.berth.manifest.pulled")) > 0 })
	if e := pulls.events("")[0]; e.Subject != "team/app@"+dgst.String() {
		t.Errorf("pull event %+v", e)
	}

	st, b := send(t, http.MethodPost, base+"/api/v1/webhooks/ci/ping", admin, "", nil)
	var ping metadata.WebhookDelivery
	if err := json.Unmarshal(b, &ping); st != http.StatusOK || err != nil || ping.State != metadata.DeliveryDelivered || ping.StatusCode != 200 {
		t.Errorf("ping: %d %s", st, b)
	}
	if len(ok.events("io.berth.ping")) != 1 {
		t.Errorf("ci received no ping")
	}
	// A rotated secret is returned once and signs what follows.
	st, b = send(t, http.MethodPut, base+"/api/v1/webhooks/ci", admin, "application/json",
		[]byte(body("ci", ok.srv.URL, `,"events":["push","delete"],"rotateSecret":true`)))
	var rotated api.WebhookCreated
	ok.mu.Lock()
	old := ok.secret
	ok.mu.Unlock()
	if err := json.Unmarshal(b, &rotated); st != http.StatusOK || err != nil || rotated.Secret == "" || rotated.Secret == old || rotated.RepoRegex != "" {
		t.Fatalf("rotate: %d %s", st, b)
	}
	ok.mu.Lock()
	ok.secret = rotated.Secret
	ok.mu.Unlock()
	if st, b := send(t, http.MethodPost, base+"/api/v1/webhooks/ci/ping", admin, "", nil); st != http.StatusOK || !strings.Contains(string(b), `"state":"delivered"`) {
		t.Errorf("ping after rotation: %d %s", st, b)
	}
	if st, b := send(t, http.MethodGet, base+"/api/v1/webhooks/ci", admin, "", nil); st != http.StatusOK || strings.Contains(string(b), rotated.Secret) {
		t.Errorf("GET /api/v1/webhooks/ci: %d %s", st, b)
	}

	for _, r := range []*hookReceiver{ok, down, pulls, scans} {
		r.mu.Lock()
		if len(r.bad) > 0 {
			t.Errorf("bad deliveries: %v", r.bad)
		}
		r.mu.Unlock()
	}

	if st, b := send(t, http.MethodDelete, base+"/api/v1/webhooks/down", admin, "", nil); st != http.StatusNoContent {
		t.Errorf("delete: %d %s", st, b)
	}
	eventually(t, "the audit records", func() bool {
		created := auditQuery(t, base, "action=webhook.created", admin).Records
		deleted := auditQuery(t, base, "action=webhook.deleted", admin).Records
		updated := auditQuery(t, base, "action=webhook.updated", admin).Records
		return len(created) == 4 && created[0].Actor == "admin" && len(deleted) == 1 && deleted[0].Reference == "down" && len(updated) == 1
	})
	for _, r := range auditQuery(t, base, "action=webhook.created", admin).Records {
		if strings.Contains(string(r.Detail), "whsec_") {
			t.Errorf("an audit record holds a secret: %s", r.Detail)
		}
	}
}

// Without webhooks.allow_cidrs, internal targets are refused at creation.
func TestWebhookInternalTargetsRefused(t *testing.T) {
	s, _, _ := start(t, testConfig(t))
	for _, u := range []string{"http://127.0.0.1:9/", "http://localhost:9/", "http://10.1.2.3/", "http://192.168.0.10/",
		"http://169.254.169.254/latest/meta-data/", "http://[::1]:9/", "http://[fd00:ec2::254]/", "ftp://example.com/"} {
		st, b := send(t, http.MethodPost, s.URL()+"/api/v1/webhooks", creds{}, "application/json",
			[]byte(fmt.Sprintf(`{"name":"x","url":%q}`, u)))
		if st != http.StatusBadRequest || !strings.Contains(string(b), "refused") {
			t.Errorf("create with %s: %d %s, want 400 refused", u, st, b)
		}
	}
}
