package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// hosts is a resolver over a fixed table: tests never ask real DNS.
type hosts map[string][]netip.Addr

func (h hosts) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := h[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

var testHosts = hosts{
	"hooks.example":    {netip.MustParseAddr("93.184.215.14")},
	"internal.example": {netip.MustParseAddr("10.1.2.3")},
	"mixed.example":    {netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("127.0.0.1")},
	"metadata.example": {netip.MustParseAddr("169.254.169.254")},
	"v6.example":       {netip.MustParseAddr("2606:2800:21f:cb07:6820:80da:af6b:8b2c")},
}

func TestCheckURL(t *testing.T) {
	g := &Guard{Resolver: testHosts}
	allowLocal := &Guard{Resolver: testHosts, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16")}}
	for _, tc := range []struct {
		url   string
		guard *Guard
		ok    bool
	}{
		{"https://hooks.example/x", g, true},
		{"http://93.184.215.14:8080/hook", g, true},
		{"https://v6.example/", g, true},
		{"https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/", g, true},
		{"http://127.0.0.1:9000/", g, false},
		{"http://127.1/", g, false},
		{"http://10.0.0.5/", g, false},
		{"http://172.16.3.4/", g, false},
		{"http://192.168.1.1/", g, false},
		{"http://100.64.0.1/", g, false},
		{"http://169.254.169.254/latest/meta-data/", g, false},
		{"http://[fd00:ec2::254]/", g, false},
		{"http://[::1]:80/", g, false},
		{"http://[::]/", g, false},
		{"http://0.0.0.0/", g, false},
		{"http://[::ffff:127.0.0.1]/", g, false},
		{"http://[::ffff:a9fe:a9fe]/", g, false}, // 169.254.169.254 mapped
		{"http://[64:ff9b::a9fe:a9fe]/", g, false},
		{"http://[fe80::1%25eth0]/", g, false},
		{"http://224.0.0.1/", g, false},
		{"http://internal.example/", g, false},
		{"http://mixed.example/", g, false},
		{"http://metadata.example/", g, false},
		{"http://unknown.example/", g, false},
		{"ftp://hooks.example/", g, false},
		{"file:///etc/passwd", g, false},
		{"https://user:pw@hooks.example/", g, false},
		{"https:///nohost", g, false},
		{"hooks.example/x", g, false},
		{"http://hooks.example:0/", g, false},
		{"http://hooks.example:99999/", g, false},
		{"http://127.0.0.1:9000/", allowLocal, true},
		{"http://internal.example/", allowLocal, true},
		{"http://10.2.0.1/", allowLocal, false},
		{"http://169.254.169.254/", allowLocal, false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			_, err := tc.guard.CheckURL(context.Background(), tc.url)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrTarget) {
				t.Fatalf("err = %v, want ErrTarget", err)
			}
		})
	}
}

// A name that passed the creation check but resolves to loopback when the
// request is made (DNS rebinding) is refused by the dialer: the check sees
// the address actually connected to.
func TestDialRefusesInternalAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	for _, tc := range []struct {
		name  string
		guard *Guard
		url   string
		ok    bool
	}{
		{"localhost refused", &Guard{}, "http://localhost" + port, false},
		{"ip refused", &Guard{}, srv.URL, false},
		{"allowlisted", &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}}, "http://localhost" + port, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.guard.Client(2 * time.Second).Get(tc.url)
			if err == nil {
				resp.Body.Close()
			}
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrTarget)) {
				t.Fatalf("err = %v, want ok=%v (or ErrTarget)", err, tc.ok)
			}
		})
	}
}

func TestClientFollowsNoRedirect(t *testing.T) {
	hit := make(chan struct{}, 1)
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit <- struct{}{} }))
	defer inner.Close()
	outer := httptest.NewServer(http.RedirectHandler(inner.URL, http.StatusTemporaryRedirect))
	defer outer.Close()
	g := &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	resp, err := g.Client(2 * time.Second).Get(outer.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("status %d, want the redirect itself", resp.StatusCode)
	}
	select {
	case <-hit:
		t.Error("the redirect was followed")
	default:
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://hooks.example/x", "http://127.0.0.1/", "http://[::ffff:10.0.0.1]:80/",
		"http://[fe80::1%25eth0]/", "https://user@h/", "http://0x7f.1/", "http://2130706433/", "//x", ""} {
		f.Add(s)
	}
	g := &Guard{Resolver: testHosts}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := g.CheckURL(context.Background(), raw)
		if err != nil {
			if !errors.Is(err, ErrTarget) {
				t.Fatalf("error %v does not wrap ErrTarget", err)
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.User != nil || u.Hostname() == "" {
			t.Fatalf("accepted %q (%+v)", raw, u)
		}
		// Whatever was accepted connects only to an address that passes.
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			if g.AllowedAddr(a) != nil {
				t.Fatalf("accepted %q, an internal address", raw)
			}
		} else if _, ok := testHosts[u.Hostname()]; !ok {
			t.Fatalf("accepted %q, whose host does not resolve", raw)
		}
	})
}
