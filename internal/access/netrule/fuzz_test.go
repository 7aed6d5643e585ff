package netrule

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "2001:db8::/32", "127.0.0.1", "::ffff:10.0.0.0/104", "10.0.0.1/8", "fe80::1%eth0", "", "/", "::/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p.Masked() != p || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("ParsePrefix(%q) = %v: not a canonical prefix", s, p)
		}
		// The canonical form parses back to itself.
		if q, err := ParsePrefix(p.String()); err != nil || q != p {
			t.Fatalf("reparse of %v = %v, %v", p, q, err)
		}
	})
}

func FuzzClientIP(f *testing.F) {
	f.Add("127.0.0.3:1", "198.51.100.7, 10.0.0.5", `for="[2001:db8::7]:4711";proto=https, for=10.0.0.5`)
	f.Add("127.0.0.2:1", "1.2.3.4", "for=1.2.3.4")
	f.Add("127.0.0.3:1", ",,,", `for="\"`)
	f.Add("[::ffff:127.0.0.3]:1", "[::1]:80", `for=_x;for=unknown`)
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32"), netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("Forwarded", fwd)
		got := ClientIP(r, trusted)
		if got.Is4In6() || got.Zone() != "" {
			t.Fatalf("ClientIP = %v: not normalised", got)
		}
		peer := peerAddr(remote)
		if !contains(trusted, peer) && got != peer {
			t.Fatalf("untrusted peer %v: ClientIP = %v, headers must be ignored", peer, got)
		}
		if got.IsValid() && contains(trusted, got) && got != peer {
			t.Fatalf("ClientIP = %v: a trusted hop other than the peer", got)
		}
	})
}
