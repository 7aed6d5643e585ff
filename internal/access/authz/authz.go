// Package authz decides what a principal may do: roles granted on
// repository patterns, the anonymous-read patterns of the configuration,
// and the registry-wide rights (catalog, management API) of admins.
package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/metadata"
)

// Roles a grant can give.
const (
	RoleReader = "reader"
	RoleWriter = "writer"
	RoleAdmin  = "admin"
)

// Actions on a repository, spelled as in registry token scopes.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
)

// actionsOf lists what each role allows on a matching repository.
var roleActions = map[string][]string{
	RoleReader: {ActionPull},
	RoleWriter: {ActionPull, ActionPush},
	RoleAdmin:  {ActionPull, ActionPush, ActionDelete},
}

// ValidRole reports whether role is one of the known roles.
func ValidRole(role string) bool { _, ok := roleActions[role]; return ok }

// ParseGrant parses "pattern=role", e.g. "team/*=writer".
func ParseGrant(s string) (metadata.Grant, error) {
	pat, role, ok := strings.Cut(s, "=")
	g := metadata.Grant{Pattern: strings.TrimSpace(pat), Role: strings.TrimSpace(role)}
	if !ok || g.Pattern == "" {
		return metadata.Grant{}, fmt.Errorf("grant %q: want pattern=role, e.g. team/*=writer", s)
	}
	if !ValidRole(g.Role) {
		return metadata.Grant{}, fmt.Errorf("grant %q: unknown role %q (want reader, writer or admin)", s, g.Role)
	}
	if err := ValidPattern(g.Pattern); err != nil {
		return metadata.Grant{}, fmt.Errorf("grant %q: %w", s, err)
	}
	return g, nil
}

// ValidPattern checks a repository pattern: repository-name characters
// and '*', at most 255 bytes.
func ValidPattern(p string) error {
	if p == "" || len(p) > 255 {
		return fmt.Errorf("pattern %q: want 1 to 255 bytes", p)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("._-/*", c) >= 0) {
			return fmt.Errorf("pattern %q: character %q not allowed (lower-case names, '/', '*')", p, c)
		}
	}
	return nil
}

// Match reports whether repository name matches pattern. '*' matches any
// run of characters, slashes included, so "team/*" covers "team/a/b";
// everything else matches itself.
func Match(pattern, name string) bool {
	// Iterative glob with single-star backtracking: linear in practice,
	// never exponential, whatever the pattern.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Actions returns the union of actions grants give on repo, in the order
// pull, push, delete.
func Actions(grants []metadata.Grant, repo string) []string {
	var out []string
	for _, g := range grants {
		if !Match(g.Pattern, repo) {
			continue
		}
		for _, a := range roleActions[g.Role] {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	order := []string{ActionPull, ActionPush, ActionDelete}
	slices.SortFunc(out, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
	return out
}

// Allows reports whether grants give action on repo. It runs on every
// request with Basic credentials, so it allocates nothing.
func Allows(grants []metadata.Grant, repo, action string) bool {
	for _, g := range grants {
		if slices.Contains(roleActions[g.Role], action) && Match(g.Pattern, repo) {
			return true
		}
	}
	return false
}

// IsAdmin reports whether grants make their holder a registry admin: the
// admin role on "*". Admins list the catalog and use the management API.
func IsAdmin(grants []metadata.Grant) bool {
	return slices.ContainsFunc(grants, func(g metadata.Grant) bool { return g.Pattern == "*" && g.Role == RoleAdmin })
}

// Policy is the part of authorization that the configuration sets.
type Policy struct {
	// AnonymousRead lists repository patterns anyone may pull.
	AnonymousRead []string
}

// AnonymousActions returns what anyone may do on repo: pull if it matches
// an anonymous-read pattern.
func (p Policy) AnonymousActions(repo string) []string {
	if p.anonymousRead(repo) {
		return []string{ActionPull}
	}
	return nil
}

// anonymousRead reports whether repo matches an anonymous-read pattern.
func (p Policy) anonymousRead(repo string) bool {
	for _, pat := range p.AnonymousRead {
		if Match(pat, repo) {
			return true
		}
	}
	return false
}
