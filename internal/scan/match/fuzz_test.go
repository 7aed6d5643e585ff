package match

import "testing"

// FuzzVersionOrders checks every ecosystem's order on arbitrary strings: no
// panic, and cmp is antisymmetric and reflexive where both parse.
func FuzzVersionOrders(f *testing.F) {
	for _, s := range [][2]string{
		{"1:2.3-1", "2.3~rc1-1"}, {"3.1.4-r3", "3.1.4_rc1-r0"}, {"v1.2.3", "0.0.0-20220906165146-f3363e06e74c"},
		{"4.17.21-beta.1", "4.17.21"}, {"4.1rc1", "4.0.8.post1"}, {"2.0-beta9", "2.0"}, {"1.0-1.el9", "1:0.9-2.el9"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for eco, parse := range orders {
			va, errA := parse(a)
			vb, errB := parse(b)
			if errA != nil || errB != nil {
				continue
			}
			if c1, c2 := va.cmp(vb), vb.cmp(va); sign(c1) != -sign(c2) {
				t.Fatalf("%s: cmp(%q,%q)=%d but cmp(%q,%q)=%d", eco, a, b, c1, b, a, c2)
			}
			if va.cmp(va) != 0 {
				t.Fatalf("%s: %q != itself", eco, a)
			}
		}
	})
}
