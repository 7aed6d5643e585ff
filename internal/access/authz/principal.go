package authz

import (
	"context"
	"slices"

	"github.com/berth-registry/berth/internal/access/token"
	"github.com/berth-registry/berth/internal/metadata"
)

// ActionCatalog is the registry-wide right to list every repository
// (the registry:catalog:* scope) and to read the management API.
const ActionCatalog = "catalog"

// Principal is who a request acts as, as authentication established it.
type Principal struct {
	// Name is the account; "" for anonymous (no credentials, or a token
	// issued without them).
	Name string
	// Grants are the account's grants when it logged in with a password.
	Grants []metadata.Grant
	// Token holds the claims when it presented a registry token; the
	// token, not the account, then says what the request may do.
	Token *token.Claims
	// Scoped is set when it logged in with a scoped token's password:
	// Scopes, not Grants, then say what it may do.
	Scoped bool
	Scopes []metadata.TokenGrant
	// CIDRs are the client networks a scoped token is bound to; tokens
	// issued to it carry them.
	CIDRs []string
}

// Anonymous reports whether p names no account.
func (p *Principal) Anonymous() bool { return p == nil || p.Name == "" }

// Allows reports whether p may perform action on repo. action is pull,
// push or delete on a repository, or ActionCatalog with repo "".
func (pol Policy) Allows(p *Principal, repo, action string) bool {
	if action == ActionCatalog {
		if p == nil {
			return false
		}
		if p.Token != nil {
			return slices.ContainsFunc(p.Token.Access, func(a token.Access) bool {
				return a.Type == token.TypeRegistry && a.Name == "catalog"
			})
		}
		if p.Scoped {
			return scopedEverywhere(p.Scopes, ActionMetadataRead)
		}
		return IsAdmin(p.Grants)
	}
	if action == ActionPull && pol.anonymousRead(repo) {
		return true
	}
	switch {
	case p == nil:
		return false
	case p.Token != nil:
		return p.Token.Allows(repo, action)
	case p.Scoped:
		return slices.Contains(ScopedActions(p.Scopes, repo), action)
	}
	return Allows(p.Grants, repo, action)
}

// Grant returns the part of the requested access that an account with
// grants (nil for anonymous) may have: the intersection, per resource,
// of what was asked and what is allowed. Resources left with no action
// are dropped. "*" asks for everything allowed.
func (pol Policy) Grant(grants []metadata.Grant, requested []token.Access) []token.Access {
	return pol.GrantTo(&Principal{Grants: grants}, requested)
}

// GrantTo is Grant for a principal that logged in with a password: an
// account (its grants) or a scoped token (its scopes).
func (pol Policy) GrantTo(p *Principal, requested []token.Access) []token.Access {
	out := []token.Access{}
	for _, a := range requested {
		var allowed []string
		switch a.Type {
		case token.TypeRepository:
			if p.Scoped {
				allowed = ScopedActions(p.Scopes, a.Name)
			} else {
				allowed = Actions(p.Grants, a.Name)
			}
			for _, act := range pol.AnonymousActions(a.Name) {
				if !slices.Contains(allowed, act) {
					allowed = append([]string{act}, allowed...)
				}
			}
		case token.TypeRegistry:
			if (p.Scoped && scopedEverywhere(p.Scopes, ActionMetadataRead)) || (!p.Scoped && IsAdmin(p.Grants)) {
				allowed = []string{token.ActionAll}
			}
		}
		var acts []string
		for _, act := range allowed {
			if slices.Contains(a.Actions, act) || slices.Contains(a.Actions, token.ActionAll) {
				acts = append(acts, act)
			}
		}
		if len(acts) > 0 {
			out = append(out, token.Access{Type: a.Type, Name: a.Name, Actions: acts})
		}
	}
	return out
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal set by WithPrincipal, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
