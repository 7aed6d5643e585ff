package remote

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		statuses   []int
		retryAfter string
		retries    int
		wantCalls  int
		wantStatus int // 0 = success
	}{
		{"429 then ok", []int{429, 200}, "0", 0, 2, 0},
		{"503 twice then ok", []int{503, 503, 200}, "", 0, 3, 0},
		{"Retry-After beyond the cap is capped", []int{429, 200}, "3600", 0, 2, 0},
		{"Retry-After as a date", []int{503, 200}, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 0, 2, 0},
		{"gives up after retries", []int{500, 500, 500}, "", 2, 3, 500},
		{"no retry when disabled", []int{502, 200}, "", -1, 1, 502},
		{"4xx is not retried", []int{404, 200}, "", 0, 1, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(calls.Add(1)) - 1
				st := tt.statuses[min(i, len(tt.statuses)-1)]
				if st != 200 {
					w.Header().Set("Retry-After", tt.retryAfter)
					oci.WriteError(w, oci.Errorf(oci.CodeTooManyRequests, "slow down").WithStatus(st))
					return
				}
				w.Write([]byte(`{"tags":["a"]}`))
			}))
			defer srv.Close()
			c, err := New(srv.URL, Options{Retries: tt.retries, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = c.Tags(context.Background(), "app", 0)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v: waits are not bounded", d)
			}
			if int(calls.Load()) != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls.Load(), tt.wantCalls)
			}
			var se *StatusError
			switch {
			case tt.wantStatus == 0 && err != nil:
				t.Errorf("err = %v", err)
			case tt.wantStatus != 0 && (!errors.As(err, &se) || se.Status != tt.wantStatus):
				t.Errorf("err = %v, want status %d", err, tt.wantStatus)
			case tt.wantStatus != 0 && (se.Errors == nil || se.Errors.Errors[0].Code != oci.CodeTooManyRequests || !strings.Contains(err.Error(), "slow down")):
				t.Errorf("OCI error body not decoded: %v", err)
			}
		})
	}
}

func TestRetryWaitEndsWithContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c, _ := New(srv.URL, Options{MaxBackoff: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Tags(ctx, "app", 0)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("err = %v after %v", err, time.Since(start))
	}
}

func TestResponsesAreBounded(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"huge body", func(w http.ResponseWriter, r *http.Request) {
			chunk := strings.Repeat("x", 1<<20)
			for range 9 {
				w.Write([]byte(chunk))
			}
		}, "exceeds"},
		{"link to another host", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", `<http://198.51.100.1/v2/app/tags/list?last=a>; rel="next"`)
			w.Write([]byte(`{"tags":["a"]}`))
		}, "refusing to follow"},
		{"huge error body is cut, still an error", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(strings.Repeat("y", 1<<20)))
		}, "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c, _ := New(srv.URL, Options{Retries: -1})
			_, err := c.Tags(context.Background(), "app", 0)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:5000", "ftp://h", "http://h/v2", "http://u:p@h", "http://h?x=1", "http://"} {
		t.Run(u, func(t *testing.T) {
			if _, err := New(u, Options{}); err == nil {
				t.Errorf("New(%q) succeeded", u)
			}
		})
	}
	c, err := New("http://127.0.0.1:5000/", Options{})
	if err != nil || c.Base() != "http://127.0.0.1:5000" {
		t.Errorf("New with trailing slash = %v, %v", c, err)
	}
}

func TestNextLink(t *testing.T) {
	tests := []struct{ header, want string }{
		{`</v2/_catalog?last=b&n=2>; rel="next"`, "/v2/_catalog?last=b&n=2"},
		{`</a>; rel=prev, </b>; rel=next`, "/b"},
		{`</a>`, ""},
		{`garbage; rel="next"`, ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Link", tt.header)
			}
			if got := nextLink(h); got != tt.want {
				t.Errorf("nextLink = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPredecessors(t *testing.T) {
	tagTests := []struct{ name, want string }{
		{"a", "_" + strings.Repeat("z", 127)},
		{"0", ""},
		{"v1", "v0" + strings.Repeat("z", 126)},
		{"v-", "v"},
		{"v.", "v-" + strings.Repeat("z", 126)},
		{"A", "9" + strings.Repeat("z", 127)},
	}
	for _, tt := range tagTests {
		t.Run("tag "+tt.name, func(t *testing.T) {
			got := tagPredecessor(tt.name)
			if got != tt.want {
				t.Errorf("tagPredecessor(%q) = %q, want %q", tt.name, got, tt.want)
			}
			if got != "" && (!oci.ValidTag(got) || got >= tt.name) {
				t.Errorf("%q is not a valid tag below %q", got, tt.name)
			}
		})
	}
	hex := strings.Repeat("0", 62)
	digestTests := []struct {
		in, want string
		ok       bool
	}{
		{"sha256:" + hex + "a1", "sha256:" + hex + "a0", true},
		{"sha256:" + hex + "a0", "sha256:" + hex + "9f", true},
		{"sha256:" + hex + "00", "", false},
		{"sha256:" + hex + "1a", "sha256:" + hex + "19", true},
		{"sha256:XYZ", "", false},
	}
	for _, tt := range digestTests {
		t.Run("digest "+tt.in[len(tt.in)-3:], func(t *testing.T) {
			got, ok := digestPredecessor(digest.Digest(tt.in))
			if string(got) != tt.want || ok != tt.ok {
				t.Errorf("digestPredecessor = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
