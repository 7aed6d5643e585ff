package config

import (
	"slices"
	"strings"
	"testing"
)

func TestListenNeedsAuthOffLoopback(t *testing.T) {
	tests := []struct {
		name  string
		flags map[string]string
		ok    bool
	}{
		{"loopback v4", map[string]string{"listen": "127.0.0.1:5000"}, true},
		{"loopback v6", map[string]string{"listen": "[::1]:5000"}, true},
		{"localhost", map[string]string{"listen": "localhost:5000"}, true},
		{"every interface", map[string]string{"listen": "0.0.0.0:5000"}, false},
		{"empty host", map[string]string{"listen": ":5000"}, false},
		{"lan address", map[string]string{"listen": "192.0.2.1:5000"}, false},
		{"with auth", map[string]string{"listen": "0.0.0.0:5000", "auth.enabled": "true"}, true},
		{"explicitly open", map[string]string{"listen": "0.0.0.0:5000", "auth.allow_anonymous": "true"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(Sources{Flags: tt.flags})
			if (err == nil) != tt.ok {
				t.Fatalf("Build = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && (!strings.Contains(err.Error(), "--auth-enabled") || !strings.Contains(err.Error(), "--allow-anonymous")) {
				t.Errorf("refusal does not say how to fix it: %v", err)
			}
		})
	}
}

func TestAccessValidation(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{"auth.anonymous_read", "public/*,Bad Pattern", "auth.anonymous_read"},
		{"auth.token_ttl", "10s", "auth.token_ttl"},
		{"auth.service", "", "auth.service"},
		{"auth.realm", "ftp://x/token", "auth.realm"},
		{"network.default_action", "maybe", "network"},
		{"network.allow", "10.0.0.1/8", "network"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, err := Build(Sources{Flags: map[string]string{tt.key: tt.value}})
			if err == nil || !strings.Contains(err.Error(), "config: "+tt.want) {
				t.Errorf("Build(%s=%q) = %v, want an error naming %s", tt.key, tt.value, err, tt.want)
			}
		})
	}
}

func TestListFromYAML(t *testing.T) {
	c, err := Load(writeFile(t, "lists.yaml", `
auth: {enabled: true, anonymous_read: [public/*, lib/base]}
network: {deny: "10.66.0.0/16, 192.0.2.7", allow: []}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Auth.AnonymousRead.Items(); !slices.Equal(got, []string{"public/*", "lib/base"}) {
		t.Errorf("anonymous_read = %q", got)
	}
	if got := c.Network.Spec().Deny; !slices.Equal(got, []string{"10.66.0.0/16", "192.0.2.7"}) {
		t.Errorf("deny = %q", got)
	}
	if _, err := Load(writeFile(t, "bad.yaml", "network: {allow: {a: b}}\n")); err == nil {
		t.Error("a mapping was accepted as a list")
	}
}
