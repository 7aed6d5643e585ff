package ui

import (
	"net/http"
	"time"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/oidc"
)

// OIDCLogin builds the OIDC browser login (oidc.LoginPath and
// oidc.CallbackPath) around the function the callback calls with the
// signed-in principal; berth serve passes Server.OIDCHandler.
type OIDCLogin func(onLogin func(http.ResponseWriter, *http.Request, *authz.Principal, *oidc.Identity)) http.Handler

// ssoNextCookie carries the page to return to across the issuer's round
// trip; like the OIDC state cookie it is scoped to /auth/oidc.
const ssoNextCookie = "berth_sso_next"

// mountSSO serves the OIDC login under /auth/oidc/ inside the UI (so its
// answers carry the UI's security headers): the login remembers a safe
// next page, and the callback starts a session and goes there.
func (u *UI) mountSSO(login OIDCLogin) {
	h := login(u.ssoSignedIn)
	u.mux.Handle("GET "+oidc.LoginPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if next := safeNext(r.URL.Query().Get("next")); next != "/ui/" {
			http.SetCookie(w, &http.Cookie{Name: ssoNextCookie, Value: next, Path: "/auth/oidc", MaxAge: int(10 * time.Minute / time.Second),
				HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
		}
		h.ServeHTTP(w, r)
	}))
	u.mux.Handle("GET "+oidc.CallbackPath, h)
}

// ssoSignedIn is the OIDC callback's last step: the identity mapped to an
// enabled account, whose session starts like a password sign-in's.
func (u *UI) ssoSignedIn(w http.ResponseWriter, r *http.Request, p *authz.Principal, _ *oidc.Identity) {
	if u.opts.Observer != nil {
		u.opts.Observer.ObserveLogin(r, "oidc", p.Name, nil)
	}
	if _, err := u.sessions.start(w, r, p, false); err != nil {
		u.fail(w, r, err)
		return
	}
	next := "/ui/"
	if c, err := r.Cookie(ssoNextCookie); err == nil {
		next = safeNext(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: ssoNextCookie, Path: "/auth/oidc", MaxAge: -1, HttpOnly: true, Secure: true})
	http.Redirect(w, r, next, http.StatusSeeOther)
}
