package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkEdge measures what the edge adds to every request: the manifest
// GET path must stay cheap enough for >10,000 req/s on two cores.
func BenchmarkEdge(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	e := &edge{
		log:     slog.New(requestIDHandler{slog.NewTextHandler(io.Discard, nil)}),
		metrics: newMetrics(),
		ids:     newRequestIDs(),
		next:    func(route) http.Handler { return ok },
	}
	req := httptest.NewRequest(http.MethodGet, "/v2/library/alpine/manifests/latest", nil)
	b.ReportAllocs()
	for b.Loop() {
		e.ServeHTTP(httptest.NewRecorder(), req)
	}
}
