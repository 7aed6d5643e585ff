// Package ratelimit keeps token buckets per key (an identity or a client
// address) and per class of request (reads, writes, deletes), the model of
// ACR's per-registry limits: a bucket refills at the configured rate per
// minute and holds at most a burst's worth, so a client may go as fast as
// it likes for a moment and at the configured rate for ever.
//
// Memory is bounded: at most MaxKeys buckets are tracked per class, the
// least recently used evicted first. An evicted bucket starts again full,
// which is what an idle bucket would have become anyway.
package ratelimit

import (
	"container/list"
	"math"
	"net/http"
	"sync"
	"time"
)

// Class is the kind of request a bucket counts.
type Class uint8

// The classes: reads (GET, HEAD), deletes (DELETE) and writes (the rest).
const (
	Read Class = iota
	Write
	Delete
	numClasses
)

var classNames = [numClasses]string{"read", "write", "delete"}

func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return "unknown"
}

// ClassOf classifies a request method.
func ClassOf(method string) Class {
	switch method {
	case http.MethodGet, http.MethodHead:
		return Read
	case http.MethodDelete:
		return Delete
	}
	return Write
}

// Rates are requests per minute per class; 0 means unlimited.
type Rates [numClasses]int

// Options configure a Limiter.
type Options struct {
	Rates Rates
	// Burst is how much time's worth of requests a full bucket holds: a
	// client idle for a while may send Rate×Burst requests at once. At
	// least one request always fits. 0 means 10 seconds.
	Burst time.Duration
	// MaxKeys bounds the buckets tracked per class; 0 means 100,000.
	MaxKeys int
}

// Limiter is the buckets of one kind of key: identities (strings) or
// client addresses (netip.Addr, compared without allocating). It is safe
// for concurrent use.
type Limiter[K comparable] struct {
	classes [numClasses]*buckets[K]
}

// New returns a limiter; a class whose rate is 0 is never limited.
func New[K comparable](opts Options) *Limiter[K] {
	if opts.Burst <= 0 {
		opts.Burst = 10 * time.Second
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 100_000
	}
	l := &Limiter[K]{}
	for c, perMin := range opts.Rates {
		if perMin <= 0 {
			continue
		}
		rate := float64(perMin) / 60 // tokens per second
		l.classes[c] = &buckets[K]{
			rate:  rate,
			burst: math.Max(1, rate*opts.Burst.Seconds()),
			max:   opts.MaxKeys,
			m:     make(map[K]*list.Element),
			lru:   list.New(),
		}
	}
	return l
}

// Allow takes one token from key's bucket of class c at time now. When
// the bucket is empty it takes nothing and returns how long until a token
// is there: the Retry-After to send.
func (l *Limiter[K]) Allow(key K, c Class, now time.Time) (ok bool, retryAfter time.Duration) {
	if l == nil || c >= numClasses || l.classes[c] == nil {
		return true, 0
	}
	return l.classes[c].take(key, now)
}

// Len is the number of buckets tracked for class c.
func (l *Limiter[K]) Len(c Class) int {
	if l == nil || c >= numClasses || l.classes[c] == nil {
		return 0
	}
	b := l.classes[c]
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// buckets are the buckets of one class, in least-recently-used order.
type buckets[K comparable] struct {
	rate, burst float64
	max         int

	mu  sync.Mutex
	m   map[K]*list.Element // of *bucket[K]
	lru *list.List          // front: most recently used
}

type bucket[K comparable] struct {
	key    K
	tokens float64
	last   time.Time
}

func (bs *buckets[K]) take(key K, now time.Time) (bool, time.Duration) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	var b *bucket[K]
	if e, ok := bs.m[key]; ok {
		bs.lru.MoveToFront(e)
		b = e.Value.(*bucket[K])
		if d := now.Sub(b.last).Seconds(); d > 0 {
			b.tokens = math.Min(bs.burst, b.tokens+d*bs.rate)
			b.last = now
		}
	} else {
		if len(bs.m) >= bs.max {
			old := bs.lru.Back()
			bs.lru.Remove(old)
			delete(bs.m, old.Value.(*bucket[K]).key)
		}
		b = &bucket[K]{key: key, tokens: bs.burst, last: now}
		bs.m[key] = bs.lru.PushFront(b)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / bs.rate * float64(time.Second))
	return false, wait
}

// RetryAfterSeconds renders a wait as the Retry-After header wants it:
// whole seconds, rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}
