package token

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestCachedTokenStillChecked(t *testing.T) {
	ks := newKeys(t)
	base := time.Unix(1_900_000_000, 0)
	is := NewIssuer(ks, testIss, testAud)
	is.now = func() time.Time { return base }
	tok, err := is.Issue("alice", pushPull, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock := base
	v := NewVerifier(ks, testIss, testAud)
	v.now = func() time.Time { return clock }
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	c.Subject = "mallory" // a caller scribbling on its copy
	if _, ok := v.cache.get(tok); !ok {
		t.Fatal("verified token not cached")
	}
	c2, err := v.Verify(tok)
	if err != nil || c2.Subject != "alice" {
		t.Fatalf("cache hit: %+v, %v", c2, err)
	}
	clock = base.Add(time.Minute + DefaultLeeway + time.Second)
	if _, err := v.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("cached token past expiry: %v, want ErrExpired", err)
	}
	// A verifier for another audience shares the keys but not the cache.
	other := NewVerifier(ks, testIss, "elsewhere")
	other.now = func() time.Time { return base }
	if _, err := other.Verify(tok); err == nil {
		t.Fatal("token accepted for another audience")
	}
}

func TestCacheBounded(t *testing.T) {
	var c verified
	claims := &Claims{ExpiresAt: 100}
	for i := range maxCached + 10 {
		c.put(fmt.Sprint("tok", i), "kid", claims, 50)
	}
	if n := len(c.m); n > maxCached {
		t.Fatalf("%d entries, want at most %d", n, maxCached)
	}
	// Expired entries make room first.
	var d verified
	for i := range maxCached {
		d.put(fmt.Sprint("old", i), "kid", &Claims{ExpiresAt: 10}, 5)
	}
	d.put("live", "kid", &Claims{ExpiresAt: 100}, 50)
	d.put("new", "kid", &Claims{ExpiresAt: 100}, 50)
	if _, ok := d.get("live"); !ok || len(d.m) != 2 {
		t.Fatalf("after evicting expired entries: %d entries, live kept %v", len(d.m), ok)
	}
}
