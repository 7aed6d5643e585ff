package token

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    Access
		wantErr string
	}{
		{"repository:app:pull", Access{TypeRepository, "app", []string{"pull"}}, ""},
		{"repository:team/app:pull,push", Access{TypeRepository, "team/app", []string{"pull", "push"}}, ""},
		{"repository:a/b/c/d:push,pull,pull", Access{TypeRepository, "a/b/c/d", []string{"pull", "push"}}, ""},
		{"repository:app:delete,*", Access{TypeRepository, "app", []string{"delete", "*"}}, ""},
		{"repository:my-app_1.0/x__y:pull", Access{TypeRepository, "my-app_1.0/x__y", []string{"pull"}}, ""},
		{"registry:catalog:*", Access{TypeRegistry, "catalog", []string{"*"}}, ""},
		{"repository(plugin):app:pull", Access{}, "resource classes"},
		{"repository:app", Access{}, "want type:name:actions"},
		{"repository", Access{}, "want type:name:actions"},
		{"", Access{}, "want type:name:actions"},
		{"repository:app:", Access{}, `unknown action ""`},
		{"repository:app:pull,,push", Access{}, `unknown action ""`},
		{"repository:app:admin", Access{}, `unknown action "admin"`},
		{"repository:app:PULL", Access{}, `unknown action "PULL"`},
		{"repository::pull", Access{}, "invalid repository name"},
		{"repository:App:pull", Access{}, "invalid repository name"},
		{"repository:host:5000/app:pull", Access{}, "invalid repository name"},
		{"repository:/app:pull", Access{}, "invalid repository name"},
		{"repository:app/:pull", Access{}, "invalid repository name"},
		{"registry:catalog:pull", Access{}, "registry:catalog:*"},
		{"registry:other:*", Access{}, "registry:catalog:*"},
		{"plugin:x:pull", Access{}, "unknown resource type"},
		{"repository:" + strings.Repeat("a", 600) + ":pull", Access{}, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseScope(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrScope) {
					t.Fatalf("ParseScope = %+v, %v; want ErrScope containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseScope = %+v, %v; want %+v", got, err, tt.want)
			}
			if again, err := ParseScope(got.String()); err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("String %q does not parse back: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		name    string
		params  []string
		want    []Access
		wantErr bool
	}{
		{"none", nil, nil, false},
		{"several params", []string{"repository:a:pull", "repository:b:push"},
			[]Access{{TypeRepository, "a", []string{"pull"}}, {TypeRepository, "b", []string{"push"}}}, false},
		{"space separated", []string{"repository:a:pull registry:catalog:*"},
			[]Access{{TypeRepository, "a", []string{"pull"}}, {TypeRegistry, "catalog", []string{"*"}}}, false},
		{"merged", []string{"repository:a:push", "repository:a:pull", "repository:a:push,delete"},
			[]Access{{TypeRepository, "a", []string{"pull", "push", "delete"}}}, false},
		{"one bad refuses all", []string{"repository:a:pull", "repository(plugin):b:pull"}, nil, true},
		{"too many", []string{strings.Repeat("repository:a:pull ", maxScopes+1)}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseScopes(tt.params)
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseScopes = %+v, %v; want %+v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestChallenge(t *testing.T) {
	tests := []struct {
		name, realm, service, scope, want string
	}{
		{"base", "https://r.example/token", "r.example", "",
			`Bearer realm="https://r.example/token",service="r.example"`},
		{"with scope", "https://r.example/token", "r.example", "repository:team/app:pull,push",
			`Bearer realm="https://r.example/token",service="r.example",scope="repository:team/app:pull,push"`},
		{"quotes escaped", `a"b\c`, "s", "",
			`Bearer realm="a\"b\\c",service="s"`},
		{"no header splitting", "x\r\nSet-Cookie: a=b", "s\x00", "",
			`Bearer realm="xSet-Cookie: a=b",service="s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Challenge(tt.realm, tt.service, tt.scope); got != tt.want {
				t.Fatalf("Challenge = %s\nwant        %s", got, tt.want)
			}
		})
	}
}
