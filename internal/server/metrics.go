package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are Berth's HTTP metrics on a registry of their own, so that two
// servers in one process (as in tests) never collide on the global one.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	// Per-route children resolved once: the hot path does no label lookup.
	duration [numRoutes]prometheus.Observer
	bytesIn  [numRoutes]prometheus.Counter
	bytesOut [numRoutes]prometheus.Counter
	upload   prometheus.ObserverVec
	inFlight prometheus.Gauge
	codes    [600]string
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "berth_http_requests_total",
		Help: "HTTP requests by route class, method and status code.",
	}, []string{"route", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "berth_http_request_duration_seconds",
		Help:    "Time to serve a request, by route class.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60},
	}, []string{"route"})
	bytesIn := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "berth_http_request_bytes_total",
		Help: "Request body bytes read, by route class.",
	}, []string{"route"})
	bytesOut := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "berth_http_response_bytes_total",
		Help: "Response body bytes written, by route class.",
	}, []string{"route"})
	upload := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "berth_blob_upload_duration_seconds",
		Help:    "Time to serve a blob upload request (POST, PATCH or PUT), by method.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 9), // 10ms .. ~11min
	}, []string{"method"})
	m.upload = upload
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "berth_http_requests_in_flight",
		Help: "Requests being served now.",
	})
	m.reg.MustRegister(m.requests, duration, bytesIn, bytesOut, upload, m.inFlight,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for r := range numRoutes {
		name := r.String()
		m.duration[r] = duration.WithLabelValues(name)
		m.bytesIn[r] = bytesIn.WithLabelValues(name)
		m.bytesOut[r] = bytesOut.WithLabelValues(name)
	}
	for c := range m.codes {
		m.codes[c] = strconv.Itoa(c)
	}
	return m
}

func (m *metrics) observe(rt route, method string, status int, in, out int64, d time.Duration) {
	code := "other"
	if status >= 0 && status < len(m.codes) {
		code = m.codes[status]
	}
	meth := methodLabel(method)
	m.requests.WithLabelValues(rt.String(), meth, code).Inc()
	m.duration[rt].Observe(d.Seconds())
	if in > 0 {
		m.bytesIn[rt].Add(float64(in))
	}
	if out > 0 {
		m.bytesOut[rt].Add(float64(out))
	}
	if rt == routeBlobUpload && (meth == http.MethodPost || meth == http.MethodPatch || meth == http.MethodPut) {
		m.upload.WithLabelValues(meth).Observe(d.Seconds())
	}
}

// methodLabel bounds the method label: clients may send any token.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
