package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/metadata"
)

const auditUA = "audit-test/1.0"

// send makes one request with Basic credentials and a known user agent.
func send(t *testing.T, method, url string, c creds, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", auditUA)
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// pushImage pushes a one-layer image with raw OCI API calls.
func pushImage(t *testing.T, base, repo, tag string, c creds) digest.Digest {
	t.Helper()
	var descs []string
	for _, b := range [][]byte{[]byte(`{}`), []byte("layer of " + repo)} {
		d := digest.FromBytes(b)
		st, body := send(t, http.MethodPost, fmt.Sprintf("%s/v2/%s/blobs/uploads/?digest=%s", base, repo, d), c, "application/octet-stream", b)
		if st != http.StatusCreated {
			t.Fatalf("blob upload: %d %s", st, body)
		}
		descs = append(descs, fmt.Sprintf(`{"mediaType":"%%s","digest":"%s","size":%d}`, d, len(b)))
	}
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}`,
		fmt.Sprintf(descs[0], "application/vnd.oci.image.config.v1+json"), fmt.Sprintf(descs[1], "application/vnd.oci.image.layer.v1.tar")))
	st, body := send(t, http.MethodPut, fmt.Sprintf("%s/v2/%s/manifests/%s", base, repo, tag), c, "application/vnd.oci.image.manifest.v1+json", m)
	if st != http.StatusCreated {
		t.Fatalf("manifest put: %d %s", st, body)
	}
	return digest.FromBytes(m)
}

// auditQuery calls GET /api/v1/audit?query as c.
func auditQuery(t *testing.T, base, query string, c creds) api.AuditList {
	t.Helper()
	st, body := send(t, http.MethodGet, base+"/api/v1/audit?"+query, c, "", nil)
	if st != http.StatusOK {
		t.Fatalf("GET /api/v1/audit?%s: %d %s", query, st, body)
	}
	var out api.AuditList
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuditFromARealServer(t *testing.T) {
	cfg := authConfig(t)
	cfg.Audit.File = filepath.Join(t.TempDir(), "audit.jsonl")
	s, _, stop := start(t, cfg)
	base := s.URL()
	pw, err := os.ReadFile(filepath.Join(cfg.DataDir, adminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	admin := creds{user: "admin", pass: strings.TrimSpace(string(pw))}
	addUser(t, s, "wr", "writer-pass", false, metadata.Grant{Pattern: "team/*", Role: "writer"})
	writer := creds{user: "wr", pass: "writer-pass"}

	// A failed login at the token endpoint.
	const wrongPassword = "wrong-secret-pw"
	if st, _ := send(t, http.MethodGet, base+"/token?service=berth", creds{user: "wr", pass: wrongPassword}, "", nil); st != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", st)
	}
	dgst := pushImage(t, base, "team/app", "1.0", writer)
	// A refusal: the writer has no right on other/x.
	if st, _ := send(t, http.MethodGet, base+"/v2/other/x/manifests/1.0", writer, "", nil); st != http.StatusForbidden {
		t.Fatalf("writer pull of other/x: %d, want 403", st)
	}
	// Only an administrator reads the audit log.
	if st, _ := send(t, http.MethodGet, base+"/api/v1/audit", writer, "", nil); st != http.StatusForbidden {
		t.Errorf("writer GET /api/v1/audit: %d, want 403", st)
	}

	// The push reaches the log through the relay, woken by the PUT.
	var push metadata.AuditRecord
	deadline := time.Now().Add(5 * time.Second)
	for push.ID == 0 {
		if recs := auditQuery(t, base, "action=manifest.pushed&repo=team/app", admin).Records; len(recs) > 0 {
			push = recs[0]
		} else if time.Now().After(deadline) {
			t.Fatal("no manifest.pushed record within 5s")
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if push.Actor != "wr" || push.ClientIP != "127.0.0.1" || push.Reference != "1.0" || push.Result != metadata.AuditOK ||
		!strings.Contains(string(push.Detail), dgst.String()) {
		t.Errorf("push record = %+v; want actor wr from 127.0.0.1, tag 1.0, digest %s", push, dgst)
	}

	logins := auditQuery(t, base, "action=login&actor=wr", admin).Records
	var failed, ok int
	for _, r := range logins {
		if strings.Contains(string(r.Detail), wrongPassword) || strings.Contains(string(r.Detail), "writer-pass") {
			t.Errorf("a login record holds a password: %+v", r)
		}
		if r.ClientIP != "127.0.0.1" || r.UserAgent != auditUA {
			t.Errorf("login record without client IP or user agent: %+v", r)
		}
		switch r.Result {
		case metadata.AuditFailed:
			failed++
		case metadata.AuditOK:
			ok++
		}
	}
	// The push sent Basic credentials on every request; the login cache
	// answered all but the first, which alone is a login.
	if failed != 1 || ok != 1 {
		t.Errorf("wr logins: %d failed, %d ok; want 1 and 1: %+v", failed, ok, logins)
	}
	denied := auditQuery(t, base, "action=request.denied&actor=wr", admin).Records
	// Newest first: the refused audit query, then the refused pull.
	if len(denied) != 2 || !strings.Contains(string(denied[0].Detail), `"path":"/api/v1/audit"`) ||
		denied[1].Repo != "other/x" || !strings.Contains(string(denied[1].Detail), `"status":403`) {
		t.Errorf("denied records = %+v; want the 403s on /api/v1/audit and other/x", denied)
	}
	denied = auditQuery(t, base, "action=request.denied&repo=other/x", admin).Records
	if len(denied) != 1 {
		t.Errorf("repo filter on denied: %+v", denied)
	}

	// Paging: one record per page, newest first, until Next is 0.
	all := auditQuery(t, base, "since=1h", admin).Records
	var paged []int64
	for last := int64(0); ; {
		q := "n=1"
		if last > 0 {
			q += fmt.Sprintf("&last=%d", last)
		}
		page := auditQuery(t, base, q, admin)
		for _, r := range page.Records {
			paged = append(paged, r.ID)
		}
		if page.Next == 0 || len(paged) > len(all)+5 {
			break
		}
		last = page.Next
	}
	if len(all) < 4 || len(paged) < len(all) {
		t.Errorf("paged %d records, listed %d at once (want at least 4)", len(paged), len(all))
	}
	for i := 1; i < len(paged); i++ {
		if paged[i] >= paged[i-1] {
			t.Errorf("pages not newest first: %v", paged)
			break
		}
	}
	if st, _ := send(t, http.MethodGet, base+"/api/v1/audit?since=yesterday", admin, "", nil); st != http.StatusBadRequest {
		t.Errorf("since=yesterday: %d, want 400", st)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// The JSON-lines file holds the same push.
	f, err := os.Open(cfg.Audit.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r metadata.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit file line %q: %v", sc.Text(), err)
		}
		if strings.Contains(sc.Text(), wrongPassword) {
			t.Errorf("the audit file holds a password: %s", sc.Text())
		}
		found = found || (r.ID == push.ID && r.Action == metadata.EventManifestPushed && r.Actor == "wr")
	}
	if !found {
		t.Error("the audit file has no line for the push")
	}
}

// A network rule refusal is recorded even though no one authenticated.
func TestAuditNetworkRefusal(t *testing.T) {
	cfg := testConfig(t)
	cfg.Network.DefaultAction = "deny"
	cfg.Network.Allow = "127.0.0.2/32"
	s, _, _ := start(t, cfg)
	if st, _ := send(t, http.MethodGet, s.URL()+"/v2/", creds{}, "", nil); st != http.StatusForbidden {
		t.Fatalf("refused client: %d, want 403", st)
	}
	recs, err := s.meta.(metadata.AuditLog).AuditRecords(t.Context(), metadata.AuditQuery{Action: "request.denied"})
	if err != nil || len(recs) != 1 || recs[0].ClientIP != "127.0.0.1" || recs[0].UserAgent != auditUA ||
		!strings.Contains(string(recs[0].Detail), "network rule") {
		t.Errorf("records = %+v, %v; want one network-rule refusal from 127.0.0.1", recs, err)
	}
}
