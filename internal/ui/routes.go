package ui

import "net/http"

// route is one page or action: a ServeMux pattern, the template its
// handler renders ("" for none) and the handler.
type route struct {
	pattern  string
	template string
	handler  http.Handler
}

// routes lists every page. A new page is a file with its handler, a
// template in templates/, and one line here.
func (u *UI) routes() []route {
	return []route{
		{"GET /ui/{$}", "home", u.browsing(u.home)},
		{"GET /ui/repositories", "repos", u.browsing(u.repos)},
		{"GET /ui/repositories/{path...}", "repo", u.browsing(u.repoOrImage)},
		{"GET /ui/vulnerabilities/{id}", "vuln", u.browsing(u.vuln)},
		{"GET /ui/signin", "signin", http.HandlerFunc(u.signinForm)},
		{"POST /ui/signin", "signin", http.HandlerFunc(u.signin)},
		{"POST /ui/signout", "", http.HandlerFunc(u.signout)},
		// Placeholders until their pages land (soon.go).
		{"GET /ui/policies", "soon", u.browsing(u.soon("Policies"))},
		{"GET /ui/usage", "soon", u.browsing(u.soon("Usage"))},
		{"GET /ui/access", "soon", u.browsing(u.soon("Access"))},
	}
}
