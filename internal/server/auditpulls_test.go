package server

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/metadata"
)

// pullFrom GETs (or HEADs) url from the loopback address src as c with
// user agent ua and returns the status.
func pullFrom(t *testing.T, src, method, url string, c creds, ua string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := fromAddr(src).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAuditPulls(t *testing.T) {
	cfg := authConfig(t)
	cfg.Audit.PullWindow = 500 * time.Millisecond
	s, _, _ := start(t, cfg)
	base := s.URL()
	pw, err := os.ReadFile(filepath.Join(cfg.DataDir, adminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	admin := creds{user: "admin", pass: strings.TrimSpace(string(pw))}
	addUser(t, s, "alice", "alice-pass", false, metadata.Grant{Pattern: "team/*", Role: "writer"})
	addUser(t, s, "bob", "bob-pass", false, metadata.Grant{Pattern: "team/*", Role: "reader"})
	alice, bob := creds{user: "alice", pass: "alice-pass"}, creds{user: "bob", pass: "bob-pass"}
	dgst := pushImage(t, base, "team/app", "1.0", alice)

	manifest := base + "/v2/team/app/manifests/"
	steps := []struct {
		src, method, url string
		c                creds
		ua               string
	}{
		{"127.0.0.1", http.MethodGet, manifest + "1.0", alice, "alice-ua/1"},
		{"127.0.0.1", http.MethodGet, manifest + dgst.String(), alice, "alice-ua/1"},
		{"127.0.0.1", http.MethodGet, manifest + "1.0", alice, "alice-ua/2"},
		{"127.0.0.2", http.MethodGet, manifest + "1.0", bob, "bob-ua/1"},
		// Neither a HEAD nor a blob GET is a pull.
		{"127.0.0.2", http.MethodHead, manifest + "1.0", bob, "bob-ua/1"},
		{"127.0.0.2", http.MethodGet, base + "/v2/team/app/blobs/" + dgst.String(), bob, "bob-ua/1"},
	}
	for _, st := range steps {
		if code := pullFrom(t, st.src, st.method, st.url, st.c, st.ua); code != http.StatusOK && code != http.StatusNotFound {
			t.Fatalf("%s %s as %s: %d", st.method, st.url, st.c.user, code)
		}
	}

	type detail struct {
		Digest string `json:"digest"`
		Count  int    `json:"count"`
	}
	var recs []metadata.AuditRecord
	for deadline := time.Now().Add(10 * time.Second); len(recs) < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pull records after 10s: %+v; want 2", recs)
		}
		recs = auditQuery(t, base, "action="+audit.ActionPulled+"&repo=team/app", admin).Records
	}
	want := map[string]struct {
		ip, ua, ref string
		count       int
	}{
		"alice": {"127.0.0.1", "alice-ua/2", "1.0", 3},
		"bob":   {"127.0.0.2", "bob-ua/1", "1.0", 1},
	}
	if len(recs) != len(want) {
		t.Errorf("%d pull records, want %d: %+v", len(recs), len(want), recs)
	}
	for _, r := range recs {
		w, ok := want[r.Actor]
		var d detail
		_ = json.Unmarshal(r.Detail, &d)
		if !ok || r.ClientIP != w.ip || r.UserAgent != w.ua || r.Reference != w.ref || r.Result != metadata.AuditOK ||
			d.Digest != dgst.String() || d.Count != w.count {
			t.Errorf("record %+v (detail %s); want %+v with digest %s", r, r.Detail, w, dgst)
		}
	}
	// The actor filter finds them too.
	if got := auditQuery(t, base, "action="+audit.ActionPulled+"&actor=bob", admin).Records; len(got) != 1 {
		t.Errorf("actor=bob: %d records, want 1", len(got))
	}
}
