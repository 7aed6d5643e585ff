package ui

import (
	"crypto/subtle"
	"net/http"
	"net/url"
)

// csrfField is the form field every POST form carries (see the "csrf"
// template).
const csrfField = "csrf_token"

// maxFormBytes bounds a form body: the UI's forms are a few fields.
const maxFormBytes = 64 << 10

// checkCSRF is the one CSRF check: a request that changes anything must
// carry the synchronizer token of its session, and, when the browser says
// where it comes from, come from this origin. A refusal is 403.
func (u *UI) checkCSRF(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	v := viewerFrom(r.Context())
	ok := v.session != nil && v.session.csrf != "" && sameOrigin(r)
	if ok {
		got := r.PostFormValue(csrfField)
		ok = subtle.ConstantTimeCompare([]byte(got), []byte(v.session.csrf)) == 1
	}
	if !ok {
		u.log.WarnContext(r.Context(), "ui: request refused by the CSRF check", "path", r.URL.Path)
		u.renderError(w, r, http.StatusForbidden, "The form was stale or did not come from this site. Reload the page and try again.")
		return false
	}
	return true
}

// sameOrigin accepts a request without an Origin header (older browsers
// send none on same-origin POSTs; the token still has to match) or one
// whose Origin names the host addressed.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	ou, err := url.Parse(o)
	return err == nil && ou.Host == r.Host
}
