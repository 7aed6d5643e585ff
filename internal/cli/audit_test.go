package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/server/servertest"
)

// TestAudit pushes to a real server and finds the push through `berth
// audit`, filtered, in JSON and as a table.
func TestAudit(t *testing.T) {
	s := servertest.Start(t, servertest.Config(t))
	c, err := remote.New(s.URL(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := push(t, c, "team/audited", "one", "", nil, "v1")
	push(t, c, "team/other", "two", "", nil, "v1")

	// Audit records come from the outbox through the relay, a moment after
	// the push was acknowledged.
	var recs []metadata.AuditRecord
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out, errb bytes.Buffer
		code := Run(context.Background(), []string{"audit", "--registry", s.URL(), "--repo", "team/audited",
			"--action", "manifest.pushed", "--since", "1h", "-o", "json"}, &out, &errb)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if err := json.Unmarshal(out.Bytes(), &recs); err != nil {
			t.Fatalf("decoding %q: %v", out.String(), err)
		}
		if len(recs) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(recs) != 1 {
		t.Fatalf("records = %+v, want the one push to team/audited", recs)
	}
	if r := recs[0]; r.Repo != "team/audited" || r.Action != "manifest.pushed" || r.Result != "ok" || r.ClientIP != "127.0.0.1" {
		t.Errorf("record = %+v", r)
	}
	if !strings.Contains(string(recs[0].Detail), d.String()) {
		t.Errorf("detail %s does not name the pushed digest %s", recs[0].Detail, d)
	}

	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"audit", "--registry", s.URL(), "--repo", "team/audited"}, &out, &errb); code != 0 {
		t.Fatalf("table: exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(out.String(), "manifest.pushed") ||
		strings.Contains(out.String(), "team/other") {
		t.Errorf("table:\n%s", out.String())
	}

	for _, bad := range [][]string{{"audit", "-o", "yaml"}, {"audit", "--registry", "127.0.0.1:5000"}, {"audit", "--registry", s.URL(), "--since", "yesterday"}} {
		var o, e bytes.Buffer
		if code := Run(context.Background(), bad, &o, &e); code == 0 {
			t.Errorf("%v: exit 0, want an error", bad)
		}
	}
}

// TestAPICredentials checks that the CLI's API client sends the account of
// BERTH_USERNAME/BERTH_PASSWORD to a server with authentication on, and
// that without them the server's refusal reaches the user.
func TestAPICredentials(t *testing.T) {
	cfg := servertest.Config(t)
	cfg.Auth.Enabled = true
	s := servertest.Start(t, cfg)
	pw, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin-password"))
	if err != nil {
		t.Fatalf("first-run admin password: %v", err)
	}

	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"audit", "--registry", s.URL()}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "401") {
		t.Fatalf("without credentials: exit %d, stderr %q; want a 401 refusal", code, errb.String())
	}
	t.Setenv("BERTH_USERNAME", "admin")
	t.Setenv("BERTH_PASSWORD", "wrong")
	errb.Reset()
	if code := Run(context.Background(), []string{"audit", "--registry", s.URL()}, &out, &errb); code == 0 {
		t.Fatalf("with a wrong password: exit 0")
	}
	t.Setenv("BERTH_PASSWORD", strings.TrimSpace(string(pw)))
	out.Reset()
	errb.Reset()
	if code := Run(context.Background(), []string{"audit", "--registry", s.URL(), "--action", "login", "-o", "json"}, &out, &errb); code != 0 {
		t.Fatalf("with the admin's credentials: exit %d: %s", code, errb.String())
	}
	var recs []metadata.AuditRecord
	if err := json.Unmarshal(out.Bytes(), &recs); err != nil {
		t.Fatal(err)
	}
	failed := false
	for _, r := range recs {
		failed = failed || (r.Action == "login" && r.Result == "failed" && r.Actor == "admin")
	}
	if !failed {
		t.Errorf("the wrong password is not in the audit log as a failed login: %+v", recs)
	}
}
