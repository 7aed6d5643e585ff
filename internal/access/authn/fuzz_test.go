package authn

import (
	"strings"
	"testing"
)

// FuzzParseSecret: no input panics; whatever parses has the generated
// shape (length, prefix, slot, URL-safe alphabet), so the slot index used
// on the stored hashes is always 1 or 2.
func FuzzParseSecret(f *testing.F) {
	s1, _ := GenerateSecret(1)
	s2, _ := GenerateSecret(2)
	for _, s := range []string{s1, s2, "", "brt", "brt1_", "brt0_" + s1[5:], "brt9_" + s1[5:], s1 + "=", strings.ToUpper(s1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		slot, err := ParseSecret(s)
		if err != nil {
			if slot != 0 {
				t.Fatalf("ParseSecret(%q) = %d with error %v", s, slot, err)
			}
			return
		}
		if slot != 1 && slot != 2 || len(s) != secretLen || !strings.HasPrefix(s, secretPrefix) || s[secretLen-secretRandLen-1] != '_' {
			t.Fatalf("ParseSecret(%q) accepted: slot %d", s, slot)
		}
		if strings.Trim(s[len(secretPrefix)+2:], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			t.Fatalf("ParseSecret(%q) accepted characters outside base64url", s)
		}
	})
}

// FuzzTokenName: a login name is a token name exactly when it has the
// prefix, and what follows is returned unchanged.
func FuzzTokenName(f *testing.F) {
	for _, s := range []string{"token$ci", "token$", "ci", "TOKEN$ci", "token$token$x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, ok := TokenName(s)
		if ok != strings.HasPrefix(s, TokenUserPrefix) || (ok && TokenUserPrefix+name != s) {
			t.Fatalf("TokenName(%q) = %q, %v", s, name, ok)
		}
	})
}
