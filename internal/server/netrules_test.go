package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

// fromAddr is a client whose connections leave from src (a loopback
// address), so that network rules see different clients.
func fromAddr(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func callFrom(t *testing.T, src, method, url string, c creds, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
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
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// netStep is one request of a network-rules scenario.
type netStep struct {
	name, src, method, path string
	c                       creds
	body                    string
	status                  int
	want                    string
}

// Rules set through the API apply to the next request, survive a restart,
// refuse a lock-out unless forced, and are audited; clearing them brings
// back the configuration's.
func TestNetworkRulesAPI(t *testing.T) {
	cfg := authConfig(t)
	cfg.Network.Deny = "127.0.0.9"
	s, _, stop := start(t, cfg)
	pw, _ := os.ReadFile(filepath.Join(cfg.DataDir, adminPasswordFile))
	admin := creds{user: "admin", pass: strings.TrimSpace(string(pw))}
	addUser(t, s, "rd", "reader-pass", false, metadata.Grant{Pattern: "*", Role: "reader"})
	reader := creds{user: "rd", pass: "reader-pass"}

	steps := []netStep{
		{"config rules shown", "127.0.0.1", "GET", "/api/v1/network-rules", admin, "", 200, `"source":"config"`},
		{"config deny applies", "127.0.0.9", "GET", "/v2/", admin, "", 403, "127.0.0.9 is not allowed"},
		{"readers may not change rules", "127.0.0.1", "PUT", "/api/v1/network-rules", reader, `{"default_action":"allow"}`, 403, "DENIED"},
		{"anonymous may not", "127.0.0.1", "PUT", "/api/v1/network-rules", creds{}, `{"default_action":"allow"}`, 401, ""},
		{"bad entries named", "127.0.0.1", "PUT", "/api/v1/network-rules", admin,
			`{"default_action":"sometimes","allow":["127.0.0.1","10.0.0.1/8"]}`, 400, `allow[1]: entry \"10.0.0.1/8\": host bits are set; did you mean 10.0.0.0/8?`},
		{"unknown field", "127.0.0.1", "PUT", "/api/v1/network-rules", admin, `{"allowed":["127.0.0.1"]}`, 400, "unknown field"},
		{"own address refused", "127.0.0.1", "PUT", "/api/v1/network-rules", admin,
			`{"default_action":"deny","allow":["127.0.0.2"]}`, 409, "would refuse your own address (127.0.0.1)"},
		{"forced", "127.0.0.1", "PUT", "/api/v1/network-rules?force=true", admin,
			`{"default_action":"deny","allow":["127.0.0.2"]}`, 200, `"source":"api"`},
		{"locked out now", "127.0.0.1", "GET", "/v2/", admin, "", 403, "127.0.0.1 is not allowed"},
		{"allowed address in", "127.0.0.2", "GET", "/api/v1/network-rules", admin, "", 200, `"allow":["127.0.0.2/32"]`},
		{"stored rules replace config deny", "127.0.0.9", "GET", "/v2/", admin, "", 403, ""},
	}
	run := func(base string, steps []netStep) {
		for _, st := range steps {
			code, body := callFrom(t, st.src, st.method, base+st.path, st.c, st.body)
			if code != st.status || !strings.Contains(body, st.want) {
				t.Errorf("%s: %d %s; want %d containing %s", st.name, code, body, st.status, st.want)
			}
		}
	}
	run(s.URL(), steps)

	// A restart keeps the stored rules.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	s, _, _ = start(t, cfg)
	run(s.URL(), []netStep{
		{"still locked out after restart", "127.0.0.1", "GET", "/v2/", admin, "", 403, ""},
		{"still in after restart", "127.0.0.2", "GET", "/api/v1/network-rules", admin, "", 200, `"updatedBy":"admin"`},
		{"cleared", "127.0.0.2", "DELETE", "/api/v1/network-rules", admin, "", 200, `"source":"config"`},
		{"config rules back", "127.0.0.1", "GET", "/v2/", admin, "", 200, ""},
		{"config deny back", "127.0.0.9", "GET", "/v2/", admin, "", 403, ""},
	})

	recs, err := s.meta.(metadata.AuditLog).AuditRecords(context.Background(), metadata.AuditQuery{Action: auditNetworkRules})
	if err != nil || len(recs) != 2 {
		t.Fatalf("audit: %d records, %v; want 2 (the forced set, the clear)", len(recs), err)
	}
	if r := recs[1]; r.Actor != "admin" || r.ClientIP != "127.0.0.1" || !bytes.Contains(r.Detail, []byte(`"forced":true`)) ||
		!bytes.Contains(r.Detail, []byte(`"old":{"default_action":"allow","allow":[],"deny":["127.0.0.9/32"]`)) {
		t.Errorf("set record %+v detail %s", r, r.Detail)
	}
}
