package ui

import (
	"context"
	"net/http"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// recentActivity is how many audit records the home page shows.
const recentActivity = 10

type homeData struct {
	// Agg is nil while the aggregates are first being counted.
	Agg      *homeAggregates
	AggAt    time.Time
	Usage    *quota.Report // nil: not measured yet, or not the viewer's to see
	UsageAt  time.Time
	Activity []metadata.AuditRecord
	DB       *vulndb.Status
	Scanning bool
}

// home shows the registry at a glance, within what the viewer may pull:
// totals, images by highest severity, the most widespread CVEs (all three
// cached, homecache.go) and what happened last. Stored and reclaimable
// bytes are registry-wide, so only admins see them.
func (u *UI) home(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r.Context())
	d := homeData{Scanning: u.opts.Scans != nil}
	d.Agg, d.AggAt = u.homeAgg.get(v.patterns)
	if v.Admin() && u.usage != nil {
		d.Usage, d.UsageAt = u.usage.get()
	}
	if d.Scanning {
		d.DB = u.opts.Scans.Status()
	}
	var err error
	if d.Activity, err = u.activity(r, v); err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, page{template: "home", nav: "home", data: d})
}

// homeAggregatesOf counts what the home page caches.
func (u *UI) homeAggregatesOf(ctx context.Context, patterns []string) (homeAggregates, error) {
	var (
		a   homeAggregates
		err error
	)
	if a.Totals, err = u.opts.Store.BrowseTotals(ctx, patterns); err != nil {
		return a, err
	}
	if u.opts.Scans == nil {
		return a, nil
	}
	if a.Severities, err = u.opts.Store.SeverityCounts(ctx, patterns); err != nil {
		return a, err
	}
	a.TopVulns, err = u.opts.Store.TopVulns(ctx, patterns, 10)
	return a, err
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
