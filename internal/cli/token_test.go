package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access/manage"
	"github.com/berth-registry/berth/internal/server/servertest"
)

// TestTokenCommands drives berth token and berth keys against a real
// server with authentication on.
func TestTokenCommands(t *testing.T) {
	cfg := servertest.Config(t)
	cfg.Auth.Enabled = true
	s := servertest.Start(t, cfg)
	pw, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BERTH_USERNAME", "admin")
	t.Setenv("BERTH_PASSWORD", strings.TrimSpace(string(pw)))
	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append(args, "--registry", s.URL()), &out, &errb)
		return out.String(), errb.String(), code
	}
	out, errs, code := run("token", "create", "ci", "--grant", "team/*=pull,push", "--cidr", "10.0.0.0/8", "--expires", "24h")
	m := regexp.MustCompile(`(?m)^password1: (brt1_\S+)$`).FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, "password2: brt2_") {
		t.Fatalf("create: exit %d, %q %q", code, out, errs)
	}
	for _, bad := range [][]string{
		{"token", "create", "x"},                     // no grant
		{"token", "create", "x", "--grant", "a=own"}, // unknown action
		{"token", "create", "x", "--grant", "a=pull", "--expires", "-1h"},
		{"token", "rotate", "ci", "--password", "3"},
	} {
		if _, _, code := run(bad...); code == 0 {
			t.Errorf("%v: exit 0", bad)
		}
	}
	out, _, code = run("token", "list", "-o", "json")
	var list []manage.Token
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].CIDRs[0] != "10.0.0.0/8" || list[0].Expires == nil {
		t.Fatalf("list: exit %d %s", code, out)
	}
	if _, _, code = run("token", "rotate", "ci", "--password", "2"); code != 0 {
		t.Error("rotate failed")
	}
	if _, _, code = run("token", "disable", "ci"); code != 0 {
		t.Error("disable failed")
	}
	out, _, _ = run("token", "list")
	if !strings.Contains(out, "disabled") || !strings.Contains(out, "team/*=pull,push") {
		t.Errorf("table after disable:\n%s", out)
	}
	if _, _, code = run("token", "enable", "ci"); code != 0 {
		t.Error("enable failed")
	}
	// The CIDR binding holds: this client is 127.0.0.1, not in 10.0.0.0/8.
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/token?service=berth", nil)
	req.SetBasicAuth("token$ci", m[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token bound to 10.0.0.0/8 used from 127.0.0.1: %d", resp.StatusCode)
	}
	if _, _, code = run("token", "delete", "ci"); code != 0 {
		t.Error("delete failed")
	}
	if _, errs, code = run("token", "delete", "ci"); code == 0 || !strings.Contains(errs, "404") {
		t.Errorf("deleting twice: exit %d %q", code, errs)
	}

	out, _, code = run("keys", "rotate")
	if code != 0 || !strings.HasPrefix(out, "signing key is now ") {
		t.Fatalf("keys rotate: %d %q", code, out)
	}
	out, _, _ = run("keys", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasSuffix(lines[1], "true") {
		t.Errorf("keys list after rotation:\n%s", out)
	}
}
