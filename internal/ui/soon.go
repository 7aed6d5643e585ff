package ui

import "net/http"

// soon serves a placeholder for a page in the navigation that is not
// built yet; a real page replaces its line in routes.go and this goes.
func (u *UI) soon(title string) http.HandlerFunc {
	nav := map[string]string{"Policies": "policies", "Usage": "usage", "Access": "access"}[title]
	return func(w http.ResponseWriter, r *http.Request) {
		u.render(w, r, http.StatusOK, page{template: "soon", nav: nav, data: title})
	}
}
