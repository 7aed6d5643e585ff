package authn

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/oci"
)

// Brute-force throttling: failed logins are counted per login name and per
// client address within a window. Past the limit, each further failure
// doubles the time during which that name, or that address, is refused
// without checking any password (so a throttled guess costs the server
// nothing). A success clears the name's count; the address keeps its own,
// so one client guessing many names is still slowed down.
const (
	throttleWindow   = 15 * time.Minute
	throttleUserMax  = 5  // failures per login name within the window
	throttleAddrMax  = 20 // failures per client address within the window
	throttleBase     = time.Second
	throttleMaxDelay = 15 * time.Minute
	throttleEntries  = 1 << 14 // per map; beyond it expired entries go
)

// ThrottledError refuses a login attempt while its name or address is
// throttled. It is not ErrCredentials: it answers 429, not 401.
type ThrottledError struct {
	Wait time.Duration
	// By is "user" or "address".
	By string
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins by %s; retry in %s", e.By, e.Wait.Round(time.Second))
}

// ThrottledFor reports whether err is a throttling refusal, and for how long.
func ThrottledFor(err error) (time.Duration, bool) {
	var te *ThrottledError
	if errors.As(err, &te) {
		return te.Wait, true
	}
	return 0, false
}

// WriteThrottled answers 429 TOOMANYREQUESTS with Retry-After in whole
// seconds, rounded up.
func WriteThrottled(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	oci.WriteError(w, oci.Errorf(oci.CodeTooManyRequests, "too many failed logins; retry later"))
}

type failures struct {
	n     int
	first time.Time // start of the window
	until time.Time // refused before this
}

// throttle counts failures; the zero value is ready.
type throttle struct {
	mu     sync.Mutex
	byUser map[string]*failures
	byAddr map[netip.Addr]*failures
}

// check returns a refusal if name or addr is throttled at now.
func (t *throttle) check(name string, addr netip.Addr, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.byUser[name]; f != nil && now.Before(f.until) {
		return &ThrottledError{Wait: f.until.Sub(now), By: "user"}
	}
	if f := t.byAddr[addr]; f != nil && now.Before(f.until) {
		return &ThrottledError{Wait: f.until.Sub(now), By: "address"}
	}
	return nil
}

// fail counts a failed attempt.
func (t *throttle) fail(name string, addr netip.Addr, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byUser == nil {
		t.byUser, t.byAddr = map[string]*failures{}, map[netip.Addr]*failures{}
	}
	count(t.byUser, name, throttleUserMax, now)
	count(t.byAddr, addr, throttleAddrMax, now)
}

// succeed clears the name's failures.
func (t *throttle) succeed(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byUser, name)
}

func count[K comparable](m map[K]*failures, k K, limit int, now time.Time) {
	f := m[k]
	if f == nil || (now.Sub(f.first) > throttleWindow && !now.Before(f.until)) {
		if f == nil && len(m) >= throttleEntries {
			prune(m, now)
		}
		f = &failures{first: now}
		m[k] = f
	}
	f.n++
	if over := f.n - limit; over >= 0 {
		d := throttleMaxDelay
		if over < 20 {
			d = min(throttleBase<<over, throttleMaxDelay)
		}
		f.until = now.Add(d)
	}
}

// prune drops entries whose window and delay are over; if none are, it
// drops everything rather than grow without bound.
func prune[K comparable](m map[K]*failures, now time.Time) {
	for k, f := range m {
		if now.Sub(f.first) > throttleWindow && !now.Before(f.until) {
			delete(m, k)
		}
	}
	if len(m) >= throttleEntries {
		clear(m)
	}
}
