package match

import (
	"math/rand/v2"
	"testing"

	deb "github.com/knqyf263/go-deb-version"
)

// TestDpkgOrderAgreesWithLibrary compares debV.cmp with go-deb-version's
// Compare on hand-picked edge cases and on random versions built from the
// characters that matter (digits, letters, '~', '+', '.', '-', epochs).
func TestDpkgOrderAgreesWithLibrary(t *testing.T) {
	pairs := [][2]string{
		{"1.0", "1.0"}, {"1.0", "1.0-0"}, {"1.0~rc1", "1.0"}, {"1.0~rc1", "1.0~rc1~"}, {"1.0~", "1.0"},
		{"1:1.0", "2.0"}, {"0:2.0", "2.0"}, {"1.0a", "1.0+"}, {"1.0+b1", "1.0"}, {"1.01", "1.1"},
		{"1.0-1", "1.0-1+deb12u1"}, {"3.0.11-1~deb12u2", "3.0.11-1"}, {"2.36-9+deb12u4", "2.36-9+deb12u10"},
		{"1.2.3-0ubuntu1.10", "1.2.3-0ubuntu1.9"}, {"10", "9"}, {"a", "b"}, {"1.0-a", "1.0-A"},
	}
	rng := rand.New(rand.NewPCG(7, 8))
	const alphabet = "0123456789.~+abzAZ"
	gen := func() string {
		s := ""
		if rng.IntN(4) == 0 {
			s = string(rune('0'+rng.IntN(3))) + ":"
		}
		s += string(rune('0' + rng.IntN(10)))
		for range rng.IntN(8) {
			s += string(alphabet[rng.IntN(len(alphabet))])
		}
		if rng.IntN(2) == 0 {
			s += "-" + string(rune('0'+rng.IntN(10)))
			for range rng.IntN(4) {
				s += string(alphabet[rng.IntN(len(alphabet))])
			}
		}
		return s
	}
	for range 20000 {
		pairs = append(pairs, [2]string{gen(), gen()})
	}
	checked := 0
	for _, p := range pairs {
		la, err1 := deb.NewVersion(p[0])
		lb, err2 := deb.NewVersion(p[1])
		a, err3 := parseDeb(p[0])
		b, err4 := parseDeb(p[1])
		if (err1 == nil) != (err3 == nil) || (err2 == nil) != (err4 == nil) {
			t.Fatalf("%q %q: validity differs", p[0], p[1])
		}
		if err1 != nil || err2 != nil {
			continue
		}
		checked++
		if want, got := la.Compare(lb), a.cmp(b); sign(want) != got {
			t.Fatalf("cmp(%q, %q) = %d, library says %d", p[0], p[1], got, want)
		}
	}
	if checked < 10000 {
		t.Fatalf("only %d valid pairs compared", checked)
	}
}
