package ui

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/access/authz"
)

type signinData struct {
	Next     string
	User     string
	Error    string
	Disabled bool // authentication is off
}

// signinForm shows the sign-in form. It gives the browser an anonymous
// session first, whose CSRF token the form carries: signing in is a POST
// like any other.
func (u *UI) signinForm(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r.Context())
	next := safeNext(r.URL.Query().Get("next"))
	if v.authOff {
		u.render(w, r, http.StatusOK, page{template: "signin", data: signinData{Disabled: true, Next: next}})
		return
	}
	if v.session == nil {
		s, err := u.sessions.start(w, r, nil, false)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		v.session = s
	}
	u.render(w, r, http.StatusOK, page{template: "signin", data: signinData{Next: next}})
}

// signin checks the password with the registry's own verification and
// starts a signed-in session under a new id.
func (u *UI) signin(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	if u.opts.Auth == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	name, pw := strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
	acct, err := u.opts.Auth.Login(r.Context(), name, pw)
	if u.opts.Observer != nil {
		u.opts.Observer.ObserveLogin(r, "ui", name, err)
	}
	if err != nil {
		if !errors.Is(err, authn.ErrCredentials) {
			u.fail(w, r, err)
			return
		}
		u.log.InfoContext(r.Context(), "ui: sign-in refused", slog.String("user", name))
		u.render(w, r, http.StatusUnauthorized, page{template: "signin",
			data: signinData{Next: next, User: name, Error: "Wrong user name or password."}})
		return
	}
	if _, err := u.sessions.start(w, r, &authz.Principal{Name: acct.Name, Grants: acct.Grants}, true); err != nil {
		u.fail(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signout ends the session (the CSRF check has run: a third-party page
// cannot sign anyone out).
func (u *UI) signout(w http.ResponseWriter, r *http.Request) {
	u.sessions.End(w, r)
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect inside the UI: a path under
// /ui/, never another host ("//evil", "/\evil").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "//") {
		return "/ui/"
	}
	return next
}
