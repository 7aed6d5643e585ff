package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
)

// The usage chart is drawn here, as SVG geometry the template writes out:
// no chart library and no script, and the CSP allows no inline style, so
// everything is attributes (colours come from the stylesheet's classes).

const (
	chartW, chartH = 640, 220
	// The plot area inside the axes' labels.
	plotLeft, plotRight, plotTop, plotBottom = 64, 628, 12, 192
)

type tick struct {
	X, Y   float64
	Label  string
	Anchor string // text-anchor of an axis label
}

type chart struct {
	W, H                     int
	Left, Right, Top, Bottom int
	Line, Area               string // polyline and polygon points
	Points                   []tick // one marker per sample, with its value as a tooltip
	YTicks, XTicks           []tick
	Samples                  int
	First, Last              metadata.UsageSample
}

// usageChart lays out stored bytes over time. Fewer than one sample is
// no chart (nil).
func usageChart(samples []metadata.UsageSample) *chart {
	if len(samples) == 0 {
		return nil
	}
	c := &chart{W: chartW, H: chartH, Left: plotLeft, Right: plotRight, Top: plotTop, Bottom: plotBottom,
		Samples: len(samples), First: samples[0], Last: samples[len(samples)-1]}
	t0, t1 := samples[0].At, samples[len(samples)-1].At
	if !t1.After(t0) {
		// One instant: spread it over a day so the point sits mid-chart.
		t0, t1 = t0.Add(-12*time.Hour), t1.Add(12*time.Hour)
	}
	var maxBytes int64
	for _, s := range samples {
		maxBytes = max(maxBytes, s.StoredBytes)
	}
	top := niceCeil(maxBytes)
	x := func(t time.Time) float64 {
		return plotLeft + float64(plotRight-plotLeft)*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(b int64) float64 {
		return plotBottom - float64(plotBottom-plotTop)*float64(b)/float64(top)
	}
	var line strings.Builder
	for i, s := range samples {
		px, py := x(s.At), y(s.StoredBytes)
		if i > 0 {
			line.WriteByte(' ')
		}
		fmt.Fprintf(&line, "%.1f,%.1f", px, py)
		c.Points = append(c.Points, tick{X: px, Y: py, Label: s.At.UTC().Format("2006-01-02 15:04") + ": " + retention.HumanBytes(s.StoredBytes)})
	}
	c.Line = line.String()
	c.Area = fmt.Sprintf("%.1f,%d %s %.1f,%d", x(samples[0].At), plotBottom, c.Line, x(samples[len(samples)-1].At), plotBottom)
	for i := range 5 {
		b := top * int64(i) / 4
		c.YTicks = append(c.YTicks, tick{X: plotLeft - 6, Y: y(b), Label: retention.HumanBytes(b)})
	}
	// Days apart, the date is enough; within a few days the hour matters.
	layout := "Jan 2"
	if t1.Sub(t0) < 72*time.Hour {
		layout = "Jan 2 15:04"
	}
	for i := range 4 {
		t := t0.Add(t1.Sub(t0) * time.Duration(i) / 3)
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 3:
			anchor = "end"
		}
		c.XTicks = append(c.XTicks, tick{X: x(t), Y: plotBottom + 18, Label: t.UTC().Format(layout), Anchor: anchor})
	}
	return c
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 1),
// so that the axis labels read well.
func niceCeil(n int64) int64 {
	if n <= 0 {
		return 1
	}
	p := int64(1)
	for p*10 <= n {
		p *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}
