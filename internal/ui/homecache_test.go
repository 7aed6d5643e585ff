package ui

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// TestHomeCache: each grant set is counted with its own patterns (nil,
// everything, and empty, nothing, stay apart), a quick count is waited
// for, a slow one is not, and a finished one is served from the cache.
func TestHomeCache(t *testing.T) {
	var (
		mu    sync.Mutex
		calls [][]string
		slow  = make(chan struct{})
	)
	c := newHomeCache(func(_ context.Context, p []string) (homeAggregates, error) {
		mu.Lock()
		calls = append(calls, p)
		mu.Unlock()
		if len(p) == 1 && p[0] == "slow/*" {
			<-slow
		}
		return homeAggregates{Totals: metadata.Totals{Repos: len(p)}}, nil
	}, slog.New(slog.DiscardHandler))

	if a, _ := c.get(nil); a == nil || a.Totals.Repos != 0 {
		t.Fatalf("get(nil) = %+v, want counted at once", a)
	}
	if a, _ := c.get([]string{}); a == nil {
		t.Fatalf("get([]) = nil")
	}
	if a, _ := c.get([]string{"a/*", "b/*"}); a == nil || a.Totals.Repos != 2 {
		t.Fatalf("get(a, b) = %+v", a)
	}
	start := time.Now()
	if a, _ := c.get([]string{"slow/*"}); a != nil || time.Since(start) > time.Second {
		t.Fatalf("slow get = %+v after %s, want nil after about %s", a, time.Since(start), homeFirstWait)
	}
	close(slow)
	c.get(nil) // cached: no new call
	deadline := time.Now().Add(5 * time.Second)
	for {
		if a, _ := c.get([]string{"slow/*"}); a != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slow count never cached")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 4 || calls[0] != nil || calls[1] == nil || len(calls[1]) != 0 {
		t.Errorf("counted %d times with %q, want 4: nil, empty, a+b, slow", len(calls), calls)
	}
}
