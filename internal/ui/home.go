package ui

import (
	"net/http"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// recentActivity is how many audit records the home page shows.
const recentActivity = 10

type homeData struct {
	Totals     metadata.Totals
	Usage      *quota.Report // nil: not measured yet, or not the viewer's to see
	UsageAt    time.Time
	Severities []metadata.SeverityCount
	TopVulns   []metadata.VulnCount
	Activity   []metadata.AuditRecord
	DB         *vulndb.Status
	Scanning   bool
}

// home shows the registry at a glance, within what the viewer may pull:
// totals, images by highest severity, the most widespread CVEs and what
// happened last. Stored and reclaimable bytes are registry-wide, so only
// admins see them.
func (u *UI) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := viewerFrom(ctx)
	var d homeData
	var err error
	if d.Totals, err = u.opts.Store.BrowseTotals(ctx, v.patterns); err != nil {
		u.fail(w, r, err)
		return
	}
	if v.Admin() && u.usage != nil {
		d.Usage, d.UsageAt = u.usage.get()
	}
	if u.opts.Scans != nil {
		d.Scanning = true
		d.DB = u.opts.Scans.Status()
		if d.Severities, err = u.opts.Store.SeverityCounts(ctx, v.patterns); err != nil {
			u.fail(w, r, err)
			return
		}
		if d.TopVulns, err = u.opts.Store.TopVulns(ctx, v.patterns, 10); err != nil {
			u.fail(w, r, err)
			return
		}
	}
	if d.Activity, err = u.activity(r, v); err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, page{template: "home", nav: "home", data: d})
}

// activity is the newest audit records the viewer may see: all for an
// admin, else those about repositories they may pull (a bounded look-back,
// so a busy registry costs a few pages at most).
func (u *UI) activity(r *http.Request, v *viewer) ([]metadata.AuditRecord, error) {
	q := metadata.AuditQuery{N: recentActivity}
	if !v.Admin() {
		q.N = 200
	}
	var out []metadata.AuditRecord
	for range 5 {
		recs, err := u.opts.Store.AuditRecords(r.Context(), q)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			if v.Admin() || (rec.Repo != "" && v.CanPull(rec.Repo)) {
				out = append(out, rec)
				if len(out) == recentActivity {
					return out, nil
				}
			}
		}
		if len(recs) < q.N || v.Admin() {
			break
		}
		q.Last = recs[len(recs)-1].ID
	}
	return out, nil
}
