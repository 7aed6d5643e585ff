package ui

import (
	"net/http"
	"net/url"

	"github.com/berth-registry/berth/internal/metadata"
)

// affectedPerPage bounds the vulnerability page.
const affectedPerPage = 100

type vulnData struct {
	ID     string
	Images []metadata.AffectedImage
	Next   string
	After  string
}

// vuln lists every live image, in repository order, whose stored scan has
// a vulnerability id or alias: the "other images affected" of the image
// page, in full. Images the viewer may not pull are left out, so a page
// may hold fewer than affectedPerPage.
func (u *UI) vuln(w http.ResponseWriter, r *http.Request) {
	id := trimParam(r.PathValue("id"))
	after := trimParam(r.URL.Query().Get("after"))
	aff, err := u.opts.Store.AffectedBy(r.Context(), id, metadata.Page{Last: after, N: affectedPerPage})
	if err != nil {
		u.fail(w, r, err)
		return
	}
	v := viewerFrom(r.Context())
	d := vulnData{ID: id, After: after}
	for _, a := range aff {
		if v.CanPull(a.Repo) {
			d.Images = append(d.Images, a)
		}
	}
	if len(aff) == affectedPerPage {
		last := aff[len(aff)-1]
		d.Next = "/ui/vulnerabilities/" + url.PathEscape(id) + "?after=" + url.QueryEscape(last.Repo+"@"+last.Digest.String())
	}
	u.render(w, r, http.StatusOK, page{template: "vuln", nav: "repos", data: d})
}
