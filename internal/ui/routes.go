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
		{"GET /ui/policies", "policies", u.adminOnly(u.policiesPage)},
		{"POST /ui/policies", "policies", u.adminOnly(u.policySave)},
		{"POST /ui/policies/preview", "policies", u.adminOnly(u.policyPreview)},
		{"POST /ui/policies/delete", "policies", u.adminOnly(u.policyDelete)},
		{"POST /ui/locks", "policies", u.adminOnly(u.guardAction(u.lockSet))},
		{"POST /ui/locks/delete", "policies", u.adminOnly(u.guardAction(u.lockClear))},
		{"POST /ui/immutable-rules", "policies", u.adminOnly(u.guardAction(u.ruleAdd))},
		{"POST /ui/immutable-rules/delete", "policies", u.adminOnly(u.guardAction(u.ruleDelete))},
		{"POST /ui/gates", "policies", u.adminOnly(u.guardAction(u.gateSet))},
		{"POST /ui/gates/delete", "policies", u.adminOnly(u.guardAction(u.gateDelete))},
		{"POST /ui/gates/exceptions", "policies", u.adminOnly(u.guardAction(u.exceptionAdd))},
		{"POST /ui/gates/exceptions/delete", "policies", u.adminOnly(u.guardAction(u.exceptionDelete))},
		{"GET /ui/usage", "usage", u.browsing(u.usagePage)},
		{"GET /ui/access", "access", u.adminOnly(u.accessPage)},
		{"POST /ui/access/users", "access", u.adminOnly(u.userAdd)},
		{"POST /ui/access/users/disable", "access", u.adminOnly(u.userDisable)},
		{"POST /ui/access/tokens", "access", u.adminOnly(u.tokenCreate)},
		{"POST /ui/access/tokens/change", "access", u.adminOnly(u.tokenChange)},
		{"POST /ui/access/network-rules", "access", u.adminOnly(u.networkRulesSet)},
	}
}
