package authn

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/access/netrule"
	"github.com/berth-registry/berth/internal/metadata"
)

func TestThrottle(t *testing.T) {
	a, db, _ := newAuth(t)
	now := time.Now()
	a.cache.now = func() time.Time { return now }
	hash, _ := HashPassword("right-password")
	if err := db.CreateUser(context.Background(), &metadata.User{Name: "alice", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	try := func(user, pw, client string) error {
		r := httptest.NewRequest("GET", "/v2/", nil)
		r = r.WithContext(netrule.WithClientIP(r.Context(), netip.MustParseAddr(client)))
		r.SetBasicAuth(user, pw)
		_, err := a.Authenticate(r)
		return err
	}
	for i := range throttleUserMax {
		if err := try("alice", "wrong", "10.0.0.1"); !errors.Is(err, ErrCredentials) {
			t.Fatalf("failure %d: %v, want ErrCredentials", i+1, err)
		}
	}
	// Past the limit the right password is refused too, from anywhere,
	// until the delay is over; then it works and clears the count.
	err := try("alice", "right-password", "10.0.0.2")
	wait, ok := ThrottledFor(err)
	if !ok || wait != throttleBase {
		t.Fatalf("after %d failures: %v, want throttled for %s", throttleUserMax, err, throttleBase)
	}
	now = now.Add(throttleBase)
	if err := try("alice", "wrong", "10.0.0.1"); !errors.Is(err, ErrCredentials) {
		t.Fatalf("after the delay: %v", err)
	}
	if wait, _ := ThrottledFor(try("alice", "right-password", "10.0.0.2")); wait != 2*throttleBase {
		t.Errorf("second delay %s, want %s (doubling)", wait, 2*throttleBase)
	}
	now = now.Add(2 * throttleBase)
	if err := try("alice", "right-password", "10.0.0.2"); err != nil {
		t.Fatalf("right password after the delay: %v", err)
	}
	if err := try("alice", "wrong", "10.0.0.2"); !errors.Is(err, ErrCredentials) {
		t.Errorf("a success did not clear the count: %v", err)
	}
	// One address guessing many names is throttled by address.
	a.limit = throttle{}
	for i := range throttleAddrMax {
		_ = try("guess"+string(rune('a'+i)), "wrong", "10.9.9.9")
	}
	if wait, ok := ThrottledFor(try("alice", "right-password", "10.9.9.9")); !ok || wait <= 0 {
		t.Errorf("address not throttled after %d failures", throttleAddrMax)
	}
	if err := try("alice", "right-password", "10.0.0.3"); err != nil {
		t.Errorf("another address: %v", err)
	}
	// The window ends: old failures are forgotten.
	a.limit = throttle{}
	for range throttleUserMax - 1 {
		_ = try("alice", "wrong", "10.0.0.4")
	}
	now = now.Add(throttleWindow + time.Second)
	if err := try("alice", "wrong", "10.0.0.4"); !errors.Is(err, ErrCredentials) {
		t.Fatal(err)
	}
	if err := try("alice", "right-password", "10.0.0.4"); err != nil {
		t.Errorf("failures from an old window still counted: %v", err)
	}
}

func TestThrottleBounded(t *testing.T) {
	var th throttle
	now := time.Now()
	for i := range throttleEntries + 10 {
		th.fail(string(rune(i)), netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	if len(th.byUser) > throttleEntries || len(th.byAddr) > throttleEntries {
		t.Errorf("maps grew to %d, %d entries", len(th.byUser), len(th.byAddr))
	}
}
