package e2e

import (
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
)

// digestOfString returns the sha256 digest of a client's raw output.
func digestOfString(s string) string { return digest.FromString(s).String() }

// lines splits output into sorted non-empty trimmed lines, so tag lists
// compare exactly regardless of the server's order.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}
