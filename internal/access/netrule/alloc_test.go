package netrule

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// Deciding and resolving the client run on every request: they must not
// allocate, rules or no rules, proxy or none.
func TestPerRequestWorkAllocatesNothing(t *testing.T) {
	rules, err := Spec{DefaultAction: "deny", Allow: []string{"10.0.0.0/8", "2001:db8::/32", "127.0.0.0/8"},
		Deny: []string{"10.66.0.0/16"}, TrustedProxies: []string{"127.0.0.3"}}.Rules()
	if err != nil {
		t.Fatal(err)
	}
	direct := httptest.NewRequest("GET", "/v2/", nil)
	direct.RemoteAddr = "127.0.0.1:40000"
	proxied := httptest.NewRequest("GET", "/v2/", nil)
	proxied.RemoteAddr = "127.0.0.3:40000"
	proxied.Header.Set("X-Forwarded-For", "192.0.2.1, 10.1.2.3")
	for name, f := range map[string]func() bool{
		"decide":          func() bool { return rules.Decide(netip.MustParseAddr("10.1.2.3")) == Allow },
		"decide, denied":  func() bool { return rules.Decide(netip.MustParseAddr("10.66.0.1")) == Deny },
		"client, direct":  func() bool { return ClientIP(direct, rules.TrustedProxies) == netip.MustParseAddr("127.0.0.1") },
		"client, proxied": func() bool { return ClientIP(proxied, rules.TrustedProxies) == netip.MustParseAddr("10.1.2.3") },
	} {
		if !f() {
			t.Errorf("%s: wrong answer", name)
		}
		if n := testing.AllocsPerRun(100, func() { f() }); n != 0 {
			t.Errorf("%s: %.0f allocations", name, n)
		}
	}
}
