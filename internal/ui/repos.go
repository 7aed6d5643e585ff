package ui

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/internal/metadata"
)

// reposPerPage is the Repositories page size.
const reposPerPage = 50

// maxSearch bounds the search box.
const maxSearch = 255

// repoSorts maps the sort parameter to the store's orders, and says which
// way each starts: names A→Z, everything else biggest or newest first.
var repoSorts = []struct {
	param, label string
	sort         metadata.RepoSort
	desc         bool
}{
	{"name", "Name", metadata.SortByName, false},
	{"tags", "Tags", metadata.SortByTags, true},
	{"size", "Size", metadata.SortBySize, true},
	{"pushed", "Last push", metadata.SortByPushed, true},
	{"pulled", "Last pull", metadata.SortByPulled, true},
	{"severity", "Highest severity", metadata.SortBySeverity, true},
}

type sortLink struct {
	Label, URL, AriaSort string
	Current              bool
}

type reposData struct {
	Query   string
	Rows    []metadata.RepoRow
	Total   int
	Page    int
	Pages   int
	Columns []sortLink
	Prev    string
	Next    string
	Sort    string
	Order   string
}

// repos lists repositories with search, sorting and paging, all as query
// parameters of a GET, so every view is a link.
func (u *UI) repos(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := reposData{Query: q.Get("q"), Sort: q.Get("sort"), Order: q.Get("order")}
	if len(d.Query) > maxSearch {
		d.Query = d.Query[:maxSearch]
	}
	si := 0
	for i, s := range repoSorts {
		if s.param == d.Sort {
			si = i
		}
	}
	d.Sort = repoSorts[si].param
	desc := repoSorts[si].desc
	switch d.Order {
	case "asc":
		desc = false
	case "desc":
		desc = true
	}
	d.Order = map[bool]string{false: "asc", true: "desc"}[desc]
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = max(d.Page, 1)

	v := viewerFrom(r.Context())
	var err error
	d.Rows, d.Total, err = u.opts.Store.BrowseRepos(r.Context(), metadata.RepoQuery{Contains: d.Query, Patterns: v.patterns,
		Sort: repoSorts[si].sort, Desc: desc, Offset: (d.Page - 1) * reposPerPage, N: reposPerPage})
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d.Pages = max(1, (d.Total+reposPerPage-1)/reposPerPage)
	link := func(sort, order string, pg int) string {
		v := url.Values{}
		if d.Query != "" {
			v.Set("q", d.Query)
		}
		v.Set("sort", sort)
		v.Set("order", order)
		if pg > 1 {
			v.Set("page", strconv.Itoa(pg))
		}
		return "/ui/repositories?" + v.Encode()
	}
	for i, s := range repoSorts {
		c := sortLink{Label: s.label, Current: i == si}
		order := map[bool]string{false: "asc", true: "desc"}[s.desc]
		if c.Current {
			c.AriaSort = map[bool]string{false: "ascending", true: "descending"}[desc]
			order = map[bool]string{false: "desc", true: "asc"}[desc]
		}
		c.URL = link(s.param, order, 1)
		d.Columns = append(d.Columns, c)
	}
	if d.Page > 1 {
		d.Prev = link(d.Sort, d.Order, d.Page-1)
	}
	if d.Page < d.Pages {
		d.Next = link(d.Sort, d.Order, d.Page+1)
	}
	u.render(w, r, http.StatusOK, page{template: "repos", nav: "repos", data: d})
}
