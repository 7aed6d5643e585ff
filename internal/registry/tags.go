package registry

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// getTags serves GET /v2/<name>/tags/list?n=&last=.
func (r *Registry) getTags(w http.ResponseWriter, req *http.Request, rt route) error {
	p, err := r.page(req)
	if err != nil {
		return err
	}
	var tags []string
	if p.N > 0 {
		// One more than asked tells whether a next page exists.
		tags, err = r.opts.Meta.ListTags(req.Context(), rt.name, metadata.Page{Last: p.Last, N: p.N + 1})
		if err != nil {
			return err
		}
	} else if _, err := r.opts.Meta.ListTags(req.Context(), rt.name, metadata.Page{N: 1}); err != nil {
		return err // n=0 still reports an unknown repository
	}
	tags = r.pageLinks(w, "/v2/"+rt.name+"/tags/list", p, tags)
	return writeListingAs(w, req, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
}

// getCatalog serves GET /v2/_catalog?n=&last=.
func (r *Registry) getCatalog(w http.ResponseWriter, req *http.Request, _ route) error {
	p, err := r.page(req)
	if err != nil {
		return err
	}
	var repos []string
	if p.N > 0 {
		repos, err = r.opts.Meta.ListRepos(req.Context(), metadata.Page{Last: p.Last, N: p.N + 1})
		if err != nil {
			return err
		}
	}
	repos = r.pageLinks(w, "/v2/_catalog", p, repos)
	return writeListingAs(w, req, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

// page reads n and last. A missing n means the largest page; n above it
// is capped rather than refused, as the spec lets a registry return fewer.
func (r *Registry) page(req *http.Request) (metadata.Page, error) {
	q := req.URL.Query()
	p := metadata.Page{Last: q.Get("last"), N: r.opts.MaxPageSize}
	if len(p.Last) > 512 {
		return p, oci.Errorf(oci.CodeUnsupported, "last parameter too long").WithStatus(http.StatusBadRequest)
	}
	if s := q.Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, oci.Errorf(oci.CodeUnsupported, "invalid n parameter %.32q", s).WithStatus(http.StatusBadRequest)
		}
		p.N = min(n, r.opts.MaxPageSize)
	}
	return p, nil
}

// pageLinks trims the extra entry fetched beyond the page and, if there
// was one, announces the next page in a Link header.
func (r *Registry) pageLinks(w http.ResponseWriter, path string, p metadata.Page, items []string) []string {
	if items == nil {
		items = []string{}
	}
	if p.N > 0 && len(items) > p.N {
		items = items[:p.N]
		q := url.Values{"last": {items[len(items)-1]}, "n": {strconv.Itoa(p.N)}}
		w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
	}
	return items
}

func writeListingAs(w http.ResponseWriter, req *http.Request, contentType string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	writeJSON(w, req, http.StatusOK, contentType, body)
	return nil
}
