package registry

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// A client that hangs up mid-chunk must not get a 202 for the chunk, and
// the bytes that did arrive stay so that it can resume where they end.
func TestTruncatedChunkIsNotAccepted(t *testing.T) {
	e := newEnv(t, Options{})
	start := e.do(http.MethodPost, "/v2/trunc/blobs/uploads/", nil)
	if start.status != http.StatusAccepted {
		t.Fatalf("POST: status %d", start.status)
	}
	loc := start.header.Get("Location")

	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sent := strings.Repeat("x", 50)
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n%s", loc, sent)
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		t.Fatalf("truncated chunk answered 202")
	}

	status := e.do(http.MethodGet, loc, nil)
	if status.status != http.StatusNoContent {
		t.Fatalf("upload status: %d", status.status)
	}
	if got, want := status.header.Get("Range"), fmt.Sprintf("0-%d", len(sent)-1); got != want {
		t.Errorf("Range after truncated chunk = %q, want %q (the bytes that arrived)", got, want)
	}
}
