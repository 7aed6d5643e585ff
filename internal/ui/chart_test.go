package ui

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
)

func TestUsageChart(t *testing.T) {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if c := usageChart(nil); c != nil {
		t.Fatalf("no samples: %+v, want no chart", c)
	}
	one := usageChart([]metadata.UsageSample{{At: day, StoredBytes: 700}})
	if one == nil || len(one.Points) != 1 || one.Points[0].X != (plotLeft+plotRight)/2 {
		t.Fatalf("one sample: %+v, want one point mid-chart", one)
	}
	c := usageChart([]metadata.UsageSample{{At: day, StoredBytes: 0}, {At: day.AddDate(0, 0, 10), StoredBytes: 3000}, {At: day.AddDate(0, 0, 30), StoredBytes: 1500}})
	if got := c.Line; got != "64.0,192.0 252.0,84.0 628.0,138.0" {
		t.Errorf("line = %q", got)
	}
	if top := c.YTicks[len(c.YTicks)-1]; top.Label != retention.HumanBytes(5000) || top.Y != plotTop {
		t.Errorf("top label %q, want the 5000-byte ceiling", top.Label)
	}
	if c.XTicks[0].Label != "Mar 1" || c.XTicks[0].Anchor != "start" || c.XTicks[3].Anchor != "end" {
		t.Errorf("x ticks %+v", c.XTicks)
	}
	for n, want := range map[int64]int64{0: 1, 1: 1, 7: 10, 10: 10, 11: 20, 450: 500, 501: 1000, 2_000_001: 5_000_000} {
		if got := niceCeil(n); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", n, got, want)
		}
	}
}
