package authz

import (
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/access/token"
	"github.com/berth-registry/berth/internal/metadata"
)

func TestPatternWithin(t *testing.T) {
	tests := []struct {
		inner, outer string
		want         bool
	}{
		{"team/app", "team/*", true},
		{"team/*", "team/*", true},
		{"team/a*", "team/*", true},
		{"team/*/x", "team/*", true},
		{"*", "team/*", false},
		{"team*", "team/*", false},
		{"team/*", "team/app", false},
		{"a*b", "a*", true},
		{"a*", "a*b", false},
		{"x", "*", true},
	}
	for _, tt := range tests {
		if got := PatternWithin(tt.inner, tt.outer); got != tt.want {
			t.Errorf("PatternWithin(%q, %q) = %v, want %v", tt.inner, tt.outer, got, tt.want)
		}
	}
}

func TestWithinGrants(t *testing.T) {
	writer := []metadata.Grant{{Pattern: "team/*", Role: RoleWriter}, {Pattern: "*", Role: RoleReader}}
	tg := func(p string, acts ...string) []metadata.TokenGrant {
		return []metadata.TokenGrant{{Pattern: p, Actions: acts}}
	}
	tests := []struct {
		name    string
		token   []metadata.TokenGrant
		creator []metadata.Grant
		ok      bool
	}{
		{"push within writer", tg("team/app", "pull", "push"), writer, true},
		{"pull anywhere via reader", tg("other/x", "pull"), writer, true},
		{"push outside", tg("other/x", "push"), writer, false},
		{"delete beyond writer", tg("team/app", "delete"), writer, false},
		{"metadata needs admin", tg("team/*", "metadata:read"), writer, false},
		{"admin on pattern gives metadata there", tg("team/*", "metadata:read"), []metadata.Grant{{Pattern: "team/*", Role: RoleAdmin}}, true},
		{"admin everywhere", tg("*", "delete", "metadata:write"), []metadata.Grant{{Pattern: "*", Role: RoleAdmin}}, true},
		{"no grants", tg("x", "pull"), nil, false},
	}
	for _, tt := range tests {
		if err := WithinGrants(tt.token, tt.creator); (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestScopedPrincipal(t *testing.T) {
	p := &Principal{Name: "token$ci", Scoped: true, Scopes: []metadata.TokenGrant{
		{Pattern: "ci/*", Actions: []string{"pull", "push"}}, {Pattern: "*", Actions: []string{"metadata:read"}}}}
	var pol Policy
	for _, c := range []struct {
		repo, action string
		want         bool
	}{
		{"ci/app", "push", true}, {"ci/app", "delete", false}, {"other", "pull", false}, {"", ActionCatalog, true},
	} {
		if got := pol.Allows(p, c.repo, c.action); got != c.want {
			t.Errorf("Allows(%s, %s) = %v, want %v", c.repo, c.action, got, c.want)
		}
	}
	if !pol.AllowsAPI(p, "GET") || pol.AllowsAPI(p, "POST") {
		t.Error("metadata:read on * gives API reads only")
	}
	got := pol.GrantTo(p, []token.Access{{Type: "repository", Name: "ci/app", Actions: []string{"pull", "push", "delete"}},
		{Type: "repository", Name: "other", Actions: []string{"pull"}}})
	if len(got) != 1 || !slices.Equal(got[0].Actions, []string{"pull", "push"}) {
		t.Errorf("GrantTo = %+v", got)
	}
}
