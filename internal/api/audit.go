package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// Audit serves GET /api/v1/audit (docs/access.md#audit-log). Like every
// management endpoint it is for administrators when authentication is on.
type Audit struct {
	log metadata.AuditLog
	api *API // for fail and pageSize
}

// NewAudit returns the audit endpoint.
func NewAudit(log metadata.AuditLog, a *API) *Audit { return &Audit{log: log, api: a} }

// WithAudit routes /api/v1/audit to au and the rest to next.
func WithAudit(next http.Handler, au *Audit) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimPrefix(r.URL.Path, Prefix) == "audit" {
			au.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// AuditList is the body of GET /api/v1/audit. Next, when set, is the
// last= value of the following page.
type AuditList struct {
	Records []metadata.AuditRecord `json:"records"`
	Next    int64                  `json:"next,omitempty"`
}

func (au *Audit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", http.MethodGet)
		au.api.fail(w, r, oci.Errorf(oci.CodeUnsupported, "method %s not allowed", r.Method).WithStatus(http.StatusMethodNotAllowed))
		return
	}
	q, err := au.query(r)
	if err != nil {
		au.api.fail(w, r, err)
		return
	}
	recs, err := au.log.AuditRecords(r.Context(), q)
	if err != nil {
		au.api.fail(w, r, err)
		return
	}
	out := AuditList{Records: recs}
	if len(recs) == q.N && q.N > 0 {
		out.Next = recs[len(recs)-1].ID
	}
	if err := writeJSONBody(w, http.StatusOK, out); err != nil {
		au.api.fail(w, r, err)
	}
}

// maxFilterLen bounds the filter values: they are client input.
const maxFilterLen = 512

// query reads since (a duration back from now, or RFC 3339), repo,
// actor, action, n and last.
func (au *Audit) query(r *http.Request) (metadata.AuditQuery, error) {
	v := r.URL.Query()
	var q metadata.AuditQuery
	var err error
	if q.N, err = au.api.pageSize(v); err != nil {
		return q, err
	}
	if s := v.Get("since"); s != "" {
		if q.Since, err = parseSince(s, time.Now()); err != nil {
			return q, err
		}
	}
	if s := v.Get("last"); s != "" {
		if q.Last, err = strconv.ParseInt(s, 10, 64); err != nil || q.Last < 1 {
			return q, badParam("last: want a record ID from a previous page")
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"repo", &q.Repo}, {"actor", &q.Actor}, {"action", &q.Action}} {
		s := v.Get(f.name)
		if len(s) > maxFilterLen {
			return q, badParam(f.name + ": too long")
		}
		*f.dst = s
	}
	return q, nil
}

// parseSince reads a duration back from now (1h, 90m) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, badParam("since: want a duration such as 1h or an RFC 3339 time")
}
