package authz

import (
	"regexp"
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
