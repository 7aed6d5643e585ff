package netrule

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.3/32"),
		netip.MustParsePrefix("10.0.0.0/24"),
		netip.MustParsePrefix("fd00::/8"),
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		fwd    []string
		want   string // "" is the zero Addr
	}{
		{"untrusted peer", "127.0.0.2:4000", nil, nil, "127.0.0.2"},
		{"untrusted peer forges xff", "127.0.0.2:4000", []string{"10.9.9.9"}, nil, "127.0.0.2"},
		{"untrusted peer forges forwarded", "127.0.0.2:4000", nil, []string{"for=10.9.9.9"}, "127.0.0.2"},
		{"peer ipv6", "[2001:db8::5]:80", nil, nil, "2001:db8::5"},
		{"peer mapped", "[::ffff:192.0.2.1]:80", nil, nil, "192.0.2.1"},
		{"peer zoned", "[fe80::1%lo]:80", nil, nil, "fe80::1"},
		{"peer garbage", "pipe", nil, nil, ""},
		{"trusted no header", "127.0.0.3:1", nil, nil, "127.0.0.3"},
		{"trusted xff", "127.0.0.3:1", []string{"198.51.100.7"}, nil, "198.51.100.7"},
		{"trusted xff spoofed left", "127.0.0.3:1", []string{"10.9.9.9, 198.51.100.7"}, nil, "198.51.100.7"},
		{"trusted hops skipped", "127.0.0.3:1", []string{"6.6.6.6, 198.51.100.7, 10.0.0.5, 10.0.0.9"}, nil, "198.51.100.7"},
		{"several xff lines", "127.0.0.3:1", []string{"6.6.6.6", "198.51.100.7, 10.0.0.5"}, nil, "198.51.100.7"},
		{"xff with port", "127.0.0.3:1", []string{"198.51.100.7:5555"}, nil, "198.51.100.7"},
		{"xff bracketed v6", "127.0.0.3:1", []string{"[2001:db8::7]"}, nil, "2001:db8::7"},
		{"xff mapped", "127.0.0.3:1", []string{"::ffff:198.51.100.7"}, nil, "198.51.100.7"},
		{"xff malformed rightmost", "127.0.0.3:1", []string{"198.51.100.7, nonsense"}, nil, "127.0.0.3"},
		{"xff empty entry", "127.0.0.3:1", []string{"198.51.100.7,"}, nil, "127.0.0.3"},
		{"xff all trusted", "127.0.0.3:1", []string{"10.0.0.5, 10.0.0.6"}, nil, "127.0.0.3"},
		{"xff zoned refused", "127.0.0.3:1", []string{"fe80::1%eth0"}, nil, "127.0.0.3"},
		{"forwarded", "127.0.0.3:1", nil, []string{"for=198.51.100.7;proto=https"}, "198.51.100.7"},
		{"forwarded case", "127.0.0.3:1", nil, []string{"For=198.51.100.7"}, "198.51.100.7"},
		{"forwarded quoted v6 port", "127.0.0.3:1", nil, []string{`for="[2001:db8::7]:4711"`}, "2001:db8::7"},
		{"forwarded unquoted v6 refused", "127.0.0.3:1", nil, []string{`for=[2001:db8::7]`}, "127.0.0.3"},
		{"forwarded chain", "127.0.0.3:1", nil, []string{`for=6.6.6.6, for=198.51.100.7;by=x, for="10.0.0.5"`}, "198.51.100.7"},
		{"forwarded quoted comma", "127.0.0.3:1", nil, []string{`for=198.51.100.7;host="a,b", for=10.0.0.5`}, "198.51.100.7"},
		{"forwarded unknown", "127.0.0.3:1", nil, []string{`for=198.51.100.7, for=unknown`}, "127.0.0.3"},
		{"forwarded obfuscated", "127.0.0.3:1", nil, []string{`for=_hidden`}, "127.0.0.3"},
		{"forwarded no for", "127.0.0.3:1", nil, []string{`proto=https`}, "127.0.0.3"},
		{"forwarded twice for", "127.0.0.3:1", nil, []string{`for=1.1.1.1;for=2.2.2.2`}, "127.0.0.3"},
		{"both agree", "127.0.0.3:1", []string{"198.51.100.7"}, []string{"for=198.51.100.7"}, "198.51.100.7"},
		{"both disagree", "127.0.0.3:1", []string{"198.51.100.7"}, []string{"for=10.9.9.9"}, ""},
		{"only one usable", "127.0.0.3:1", []string{"198.51.100.7"}, []string{"for=unknown"}, "198.51.100.7"},
		{"trusted v6 peer", "[fd00::1]:1", []string{"2001:db8::9"}, nil, "2001:db8::9"},
		{"trusted mapped peer", "[::ffff:127.0.0.3]:1", []string{"198.51.100.7"}, nil, "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v2/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.fwd {
				r.Header.Add("Forwarded", v)
			}
			got := ClientIP(r, trusted)
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Fatalf("ClientIP = %v, want %v", got, want)
			}
		})
	}
}

func TestClientIPBoundsHops(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	// The client sits behind more trusted hops than are examined.
	h := "198.51.100.7"
	for range maxHops + 1 {
		h += ", 10.1.1.1"
	}
	r.Header.Set("X-Forwarded-For", h)
	if got := ClientIP(r, trusted); got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("ClientIP = %v, want the peer when the chain is too long", got)
	}
}
