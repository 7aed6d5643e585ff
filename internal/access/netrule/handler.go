package netrule

import (
	"context"
	"net/http"
	"net/netip"
	"sync/atomic"

	"github.com/berth-registry/berth/internal/oci"
)

type clientIPKey struct{}

// WithClientIP returns ctx carrying ip as the request's client address.
func WithClientIP(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIPFrom is the client address Handler resolved for the request.
// ok is false when the request did not pass through Handler.
func ClientIPFrom(ctx context.Context) (ip netip.Addr, ok bool) {
	ip, ok = ctx.Value(clientIPKey{}).(netip.Addr)
	return ip, ok
}

// Live holds the rules in force, replaceable at runtime without locking
// the request path. The zero value holds no rules, which allow everything.
type Live struct{ p atomic.Pointer[Rules] }

// Load returns the rules in force; nil means none.
func (l *Live) Load() *Rules { return l.p.Load() }

// Store puts r in force for every request that starts afterwards. r must
// not be modified afterwards.
func (l *Live) Store(r *Rules) { l.p.Store(r) }

// Handler applies the network rules before next runs. rules is called once
// per request (typically Live.Load) so changes apply to the next request.
// A refused request is answered 403 DENIED in the OCI error format and
// onDeny, if not nil, is called first so the refusal can be logged and
// audited. An admitted request carries its client address in its context
// (ClientIPFrom), so later layers need not resolve it again.
func Handler(rules func() *Rules, next http.Handler, onDeny func(r *http.Request, ip netip.Addr)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := rules()
		var trusted []netip.Prefix
		if rs != nil {
			trusted = rs.TrustedProxies
		}
		ip := ClientIP(r, trusted)
		if rs.Decide(ip) != Allow {
			if onDeny != nil {
				onDeny(r, ip)
			}
			oci.WriteError(w, oci.Errorf(oci.CodeDenied, "client address %s is not allowed", describe(ip)))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithClientIP(r.Context(), ip)))
	})
}

func describe(ip netip.Addr) string {
	if !ip.IsValid() {
		return "(unknown)"
	}
	return ip.String()
}
