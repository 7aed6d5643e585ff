package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/netrule"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestBucket(t *testing.T) {
	// 60 per minute is one per second; a 2 s burst holds two.
	l := New[string](Options{Rates: Rates{Read: 60, Write: 6}, Burst: 2 * time.Second})
	steps := []struct {
		at   time.Duration
		key  string
		c    Class
		ok   bool
		wait time.Duration
	}{
		{0, "a", Read, true, 0},
		{0, "a", Read, true, 0},
		{0, "a", Read, false, time.Second},
		{250 * time.Millisecond, "a", Read, false, 750 * time.Millisecond},
		{time.Second, "a", Read, true, 0},
		{time.Second, "a", Read, false, time.Second},
		{time.Second, "b", Read, true, 0},                  // keys are separate
		{time.Second, "a", Delete, true, 0},                // rate 0: unlimited
		{time.Second, "a", Write, true, 0},                 // classes are separate; a burst of 2 s at 6/min is less than one: one fits
		{time.Second, "a", Write, false, 10 * time.Second}, // 6 per minute: one per 10 s
		{time.Hour, "a", Read, true, 0},                    // refilled, but only up to the burst
		{time.Hour, "a", Read, true, 0},
		{time.Hour, "a", Read, false, time.Second},
		{time.Hour - time.Minute, "a", Read, false, time.Second}, // a clock going back refills nothing
	}
	for i, st := range steps {
		ok, wait := l.Allow(st.key, st.c, t0.Add(st.at))
		if ok != st.ok || (wait-st.wait).Abs() > time.Millisecond {
			t.Errorf("step %d (%v %s %s): ok=%v wait=%v; want %v %v", i, st.at, st.key, st.c, ok, wait, st.ok, st.wait)
		}
	}
}

func TestBoundedKeys(t *testing.T) {
	l := New[string](Options{Rates: Rates{Read: 60}, Burst: time.Second, MaxKeys: 2})
	for _, k := range []string{"a", "b", "a", "c"} { // b is least recently used when c arrives
		l.Allow(k, Read, t0)
	}
	if n := l.Len(Read); n != 2 {
		t.Fatalf("tracking %d keys, want 2", n)
	}
	if ok, _ := l.Allow("a", Read, t0); ok {
		t.Error("a was evicted: recently used keys must be kept")
	}
	if ok, _ := l.Allow("b", Read, t0); !ok {
		t.Error("b was kept: the least recently used key must go first")
	}
	if n := l.Len(Write); n != 0 {
		t.Errorf("an unlimited class tracks %d keys", n)
	}
}

func TestClassOf(t *testing.T) {
	for m, want := range map[string]Class{"GET": Read, "HEAD": Read, "PUT": Write, "POST": Write, "PATCH": Write, "DELETE": Delete} {
		if got := ClassOf(m); got != want {
			t.Errorf("ClassOf(%s) = %s, want %s", m, got, want)
		}
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.7":                "10.0.0.7",
		"::ffff:10.0.0.7":         "10.0.0.7",
		"2001:db8:1:2:aaaa::1":    "2001:db8:1:2::",
		"2001:db8:1:2:ffff:1:2:3": "2001:db8:1:2::",
		"2001:db8:1:3::1":         "2001:db8:1:3::",
	} {
		if got := AddressKey(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("AddressKey(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 10 * time.Second: 10} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestHandler(t *testing.T) {
	now := t0
	var refused []string
	l := &Limits{
		Address:  New[netip.Addr](Options{Rates: Rates{Read: 2, Write: 60}, Burst: time.Minute}),
		Identity: New[string](Options{Rates: Rates{Write: 1}, Burst: time.Minute}),
		OnLimit: func(_ *http.Request, scope string, c Class, _ time.Duration) {
			refused = append(refused, scope+" "+c.String())
		},
		Now: func() time.Time { return now },
	}
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	steps := []struct {
		method, ip, user string
		status           int
		retryAfter       string
	}{
		{"GET", "10.0.0.1", "", 204, ""},
		{"GET", "10.0.0.1", "", 204, ""},
		{"GET", "10.0.0.1", "alice", 429, "30"}, // 2 per minute: the next in 30 s
		{"GET", "10.0.0.2", "", 204, ""},
		{"PUT", "10.0.0.1", "alice", 204, ""},
		{"PUT", "10.0.0.2", "alice", 429, "60"}, // alice's writes, from anywhere
		{"PUT", "10.0.0.2", "", 204, ""},        // anonymous: by address only
		{"PUT", "10.0.0.2", "bob", 204, ""},
	}
	for i, st := range steps {
		r := httptest.NewRequest(st.method, "/v2/x/manifests/1", nil)
		ctx := netrule.WithClientIP(r.Context(), netip.MustParseAddr(st.ip))
		r = r.WithContext(authz.WithPrincipal(ctx, &authz.Principal{Name: st.user}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != st.status || w.Header().Get("Retry-After") != st.retryAfter {
			t.Errorf("step %d: %d Retry-After %q; want %d %q (%s)", i, w.Code, w.Header().Get("Retry-After"), st.status, st.retryAfter, w.Body)
		}
		if st.status == 429 && !strings.Contains(w.Body.String(), `"code":"TOOMANYREQUESTS"`) {
			t.Errorf("step %d: body %s", i, w.Body)
		}
	}
	if len(refused) != 2 || refused[0] != "address read" || refused[1] != "identity write" {
		t.Errorf("OnLimit saw %v", refused)
	}
}

func BenchmarkAllow(b *testing.B) {
	l := New[netip.Addr](Options{Rates: Rates{Read: 1 << 30}})
	ips := make([]netip.Addr, 64)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(ips[i%len(ips)], Read, time.Now())
			i++
		}
	})
}
