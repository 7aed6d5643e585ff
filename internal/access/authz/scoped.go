package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/metadata"
)

// The actions of scoped tokens beyond the registry's own: the management
// API's reads and writes. They take effect on the API only when granted
// on the pattern "*", because API endpoints are not per repository.
const (
	ActionMetadataRead  = "metadata:read"
	ActionMetadataWrite = "metadata:write"
)

// TokenActions are the actions a scoped token grant may name, in the
// order they are listed.
var TokenActions = []string{ActionPull, ActionPush, ActionDelete, ActionMetadataRead, ActionMetadataWrite}

// ParseTokenGrant reads "pattern=action,action", e.g. "ci/*=pull,push".
func ParseTokenGrant(s string) (metadata.TokenGrant, error) {
	pat, acts, ok := strings.Cut(s, "=")
	g := metadata.TokenGrant{Pattern: strings.TrimSpace(pat)}
	if !ok || g.Pattern == "" || strings.TrimSpace(acts) == "" {
		return g, fmt.Errorf("grant %q: want pattern=actions, e.g. ci/*=pull,push", s)
	}
	for _, a := range strings.Split(acts, ",") {
		g.Actions = append(g.Actions, strings.TrimSpace(a))
	}
	if err := ValidTokenGrant(g); err != nil {
		return metadata.TokenGrant{}, fmt.Errorf("grant %q: %w", s, err)
	}
	return NormalizeTokenGrant(g), nil
}

// ValidTokenGrant checks the pattern and that every action is known.
func ValidTokenGrant(g metadata.TokenGrant) error {
	if err := ValidPattern(g.Pattern); err != nil {
		return err
	}
	if len(g.Actions) == 0 {
		return fmt.Errorf("pattern %q: no actions", g.Pattern)
	}
	for _, a := range g.Actions {
		if !slices.Contains(TokenActions, a) {
			return fmt.Errorf("unknown action %.40q (want %s)", a, strings.Join(TokenActions, ", "))
		}
	}
	return nil
}

// NormalizeTokenGrant orders the actions as TokenActions and drops repeats.
func NormalizeTokenGrant(g metadata.TokenGrant) metadata.TokenGrant {
	var acts []string
	for _, a := range TokenActions {
		if slices.Contains(g.Actions, a) {
			acts = append(acts, a)
		}
	}
	g.Actions = acts
	return g
}

// ScopedActions is what scoped grants allow on repo, in TokenActions order.
func ScopedActions(grants []metadata.TokenGrant, repo string) []string {
	var out []string
	for _, a := range TokenActions {
		if slices.ContainsFunc(grants, func(g metadata.TokenGrant) bool {
			return slices.Contains(g.Actions, a) && Match(g.Pattern, repo)
		}) {
			out = append(out, a)
		}
	}
	return out
}

// scopedEverywhere reports whether a grant on "*" gives action: the
// condition for the catalog and the management API.
func scopedEverywhere(grants []metadata.TokenGrant, action string) bool {
	return slices.ContainsFunc(grants, func(g metadata.TokenGrant) bool {
		return g.Pattern == "*" && slices.Contains(g.Actions, action)
	})
}

// PatternWithin reports whether every name inner matches is matched by
// outer. It is conservative: false may be answered for some contained
// pairs (a union of stars), never true for one that is not contained.
// Matching inner's text against outer is sound because outer's literal
// characters are never '*': each star of inner is absorbed by a star of
// outer, which would absorb whatever that star stands for.
func PatternWithin(inner, outer string) bool {
	return Match(outer, inner)
}

// roleCovers reports whether role grants action; the metadata actions
// belong to admins, the only role the management API admits.
func roleCovers(role, action string) bool {
	if action == ActionMetadataRead || action == ActionMetadataWrite {
		return role == RoleAdmin
	}
	return slices.Contains(roleActions[role], action)
}

// WithinGrants returns nil if every action of every token grant is given
// by some one creator grant whose pattern contains the token grant's, and
// otherwise an error naming the first excess. An admin on "*" holds all.
func WithinGrants(token []metadata.TokenGrant, creator []metadata.Grant) error {
	if IsAdmin(creator) {
		return nil
	}
	for _, tg := range token {
		for _, a := range tg.Actions {
			if !slices.ContainsFunc(creator, func(g metadata.Grant) bool {
				return roleCovers(g.Role, a) && PatternWithin(tg.Pattern, g.Pattern)
			}) {
				return fmt.Errorf("%s on %s exceeds the creator's grants", a, tg.Pattern)
			}
		}
	}
	return nil
}

// AllowsAPI reports whether p may call the management API with method: an
// admin account, or a registry token holding the catalog, for anything; a
// scoped token with metadata:read on "*" for reads and metadata:write on
// "*" for changes.
func (pol Policy) AllowsAPI(p *Principal, method string) bool {
	if p == nil || !p.Scoped {
		return pol.Allows(p, "", ActionCatalog)
	}
	if method == "GET" || method == "HEAD" {
		return scopedEverywhere(p.Scopes, ActionMetadataRead)
	}
	return scopedEverywhere(p.Scopes, ActionMetadataWrite)
}
