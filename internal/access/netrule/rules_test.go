package netrule

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{" 192.168.1.0/24 ", "192.168.1.0/24", ""},
		{"2001:db8::/32", "2001:db8::/32", ""},
		{"127.0.0.2", "127.0.0.2/32", ""},
		{"::1", "::1/128", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"::ffff:10.1.2.3", "10.1.2.3/32", ""},
		{"0.0.0.0/0", "0.0.0.0/0", ""},
		{"::/0", "::/0", ""},
		{"10.0.0.1/8", "", "did you mean 10.0.0.0/8"},
		{"2001:db8::1/32", "", "did you mean 2001:db8::/32"},
		{"::ffff:0.0.0.0/80", "", "/96 or longer"},
		{"10.0.0.0/33", "", "not a CIDR prefix"},
		{"10.0.0/8", "", "not a CIDR prefix"},
		{"010.0.0.1", "", "not an IP address"},
		{"example.com", "", "not an IP address"},
		{"fe80::1%eth0", "", "zoned"},
		{"fe80::%eth0/64", "", "not a CIDR prefix"},
		{"", "", "empty"},
		{"   ", "", "empty"},
		{strings.Repeat("1", 100), "", "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePrefix(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePrefix(%q) = %v, %v; want error containing %q", tt.in, p, err, tt.wantErr)
				}
				return
			}
			if err != nil || p.String() != tt.want {
				t.Fatalf("ParsePrefix(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
			}
		})
	}
}

func TestSpecErrorsNameEveryEntry(t *testing.T) {
	_, err := Spec{
		DefaultAction:  "block",
		Allow:          []string{"10.0.0.0/8", "10.0.0.1/8"},
		Deny:           []string{"bogus"},
		TrustedProxies: []string{"127.0.0.3", "::1/200"},
	}.Rules()
	if err == nil {
		t.Fatal("no error for an invalid spec")
	}
	for _, want := range []string{`"block"`, `allow[1]: entry "10.0.0.1/8"`, `deny[0]: entry "bogus"`, `trusted_proxies[1]: entry "::1/200"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "allow[0]") || strings.Contains(err.Error(), "trusted_proxies[0]") {
		t.Errorf("error %q blames a valid entry", err)
	}
}

func TestSpecRoundTrip(t *testing.T) {
	in := Spec{
		DefaultAction:  "deny",
		Allow:          []string{"10.0.0.0/8", "2001:db8::/32"},
		Deny:           []string{"10.9.0.0/16"},
		TrustedProxies: []string{"127.0.0.3/32"},
	}
	r, err := in.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Spec(); !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip: got %+v, want %+v", got, in)
	}
}

func mustRules(t *testing.T, s Spec) *Rules {
	t.Helper()
	r, err := s.Rules()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDecide(t *testing.T) {
	denyDefault := mustRules(t, Spec{
		DefaultAction: "deny",
		Allow:         []string{"10.0.0.0/8", "2001:db8::/32", "127.0.0.2"},
		Deny:          []string{"10.66.0.0/16", "2001:db8:bad::/48"},
	})
	allowDefault := mustRules(t, Spec{Deny: []string{"192.0.2.0/24"}})
	allowOnly := mustRules(t, Spec{Allow: []string{"10.0.0.0/8"}})
	tests := []struct {
		name  string
		rules *Rules
		ip    string
		want  Action
	}{
		{"allow list", denyDefault, "10.1.2.3", Allow},
		{"deny wins over allow", denyDefault, "10.66.1.1", Deny},
		{"default deny", denyDefault, "192.168.1.1", Deny},
		{"single address", denyDefault, "127.0.0.2", Allow},
		{"neighbour of single address", denyDefault, "127.0.0.3", Deny},
		{"ipv6 allow", denyDefault, "2001:db8:1::1", Allow},
		{"ipv6 deny wins", denyDefault, "2001:db8:bad::1", Deny},
		{"mapped ipv4 is ipv4", denyDefault, "::ffff:10.1.2.3", Allow},
		{"mapped ipv4 in deny", denyDefault, "::ffff:10.66.0.1", Deny},
		{"ipv4 rule does not match ipv6", denyDefault, "::a01:203", Deny},
		{"invalid address refused", denyDefault, "", Deny},
		{"default allow", allowDefault, "198.51.100.1", Allow},
		{"default allow deny list", allowDefault, "192.0.2.9", Deny},
		{"default allow invalid refused", allowDefault, "", Deny},
		{"open rules admit invalid", allowOnly, "", Allow},
		{"nil rules", nil, "203.0.113.1", Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			if got := tt.rules.Decide(ip); got != tt.want {
				t.Fatalf("Decide(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
}

func TestParseAction(t *testing.T) {
	for in, want := range map[string]Action{"allow": Allow, "DENY": Deny, "": Allow, " deny ": Deny} {
		if got, err := ParseAction(in); err != nil || got != want {
			t.Errorf("ParseAction(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseAction("reject"); err == nil {
		t.Error("ParseAction(reject) succeeded")
	}
}
