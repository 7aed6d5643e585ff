package authz

import (
	"reflect"
	"testing"

	"github.com/berth-registry/berth/internal/access/token"
	"github.com/berth-registry/berth/internal/metadata"
)

func TestPolicyGrant(t *testing.T) {
	pol := Policy{AnonymousRead: []string{"public/*"}}
	repo := func(name string, acts ...string) token.Access {
		return token.Access{Type: token.TypeRepository, Name: name, Actions: acts}
	}
	catalog := token.Access{Type: token.TypeRegistry, Name: "catalog", Actions: []string{token.ActionAll}}
	writer := []metadata.Grant{{Pattern: "team/*", Role: RoleWriter}}
	admin := []metadata.Grant{{Pattern: "*", Role: RoleAdmin}}
	tests := []struct {
		name      string
		grants    []metadata.Grant
		requested []token.Access
		want      []token.Access
	}{
		{"intersection", writer, []token.Access{repo("team/a", "pull", "push", "delete")}, []token.Access{repo("team/a", "pull", "push")}},
		{"star asks for all allowed", writer, []token.Access{repo("team/a", "*")}, []token.Access{repo("team/a", "pull", "push")}},
		{"nothing left is dropped", writer, []token.Access{repo("other", "pull"), catalog}, []token.Access{}},
		{"anonymous read", nil, []token.Access{repo("public/x", "pull", "push"), repo("team/a", "pull")}, []token.Access{repo("public/x", "pull")}},
		{"anonymous read plus grants", writer, []token.Access{repo("public/x", "pull")}, []token.Access{repo("public/x", "pull")}},
		{"admin catalog", admin, []token.Access{catalog, repo("x", "delete")}, []token.Access{catalog, repo("x", "delete")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pol.Grant(tt.grants, tt.requested); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Grant = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPolicyAllows(t *testing.T) {
	pol := Policy{AnonymousRead: []string{"public/*"}}
	claims := &token.Claims{Subject: "ci", Access: []token.Access{{Type: token.TypeRepository, Name: "team/a", Actions: []string{"pull", "push"}}}}
	tests := []struct {
		name         string
		p            *Principal
		repo, action string
		want         bool
	}{
		{"anonymous public pull", nil, "public/x", ActionPull, true},
		{"anonymous public push", &Principal{}, "public/x", ActionPush, false},
		{"anonymous private", &Principal{}, "team/a", ActionPull, false},
		{"token within", &Principal{Name: "ci", Token: claims}, "team/a", ActionPush, true},
		{"token outside", &Principal{Name: "ci", Token: claims}, "team/b", ActionPull, false},
		// A token says exactly what it grants, whatever the account has.
		{"token over grants", &Principal{Name: "ci", Token: claims, Grants: []metadata.Grant{{Pattern: "*", Role: RoleAdmin}}}, "team/a", ActionDelete, false},
		{"grants", &Principal{Name: "u", Grants: []metadata.Grant{{Pattern: "team/*", Role: RoleReader}}}, "team/a", ActionPull, true},
		{"catalog non-admin", &Principal{Name: "u", Grants: []metadata.Grant{{Pattern: "team/*", Role: RoleAdmin}}}, "", ActionCatalog, false},
		{"catalog admin", &Principal{Name: "u", Grants: []metadata.Grant{{Pattern: "*", Role: RoleAdmin}}}, "", ActionCatalog, true},
		{"catalog anonymous", nil, "", ActionCatalog, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pol.Allows(tt.p, tt.repo, tt.action); got != tt.want {
				t.Errorf("Allows = %v, want %v", got, tt.want)
			}
		})
	}
}
