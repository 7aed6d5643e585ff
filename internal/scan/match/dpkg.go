package match

import (
	"fmt"

	deb "github.com/knqyf263/go-deb-version"
)

// debV is a dpkg version split once. go-deb-version validates and splits;
// comparison is dpkg's own verrevcmp (lib/dpkg/version.c) on the split
// parts, because the library re-tokenises both strings with regular
// expressions on every Compare, which made re-matching 10,000 Debian
// inventories spend 80% of its time in regexp (see BenchmarkRematch).
// TestDpkgOrderAgreesWithLibrary checks the two orders agree.
type debV struct {
	epoch              int
	upstream, revision string
}

func (a debV) cmp(o version) int {
	b := o.(debV)
	switch {
	case a.epoch < b.epoch:
		return -1
	case a.epoch > b.epoch:
		return 1
	}
	if c := verrevcmp(a.upstream, b.upstream); c != 0 {
		return c
	}
	return verrevcmp(a.revision, b.revision)
}

func parseDeb(s string) (version, error) {
	v, err := deb.NewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("dpkg version %q: %w", s, err)
	}
	return debV{epoch: v.Epoch(), upstream: v.Version(), revision: v.Revision()}, nil
}

// order is dpkg's character weight: '~' before everything, even the end of
// the string; letters before other symbols.
func order(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	case c != 0:
		return int(c) + 256
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// verrevcmp compares alternating non-digit and digit runs, as dpkg does.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isDigit(a[i]) || j < len(b) && !isDigit(b[j]) {
			ac, bc := order(at(a, i)), order(at(b, j))
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		firstDiff := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
