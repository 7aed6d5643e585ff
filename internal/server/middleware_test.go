package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEdgeServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *syncBuffer, *metrics) {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(requestIDHandler{slog.NewTextHandler(logs, nil)})
	m := newMetrics()
	e := &edge{log: log, metrics: m, ids: newRequestIDs(), next: func(route) http.Handler { return h }}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, logs, m
}

func do(t *testing.T, method, url string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestEdgeRecoversPanic(t *testing.T) {
	srv, logs, _ := newEdgeServer(t, func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	resp, body := do(t, "GET", srv.URL+"/v2/a/manifests/x", nil, nil)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, `"INTERNAL_ERROR"`) {
		t.Errorf("status %d body %q", resp.StatusCode, body)
	}
	if strings.Contains(body, "boom") {
		t.Errorf("panic value leaked to the client: %q", body)
	}
	out := logs.String()
	for _, want := range []string{"panic serving request", "boom", "status=500", "route=manifest"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestEdgeRequestID(t *testing.T) {
	srv, logs, _ := newEdgeServer(t, func(w http.ResponseWriter, r *http.Request) {
		slog.New(requestIDHandler{slog.NewTextHandler(io.Discard, nil)}).InfoContext(r.Context(), "x")
		w.WriteHeader(http.StatusNoContent)
	})
	tests := []struct {
		name, in string
		echoed   bool
	}{
		{"client id kept", "abc-123_x.y", true},
		{"generated when absent", "", false},
		{"unsafe id replaced", "bad id;<script>", false},
		{"overlong id replaced", strings.Repeat("a", 65), false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.in != "" {
				hdr["X-Request-ID"] = tt.in
			}
			resp, _ := do(t, "GET", srv.URL+"/v2/", nil, hdr)
			got := resp.Header.Get("X-Request-ID")
			if got == "" || (got == tt.in) != tt.echoed || seen[got] {
				t.Errorf("X-Request-ID = %q (in %q, seen before %v)", got, tt.in, seen[got])
			}
			seen[got] = true
			if !strings.Contains(logs.String(), "request_id="+got) {
				t.Errorf("log does not carry request id %q", got)
			}
		})
	}
}

func TestEdgeLogLine(t *testing.T) {
	srv, logs, m := newEdgeServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, strings.Repeat("z", int(n)*2))
	})
	do(t, "PATCH", srv.URL+"/v2/a/blobs/uploads/u1", strings.NewReader("12345"),
		map[string]string{"Authorization": "Bearer s3cr3t-token"})
	out := logs.String()
	for _, want := range []string{"method=PATCH", "route=blob_upload", "status=202", "bytes_in=5", "bytes_out=10", "duration=", "remote=127.0.0.1:", "path=/v2/a/blobs/uploads/u1"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("Authorization leaked into the log:\n%s", out)
	}
	if n := strings.Count(out, "msg=request"); n != 1 {
		t.Errorf("%d request lines, want 1", n)
	}
	if got := metricValue(t, m, `berth_blob_upload_duration_seconds_count{method="PATCH"}`); got != "1" {
		t.Errorf("upload histogram count = %q", got)
	}
}

// metricValue scrapes m over HTTP and returns the value of one series, or "".
func metricValue(t *testing.T, m *metrics, series string) string {
	t.Helper()
	srv := httptest.NewServer(m.handler())
	defer srv.Close()
	_, body := do(t, "GET", srv.URL, nil, nil)
	return seriesValue(body, series)
}

func seriesValue(exposition, series string) string {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestHandlerLogsCarryRequestID checks that a handler logging through the
// server's logger with the request context gets the request ID for free.
func TestHandlerLogsCarryRequestID(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(requestIDHandler{slog.NewTextHandler(logs, nil)})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.With("component", "registry").InfoContext(r.Context(), "inner")
	})
	e := &edge{log: log, ids: newRequestIDs(), next: func(route) http.Handler { return h }}
	srv := httptest.NewServer(e)
	defer srv.Close()
	do(t, "GET", srv.URL+"/v2/", nil, map[string]string{"X-Request-ID": "req-42"})
	var inner string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "msg=inner") {
			inner = line
		}
	}
	if !strings.Contains(inner, "request_id=req-42") || !strings.Contains(inner, "component=registry") {
		t.Errorf("handler line = %q", inner)
	}
	if n := strings.Count(logs.String(), "request_id=req-42"); n != 2 {
		t.Errorf("request id appears %d times, want once per line (2):\n%s", n, logs)
	}
}

func TestEdgePanicAfterHeadersAborts(t *testing.T) {
	srv, logs, _ := newEdgeServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic("late boom")
	})
	resp, err := http.Get(srv.URL + "/v2/a/blobs/sha256:x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("a response cut by a panic read as complete")
	}
	if !strings.Contains(logs.String(), "late boom") || !strings.Contains(logs.String(), "msg=request") {
		t.Errorf("panic or request line not logged:\n%s", logs)
	}
}

func TestRecorderUnwraps(t *testing.T) {
	srv, _, _ := newEdgeServer(t, func(w http.ResponseWriter, r *http.Request) {
		// Upload handlers extend deadlines through the ResponseController;
		// that only works if the recorder unwraps to the real writer.
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if _, err := io.Copy(w, strings.NewReader("streamed")); err != nil { // goes through ReadFrom
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	})
	resp, body := do(t, "GET", srv.URL+"/v2/", nil, nil)
	if resp.StatusCode != http.StatusOK || body != "streamed" {
		t.Errorf("status %d body %q", resp.StatusCode, body)
	}
}
