package ratelimit

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/netrule"
	"github.com/berth-registry/berth/internal/oci"
)

// Scopes of a limit, as OnLimit is told.
const (
	ScopeAddress  = "address"
	ScopeIdentity = "identity"
)

// Limits are a server's limiters: one per client address, one per
// identity (an account or token name). Either may be nil.
type Limits struct {
	Address  *Limiter[netip.Addr]
	Identity *Limiter[string]
	// OnLimit, if set, is told of each refused request (logging, audit).
	OnLimit func(r *http.Request, scope string, c Class, wait time.Duration)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler applies the limits before next. It runs after the network
// rules (the client address is in the context, netrule.ClientIPFrom) and
// after authentication (the principal, authz.PrincipalFrom): anonymous
// requests are limited by address only. A refused request is answered
// 429 TOOMANYREQUESTS with Retry-After in whole seconds, rounded up.
func (l *Limits) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now
		if l.Now != nil {
			now = l.Now
		}
		t := now()
		c := ClassOf(r.Method)
		if l.Address != nil {
			ip, _ := netrule.ClientIPFrom(r.Context())
			if ok, wait := l.Address.Allow(AddressKey(ip), c, t); !ok {
				l.refuse(w, r, ScopeAddress, c, wait)
				return
			}
		}
		if l.Identity != nil {
			if p := authz.PrincipalFrom(r.Context()); !p.Anonymous() {
				if ok, wait := l.Identity.Allow(p.Name, c, t); !ok {
					l.refuse(w, r, ScopeIdentity, c, wait)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (l *Limits) refuse(w http.ResponseWriter, r *http.Request, scope string, c Class, wait time.Duration) {
	if l.OnLimit != nil {
		l.OnLimit(r, scope, c, wait)
	}
	secs := RetryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	oci.WriteError(w, oci.Errorf(oci.CodeTooManyRequests, "too many %ss per %s; retry in %d s", c, scope, secs).
		WithStatus(http.StatusTooManyRequests))
}

// AddressKey is the bucket key of a client address. IPv6 clients are
// counted per /64: one host is routinely given a whole /64, so per-address
// buckets would let it multiply its limit at will.
func AddressKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}
