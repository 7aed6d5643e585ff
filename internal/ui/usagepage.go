package ui

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/metadata"
)

// chartDays and chartSamples bound the usage chart: a quarter, one
// sample a day and one per restart.
const (
	chartDays    = 90
	chartSamples = 500
)

// usagePerPage is the per-repository table's page size: rendering all
// 10,000 rows of a large registry took about 190 ms.
const usagePerPage = 100

type usageData struct {
	Report   *quota.Report // nil until measured
	At       time.Time
	Repos    []quota.RepoUsage // this page's
	Total    int               // repositories the viewer may pull
	Page     int
	Pages    int
	Prev     string
	Next     string
	Quotas   quota.Options
	Free     int64 // -1 unknown
	LowDisk  bool
	Chart    *chart
	Admin    bool
	Measured bool
}

// usagePage shows storage per repository (those the viewer may pull),
// quotas and the free-disk watermark, and, for admins, the registry's
// totals and stored bytes over time.
func (u *UI) usagePage(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r.Context())
	m := u.opts.Manage
	d := usageData{Admin: v.Admin(), Quotas: m.Quotas, Free: -1}
	if u.usage != nil {
		d.Report, d.At = u.usage.get()
	}
	if d.Report != nil {
		d.Measured = true
		for _, ru := range d.Report.Repositories {
			if v.CanPull(ru.Name) {
				d.Repos = append(d.Repos, ru)
			}
		}
		slices.SortFunc(d.Repos, func(a, b quota.RepoUsage) int {
			return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.Name, b.Name))
		})
	}
	d.Total = len(d.Repos)
	d.Pages = max(1, (d.Total+usagePerPage-1)/usagePerPage)
	d.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	d.Repos = d.Repos[min((d.Page-1)*usagePerPage, d.Total):min(d.Page*usagePerPage, d.Total)]
	if d.Page > 1 {
		d.Prev = "/ui/usage?page=" + strconv.Itoa(d.Page-1)
	}
	if d.Page < d.Pages {
		d.Next = "/ui/usage?page=" + strconv.Itoa(d.Page+1)
	}
	if d.Admin {
		if m.FreeBytes != nil {
			if free, err := m.FreeBytes(); err == nil {
				d.Free = free
				d.LowDisk = m.Quotas.MinFree > 0 && free < m.Quotas.MinFree
			}
		}
		if m.UsageHistory != nil {
			samples, err := m.UsageHistory.UsageSamples(r.Context(), time.Now().AddDate(0, 0, -chartDays), chartSamples)
			if err != nil {
				u.fail(w, r, err)
				return
			}
			if d.Report != nil && (len(samples) == 0 || d.At.After(samples[len(samples)-1].At)) {
				samples = append(samples, metadata.UsageSample{At: d.At, StoredBytes: d.Report.StoredBytes,
					ReclaimableBytes: d.Report.ReclaimableBytes, TrashBytes: d.Report.TrashBytes})
			}
			d.Chart = usageChart(samples)
		}
	}
	u.render(w, r, http.StatusOK, page{template: "usage", nav: "usage", data: d})
}
