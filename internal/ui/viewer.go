package ui

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/metadata"
)

// viewer is who is looking, and so what a page may show.
type viewer struct {
	session   *session         // nil if the browser has none
	principal *authz.Principal // nil when not signed in
	authOff   bool
	// patterns are the repositories the viewer may pull, in grant
	// syntax; nil means all of them.
	patterns []string
}

type viewerKey struct{}

func withViewer(ctx context.Context, v *viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

func viewerFrom(ctx context.Context) *viewer {
	if v, ok := ctx.Value(viewerKey{}).(*viewer); ok {
		return v
	}
	return &viewer{patterns: []string{}}
}

// SignedIn reports whether the viewer signed in.
func (v *viewer) SignedIn() bool { return v.principal != nil && !v.principal.Anonymous() }

// Name is the signed-in account, or "".
func (v *viewer) Name() string {
	if v.SignedIn() {
		return v.principal.Name
	}
	return ""
}

// Admin reports whether the viewer sees the whole registry: an admin, or
// anyone when authentication is off.
func (v *viewer) Admin() bool {
	return v.authOff || (v.SignedIn() && authz.IsAdmin(v.principal.Grants))
}

// CanPull reports whether the viewer may see repo at all.
func (v *viewer) CanPull(repo string) bool {
	return v.patterns == nil || slices.ContainsFunc(v.patterns, func(p string) bool { return authz.Match(p, repo) })
}

// AuthOff reports whether the registry runs without authentication.
func (v *viewer) AuthOff() bool { return v.authOff }

// viewerOf resolves the request's session. A local account is re-read so
// that a disabled account is signed out and changed grants apply at once.
func (u *UI) viewerOf(w http.ResponseWriter, r *http.Request) *viewer {
	v := &viewer{authOff: u.opts.Auth == nil, session: u.sessions.get(r)}
	if v.authOff {
		return v
	}
	if s := v.session; s != nil && s.principal != nil {
		p := s.principal
		if s.local {
			acct, err := u.opts.Store.User(r.Context(), p.Name)
			switch {
			case errors.Is(err, metadata.ErrNotFound) || (err == nil && acct.Disabled):
				u.sessions.remove(s.key)
				v.session, p = nil, nil
			case err != nil:
				u.log.ErrorContext(r.Context(), "ui: reading the signed-in account", slog.Any("err", err))
			default:
				p = &authz.Principal{Name: acct.Name, Grants: acct.Grants}
				u.sessions.update(s.key, p)
			}
		}
		v.principal = p
	}
	v.patterns = visiblePatterns(u.opts.Policy, v.principal)
	return v
}

// visiblePatterns are the repositories p may pull: every one for an admin,
// else the account's grants (every role includes pull) and anonymous read.
func visiblePatterns(pol authz.Policy, p *authz.Principal) []string {
	out := append([]string{}, pol.AnonymousRead...)
	if p == nil || p.Anonymous() {
		return out
	}
	if authz.IsAdmin(p.Grants) {
		return nil
	}
	for _, g := range p.Grants {
		if authz.ValidRole(g.Role) {
			out = append(out, g.Pattern)
		}
	}
	return out
}

// browsing wraps a page that needs someone who may see something: with
// authentication on, a visitor who is not signed in and has no anonymous
// read is sent to the sign-in page, and back afterwards.
func (u *UI) browsing(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := viewerFrom(r.Context())
		if !v.authOff && !v.SignedIn() && len(v.patterns) == 0 {
			http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next(w, r)
	})
}
