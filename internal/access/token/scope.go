// Package token implements the registry token flow that docker, podman,
// skopeo, crane, oras and helm speak: scopes such as
// "repository:team/app:pull,push", the Bearer challenge that sends a client
// to the token endpoint, and short-lived signed JWTs in the Docker token
// format, issued and verified with keys the server generates and rotates.
//
// Tokens are signed with Ed25519 (JWS "EdDSA") only. The verifier accepts
// that one algorithm from that one key set, so "none", HMAC-with-the-
// public-key and every other algorithm-confusion forgery fail before any
// key is consulted.
package token

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
)

// Resource types a scope may name.
const (
	TypeRepository = "repository"
	// TypeRegistry with the name "catalog" and action "*" is what clients
	// ask for to list /v2/_catalog.
	TypeRegistry = "registry"
)

// Actions on a repository. "*" means every action, as in Docker's tokens.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	ActionAll    = "*"
)

// actionOrder is the canonical order actions are kept in.
var actionOrder = []string{ActionPull, ActionPush, ActionDelete, ActionAll}

// Access is one grant in a token: a resource and the actions allowed on it.
// Its JSON form is the "access" claim of the Docker token format.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// String is the scope form, "repository:name:pull,push".
func (a Access) String() string {
	return a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ",")
}

// ErrScope is wrapped by every scope parsing error.
var ErrScope = errors.New("invalid scope")

// maxScopeLen bounds one scope: a repository name (at most 255 bytes by the
// distribution spec, more is tolerated) plus type and actions.
const maxScopeLen = 512

// maxScopes bounds how many scopes one request may ask for.
const maxScopes = 64

// ParseScope parses one scope, "type:name:action[,action...]". The name may
// contain slashes; actions follow the last colon. Resource classes such as
// "repository(plugin):..." are refused.
func ParseScope(s string) (Access, error) {
	if len(s) > maxScopeLen {
		return Access{}, fmt.Errorf("%w: longer than %d bytes", ErrScope, maxScopeLen)
	}
	typ, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 {
		return Access{}, fmt.Errorf("%w %q: want type:name:actions", ErrScope, s)
	}
	name, acts := rest[:i], rest[i+1:]
	if strings.ContainsAny(typ, "()") {
		return Access{}, fmt.Errorf("%w %q: resource classes are not supported", ErrScope, s)
	}
	a := Access{Type: typ, Name: name}
	for act := range strings.SplitSeq(acts, ",") {
		if !slices.Contains(actionOrder, act) {
			return Access{}, fmt.Errorf("%w %q: unknown action %q", ErrScope, s, act)
		}
		if !slices.Contains(a.Actions, act) {
			a.Actions = append(a.Actions, act)
		}
	}
	slices.SortFunc(a.Actions, func(x, y string) int {
		return slices.Index(actionOrder, x) - slices.Index(actionOrder, y)
	})
	if err := a.validate(); err != nil {
		return Access{}, fmt.Errorf("%w %q: %w", ErrScope, s, err)
	}
	return a, nil
}

func (a Access) validate() error {
	switch a.Type {
	case TypeRepository:
		if !oci.ValidName(a.Name) {
			return fmt.Errorf("invalid repository name %q", a.Name)
		}
	case TypeRegistry:
		if a.Name != "catalog" || !slices.Equal(a.Actions, []string{ActionAll}) {
			return errors.New(`the only registry scope is "registry:catalog:*"`)
		}
	default:
		return fmt.Errorf("unknown resource type %q", a.Type)
	}
	if len(a.Actions) == 0 {
		return errors.New("no actions")
	}
	for _, act := range a.Actions {
		if !slices.Contains(actionOrder, act) {
			return fmt.Errorf("unknown action %q", act)
		}
	}
	return nil
}

// ParseScopes parses the scope query parameters of a token request. Clients
// send one parameter per scope, and some join several with spaces (OAuth2);
// both are accepted. Scopes on the same resource are merged.
func ParseScopes(params []string) ([]Access, error) {
	var out []Access
	n := 0
	for _, p := range params {
		for s := range strings.FieldsSeq(p) {
			if n++; n > maxScopes {
				return nil, fmt.Errorf("%w: more than %d scopes", ErrScope, maxScopes)
			}
			a, err := ParseScope(s)
			if err != nil {
				return nil, err
			}
			out = merge(out, a)
		}
	}
	return out, nil
}

func merge(list []Access, a Access) []Access {
	for i := range list {
		if list[i].Type == a.Type && list[i].Name == a.Name {
			m := list[i].Actions
			for _, act := range a.Actions {
				if !slices.Contains(m, act) {
					m = append(m, act)
				}
			}
			slices.SortFunc(m, func(x, y string) int {
				return slices.Index(actionOrder, x) - slices.Index(actionOrder, y)
			})
			list[i].Actions = m
			return list
		}
	}
	return append(list, a)
}

// Challenge is the WWW-Authenticate value of a 401 that sends a client to
// the token endpoint: Bearer realm="…",service="…",scope="…". scope may be
// empty (as on /v2/) or hold several scopes separated by spaces.
func Challenge(realm, service, scope string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm=`)
	quote(&b, realm)
	b.WriteString(`,service=`)
	quote(&b, service)
	if scope != "" {
		b.WriteString(`,scope=`)
		quote(&b, scope)
	}
	return b.String()
}

// quote writes s as an RFC 7230 quoted-string. Control characters are
// dropped: they cannot be quoted and would let a value split the header.
func quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			continue
		case c == '"' || c == '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
}
