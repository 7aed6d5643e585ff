package authz

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMatch checks the glob against a regular expression built from the
// same pattern.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"team/*", "team/a/b"}, {"*a*b", "xaxb"}, {"a**", "a"}, {"", ""}, {"*", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		// Patterns are ASCII (ValidPattern); the regexp needs UTF-8.
		if len(pattern) > 64 || len(name) > 256 || !utf8.ValidString(pattern) || !utf8.ValidString(name) {
			return
		}
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re := regexp.MustCompile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
		if got, want := Match(pattern, name), re.MatchString(name); got != want {
			t.Fatalf("Match(%q, %q) = %v, regexp says %v", pattern, name, got, want)
		}
	})
}

// FuzzParseTokenGrant: no input panics; an accepted grant has a valid
// pattern and known actions, each once, in the documented order.
func FuzzParseTokenGrant(f *testing.F) {
	for _, s := range []string{"ci/*=pull,push", "*=metadata:read", "x=pull,pull", "=pull", "a=", "a=own", "a=pull,,push", "A=pull"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseTokenGrant(s)
		if err != nil {
			return
		}
		if ValidPattern(g.Pattern) != nil || len(g.Actions) == 0 {
			t.Fatalf("ParseTokenGrant(%q) = %+v", s, g)
		}
		last := -1
		for _, a := range g.Actions {
			i := slices.Index(TokenActions, a)
			if i <= last {
				t.Fatalf("ParseTokenGrant(%q): actions %v unknown, repeated or out of order", s, g.Actions)
			}
			last = i
		}
	})
}
