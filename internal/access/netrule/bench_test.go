package netrule

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkHandler(b *testing.B) {
	live := &Live{}
	r, err := Spec{
		DefaultAction:  "deny",
		Allow:          []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "2001:db8::/32"},
		Deny:           []string{"10.66.0.0/16", "192.0.2.0/24"},
		TrustedProxies: []string{"127.0.0.3"},
	}.Rules()
	if err != nil {
		b.Fatal(err)
	}
	live.Store(r)
	h := Handler(live.Load, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), nil)
	for _, tt := range []struct{ name, remote, xff string }{
		{"peer", "192.168.1.9:5000", ""},
		{"via proxy", "127.0.0.3:5000", "203.0.113.1, 10.1.2.3"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/v2/a/manifests/latest", nil)
			req.RemoteAddr = tt.remote
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		})
	}
}
