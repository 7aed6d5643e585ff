package authz

import (
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "a/b/c", true},
		{"team/*", "team/app", true},
		{"team/*", "team/a/b", true},
		{"team/*", "teamx/app", false},
		{"team/*", "team", false},
		{"lib/x", "lib/x", true},
		{"lib/x", "lib/xy", false},
		{"*/base", "a/b/base", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{strings.Repeat("*a", 50), strings.Repeat("a", 200) + "b", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.name, func(t *testing.T) {
			if got := Match(tt.pattern, tt.name); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
			}
		})
	}
}

func TestActions(t *testing.T) {
	grants := []metadata.Grant{{Pattern: "*", Role: RoleReader}, {Pattern: "team/*", Role: RoleWriter}, {Pattern: "team/old", Role: RoleAdmin}}
	tests := []struct {
		repo string
		want []string
	}{
		{"other", []string{"pull"}},
		{"team/app", []string{"pull", "push"}},
		{"team/old", []string{"pull", "push", "delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			if got := Actions(grants, tt.repo); !slices.Equal(got, tt.want) {
				t.Errorf("Actions(%s) = %v, want %v", tt.repo, got, tt.want)
			}
		})
	}
	if Allows(grants, "other", ActionPush) || !Allows(grants, "team/x", ActionPush) {
		t.Error("Allows disagrees with Actions")
	}
	if IsAdmin(grants) || !IsAdmin([]metadata.Grant{{Pattern: "*", Role: RoleAdmin}}) {
		t.Error("IsAdmin: only admin on * makes an admin")
	}
	p := Policy{AnonymousRead: []string{"public/*"}}
	if !slices.Equal(p.AnonymousActions("public/x"), []string{"pull"}) || p.AnonymousActions("private/x") != nil {
		t.Error("AnonymousActions")
	}
}

func TestParseGrant(t *testing.T) {
	for s, ok := range map[string]bool{"team/*=writer": true, "*=admin": true, "x=owner": false, "=reader": false, "noequals": false, "Team=reader": false} {
		if _, err := ParseGrant(s); (err == nil) != ok {
			t.Errorf("ParseGrant(%q) = %v, want ok=%v", s, err, ok)
		}
	}
}

// The checks run on every request: they must not allocate.
func TestAllowsAllocatesNothing(t *testing.T) {
	grants := []metadata.Grant{{Pattern: "team/*", Role: RoleReader}, {Pattern: "apps/*", Role: RoleWriter}}
	pol := Policy{AnonymousRead: []string{"public/*"}}
	basic := &Principal{Name: "ci", Grants: grants}
	for name, f := range map[string]func() bool{
		"grants":          func() bool { return Allows(grants, "apps/web", ActionPush) },
		"policy, basic":   func() bool { return pol.Allows(basic, "team/app", ActionPull) },
		"policy, anon":    func() bool { return pol.Allows(nil, "public/base", ActionPull) },
		"policy, refused": func() bool { return !pol.Allows(basic, "team/app", ActionDelete) },
	} {
		if !f() {
			t.Errorf("%s: wrong answer", name)
		}
		if n := testing.AllocsPerRun(100, func() { f() }); n != 0 {
			t.Errorf("%s: %.0f allocations per check", name, n)
		}
	}
}
