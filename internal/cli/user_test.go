package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	berth := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append(args, "--data-dir", dir), &out, &errb, noEnv)
		return out.String(), errb.String(), code
	}
	steps := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"user", "add", "alice", "--grant", "team/*=writer", "--password-file", pwFile}, ExitOK, "created user alice\n"},
		{[]string{"user", "add", "bob", "--grant", "*=reader"}, ExitOK, "password: "},
		{[]string{"user", "add", "alice", "--password-file", pwFile}, ExitError, ""},
		{[]string{"user", "add", "carol", "--grant", "team=owner"}, ExitUsage, ""},
		{[]string{"user", "add", "-bad"}, ExitUsage, ""},
		{[]string{"user", "disable", "bob"}, ExitOK, "disabled user bob\n"},
		{[]string{"user", "grant", "alice", "lib/x=reader"}, ExitOK, "updated the grants of alice\n"},
		{[]string{"user", "disable", "nobody"}, ExitError, ""},
		{[]string{"user", "list"}, ExitOK, "alice  enabled"},
	}
	for _, s := range steps {
		out, errOut, code := berth(s.args...)
		if code != s.wantCode || !strings.Contains(out, s.wantOut) {
			t.Errorf("berth %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(s.args, " "), code, out, errOut, s.wantCode, s.wantOut)
		}
	}
	out, _, _ := berth("user", "list")
	for _, want := range []string{"team/*=writer,lib/x=reader", "bob    disabled"} {
		if !strings.Contains(out, want) {
			t.Errorf("user list lacks %q:\n%s", want, out)
		}
	}

	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "berth.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	alice, err := db.User(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(alice.PasswordHash, "s3cret") || !authn.VerifyPassword(alice.PasswordHash, "s3cret-pass") {
		t.Errorf("stored hash %q does not verify the password or contains it", alice.PasswordHash)
	}
	if err := os.WriteFile(pwFile, []byte("another-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := berth("user", "passwd", "alice", "--password-file", pwFile); code != ExitOK {
		t.Fatalf("passwd: exit %d: %s", code, errOut)
	}
	alice, _ = db.User(context.Background(), "alice")
	if !authn.VerifyPassword(alice.PasswordHash, "another-pass") || authn.VerifyPassword(alice.PasswordHash, "s3cret-pass") {
		t.Error("passwd did not replace the password")
	}
}
