package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// auditPage is how many records one page of the audit log shows.
const auditPage = 50

// maxFilterLen bounds a filter value, as the API does.
const maxFilterLen = 512

// auditView is one page of the audit log with the filters that chose it.
type auditView struct {
	Since, Actor, Repo, Action string
	Records                    []metadata.AuditRecord
	// Next is the URL of the following page, "" on the last.
	Next  string
	Error string
}

// auditLog reads the audit section's filters from the query: since (a
// duration back from now, 24h, or a date), actor, repository, action,
// and last to page on from a record ID.
func (u *UI) auditLog(r *http.Request) (auditView, error) {
	v := r.URL.Query()
	clip := func(s string) string {
		if len(s) > maxFilterLen {
			return s[:maxFilterLen]
		}
		return s
	}
	av := auditView{Since: clip(v.Get("since")), Actor: clip(v.Get("actor")), Repo: clip(v.Get("repo")), Action: clip(v.Get("action"))}
	q := metadata.AuditQuery{Actor: av.Actor, Repo: av.Repo, Action: av.Action, N: auditPage}
	if av.Since != "" {
		if d, err := time.ParseDuration(av.Since); err == nil && d >= 0 {
			q.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.DateOnly, av.Since); err == nil {
			q.Since = t
		} else if t, err := time.Parse(time.RFC3339, av.Since); err == nil {
			q.Since = t
		} else {
			av.Error = "since: want a duration such as 24h, or a date such as 2026-01-31"
			return av, nil
		}
	}
	if s := v.Get("last"); s != "" {
		last, err := strconv.ParseInt(s, 10, 64)
		if err != nil || last < 1 {
			av.Error = "last: want a record ID from a previous page"
			return av, nil
		}
		q.Last = last
	}
	recs, err := u.opts.Manage.AuditLog.AuditRecords(r.Context(), q)
	if err != nil {
		return av, err
	}
	av.Records = recs
	if len(recs) == auditPage {
		next := url.Values{}
		for k, val := range map[string]string{"since": av.Since, "actor": av.Actor, "repo": av.Repo, "action": av.Action} {
			if val != "" {
				next.Set(k, val)
			}
		}
		next.Set("last", strconv.FormatInt(recs[len(recs)-1].ID, 10))
		av.Next = "/ui/access?" + next.Encode()
	}
	return av, nil
}
