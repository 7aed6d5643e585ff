package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestShutdownDrainsUploads cancels the server while a chunked upload is
// streaming: the upload must complete and be answered, and Serve return nil.
func TestShutdownDrainsUploads(t *testing.T) {
	s, _, stop := start(t, testConfig(t))
	resp, body := do(t, "POST", s.URL()+"/v2/app/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting upload: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if strings.HasPrefix(loc, "/") {
		loc = s.URL() + loc
	}

	pr, pw := io.Pipe()
	req, err := http.NewRequest("PATCH", loc, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	// A connection of its own: a reused keep-alive connection counts as
	// idle until the server reads the request, and Shutdown may close it.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	type result struct {
		code int
		err  error
	}
	answered := make(chan result, 1)
	go func() {
		r, err := client.Do(req)
		if err != nil {
			answered <- result{err: err}
			return
		}
		r.Body.Close()
		answered <- result{code: r.StatusCode}
	}()
	if _, err := pw.Write([]byte("first half ")); err != nil {
		t.Fatal(err)
	}

	// Wait until the server is serving the upload (the scrape itself is
	// the other request in flight).
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, m := do(t, "GET", s.URL()+"/metrics", nil, nil)
		if seriesValue(m, "berth_http_requests_in_flight") == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload never reached the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(200 * time.Millisecond) // shutdown has begun and is waiting on the upload
	select {
	case err := <-stopped:
		t.Fatalf("server stopped with an upload in flight: %v", err)
	default:
	}
	if _, err := pw.Write([]byte("second half")); err != nil {
		t.Fatal(err)
	}
	pw.Close()

	select {
	case res := <-answered:
		if res.err != nil || res.code != http.StatusAccepted {
			t.Errorf("upload answered %d, %v during shutdown, want 202", res.code, res.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("upload not answered")
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve after drain: %v", err)
	}
}

func TestOpenValidates(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxPageSize = 0
	err := New(cfg, nil).Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), "config: limits.max_page_size") {
		t.Errorf("Open() = %v, want the invalid key named", err)
	}
}
