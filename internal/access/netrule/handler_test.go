package netrule

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
)

// fromAddr returns a client whose connections leave from the loopback
// address src; Linux routes all of 127.0.0.0/8 to lo.
func fromAddr(t *testing.T, src string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	tr := &http.Transport{
		DialContext:       d.DialContext,
		DisableKeepAlives: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

type denial struct {
	path string
	ip   netip.Addr
}

// ruleServer serves the rules in live; the handler echoes the client IP
// that Handler stored in the context.
func ruleServer(t *testing.T, live *Live) (*httptest.Server, func() []denial) {
	t.Helper()
	var mu sync.Mutex
	var denied []denial
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, ok := ClientIPFrom(r.Context())
		if !ok {
			t.Error("client IP missing from the context")
		}
		_, _ = io.WriteString(w, ip.String())
	})
	h := Handler(live.Load, next, func(r *http.Request, ip netip.Addr) {
		mu.Lock()
		defer mu.Unlock()
		denied = append(denied, denial{r.URL.Path, ip})
	})
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv, func() []denial {
		mu.Lock()
		defer mu.Unlock()
		return append([]denial(nil), denied...)
	}
}

type result struct {
	status int
	body   string
}

func get(t *testing.T, c *http.Client, url string, hdr http.Header) result {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, string(b)}
}

func TestHandlerFromLoopbackAddresses(t *testing.T) {
	live := &Live{}
	live.Store(mustRules(t, Spec{
		DefaultAction:  "deny",
		Allow:          []string{"127.0.0.2", "198.51.100.0/24"},
		Deny:           []string{"198.51.100.66"},
		TrustedProxies: []string{"127.0.0.3"},
	}))
	srv, denied := ruleServer(t, live)
	tests := []struct {
		name   string
		src    string
		hdr    http.Header
		status int
		body   string // for 200, the client IP the handler saw
		ip     string // for 403, the address refused
	}{
		{"allowed peer", "127.0.0.2", nil, 200, "127.0.0.2", ""},
		{"denied peer", "127.0.0.4", nil, 403, "", "127.0.0.4"},
		{"denied peer forges xff", "127.0.0.4", http.Header{"X-Forwarded-For": {"127.0.0.2"}}, 403, "", "127.0.0.4"},
		{"denied peer forges forwarded", "127.0.0.4", http.Header{"Forwarded": {"for=127.0.0.2"}}, 403, "", "127.0.0.4"},
		{"denied peer forges proxy chain", "127.0.0.4", http.Header{"X-Forwarded-For": {"198.51.100.1, 127.0.0.3"}}, 403, "", "127.0.0.4"},
		{"allowed peer forges a denied xff", "127.0.0.2", http.Header{"X-Forwarded-For": {"198.51.100.66"}}, 200, "127.0.0.2", ""},
		{"proxy without header is itself", "127.0.0.3", nil, 403, "", "127.0.0.3"},
		{"proxy forwards allowed client", "127.0.0.3", http.Header{"X-Forwarded-For": {"198.51.100.9"}}, 200, "198.51.100.9", ""},
		{"proxy forwards via forwarded", "127.0.0.3", http.Header{"Forwarded": {`for="198.51.100.9:1234"`}}, 200, "198.51.100.9", ""},
		{"proxy forwards denied client", "127.0.0.3", http.Header{"X-Forwarded-For": {"198.51.100.66"}}, 403, "", "198.51.100.66"},
		{"client spoofs left of proxy entry", "127.0.0.3", http.Header{"X-Forwarded-For": {"198.51.100.9, 203.0.113.5"}}, 403, "", "203.0.113.5"},
		{"client forges forwarded, proxy appends xff", "127.0.0.3", http.Header{"Forwarded": {"for=198.51.100.9"}, "X-Forwarded-For": {"203.0.113.5"}}, 403, "", "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(denied())
			got := get(t, fromAddr(t, tt.src), srv.URL+"/v2/", tt.hdr)
			if got.status != tt.status {
				t.Fatalf("status %d (%s), want %d", got.status, got.body, tt.status)
			}
			if tt.status == 200 {
				if got.body != tt.body {
					t.Fatalf("handler saw client %q, want %q", got.body, tt.body)
				}
				if len(denied()) != before {
					t.Fatal("onDeny called for an admitted request")
				}
				return
			}
			var es struct {
				Errors []struct{ Code, Message string }
			}
			if err := json.Unmarshal([]byte(got.body), &es); err != nil || len(es.Errors) != 1 || es.Errors[0].Code != "DENIED" {
				t.Fatalf("body %q is not one OCI DENIED error", got.body)
			}
			d := denied()
			if len(d) != before+1 || d[len(d)-1].ip.String() != tt.ip || d[len(d)-1].path != "/v2/" {
				t.Fatalf("onDeny saw %+v, want one more denial of %s", d, tt.ip)
			}
			if tt.ip != "invalid IP" {
				if want := "client address " + tt.ip + " is not allowed"; es.Errors[0].Message != want {
					t.Fatalf("message %q, want %q", es.Errors[0].Message, want)
				}
			}
		})
	}
}

func TestHandlerRulesChangeAtRuntime(t *testing.T) {
	live := &Live{}
	srv, _ := ruleServer(t, live)
	c := fromAddr(t, "127.0.0.2")
	url := srv.URL + "/v2/"

	if got := get(t, c, url, nil); got.status != 200 || got.body != "127.0.0.2" {
		t.Fatalf("no rules: %+v, want 200 from 127.0.0.2", got)
	}
	live.Store(mustRules(t, Spec{Deny: []string{"127.0.0.2"}}))
	if got := get(t, c, url, nil); got.status != 403 {
		t.Fatalf("after deny: status %d, want 403", got.status)
	}
	if got := get(t, fromAddr(t, "127.0.0.5"), url, nil); got.status != 200 {
		t.Fatalf("other address after deny: status %d, want 200", got.status)
	}
	live.Store(mustRules(t, Spec{DefaultAction: "deny", Allow: []string{"127.0.0.0/30"}}))
	if got := get(t, c, url, nil); got.status != 200 {
		t.Fatalf("after allow: status %d, want 200", got.status)
	}
	if got := get(t, fromAddr(t, "127.0.0.5"), url, nil); got.status != 403 {
		t.Fatalf("outside allow list: status %d, want 403", got.status)
	}
	live.Store(nil)
	if got := get(t, fromAddr(t, "127.0.0.5"), url, nil); got.status != 200 {
		t.Fatalf("rules removed: status %d, want 200", got.status)
	}
}
