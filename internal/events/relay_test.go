package events_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// emit writes n outbox events (gc.completed, the cheapest to record).
func emit(t *testing.T, s *sqlite.Store, n int) {
	t.Helper()
	for range n {
		if _, err := s.RecordGCRun(context.Background(), metadata.GCRun{Started: time.Now(), Finished: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
}

// collector records the IDs it was handed.
type collector struct {
	mu  sync.Mutex
	ids []int64
}

func (c *collector) handle(_ context.Context, e metadata.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids = append(c.ids, e.ID)
	return nil
}

func (c *collector) seen() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ids)
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// start runs r until the test ends and returns a stop that waits for it.
func start(t *testing.T, r *events.Relay) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return sync.OnceFunc(stop)
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

var fast = events.Options{Interval: 10 * time.Millisecond, Batch: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

func TestRelayOrderAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s := openStore(t, path)
	emit(t, s, 7) // more than one batch

	var c collector
	r := events.New(s, fast)
	if err := r.Subscribe("audit", c.handle); err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	waitFor(t, "7 events", func() bool { return len(c.seen()) == 7 })
	stop()
	if got := c.seen(); !slices.Equal(got, seq(1, 7)) {
		t.Fatalf("delivered %v, want 1..7 in order", got)
	}
	if id, err := s.LoadCursor(context.Background(), "audit"); err != nil || id != 7 {
		t.Fatalf("cursor = %d, %v; want 7", id, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A restarted process resumes after the cursor: nothing is redelivered.
	s = openStore(t, path)
	t.Cleanup(func() { s.Close() })
	emit(t, s, 2)
	var c2 collector
	r = events.New(s, fast)
	if err := r.Subscribe("audit", c2.handle); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	waitFor(t, "2 new events", func() bool { return len(c2.seen()) >= 2 })
	time.Sleep(30 * time.Millisecond) // a few more polls: still nothing old
	if got := c2.seen(); !slices.Equal(got, []int64{8, 9}) {
		t.Fatalf("after restart delivered %v, want [8 9]", got)
	}
}

func TestRelayFailingSubscriberRetriesWithoutBlocking(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "meta.db"))
	t.Cleanup(func() { s.Close() })
	emit(t, s, 4)

	var healthy collector
	var (
		mu       sync.Mutex
		attempts = map[int64]int{}
		handled  []int64
	)
	// flaky fails event 2 three times, then succeeds.
	flaky := func(_ context.Context, e metadata.Event) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[e.ID]++
		if e.ID == 2 && attempts[e.ID] <= 3 {
			return errors.New("scanner unavailable")
		}
		handled = append(handled, e.ID)
		return nil
	}
	r := events.New(s, fast)
	for name, h := range map[string]events.Handler{"healthy": healthy.handle, "flaky": flaky} {
		if err := r.Subscribe(name, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Subscribe("healthy", healthy.handle); err == nil {
		t.Error("a second subscriber with the same name was accepted")
	}
	stop := start(t, r)
	waitFor(t, "healthy subscriber", func() bool { return len(healthy.seen()) == 4 })
	waitFor(t, "flaky subscriber", func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) == 4 })
	stop()

	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(handled, seq(1, 4)) {
		t.Errorf("flaky handled %v, want 1..4 once each in order", handled)
	}
	if attempts[2] != 4 || attempts[1] != 1 || attempts[3] != 1 {
		t.Errorf("attempts = %v, want event 2 four times and the others once", attempts)
	}
	for name, want := range map[string]int64{"healthy": 4, "flaky": 4} {
		if id, err := s.LoadCursor(context.Background(), name); err != nil || id != want {
			t.Errorf("cursor %s = %d, %v; want %d", name, id, err, want)
		}
	}
	if err := r.Subscribe("late", healthy.handle); !errors.Is(err, events.ErrRunning) {
		t.Errorf("Subscribe after Run = %v, want ErrRunning", err)
	}
}

// A subscriber stuck on an event keeps its cursor before it, so a restart
// redelivers that event: at least once, never skipped.
func TestRelayCursorStopsAtFailure(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "meta.db"))
	t.Cleanup(func() { s.Close() })
	emit(t, s, 3)
	failed := make(chan struct{}, 1)
	r := events.New(s, fast)
	err := r.Subscribe("stuck", func(_ context.Context, e metadata.Event) error {
		if e.ID == 2 {
			select {
			case failed <- struct{}{}:
			default:
			}
			return errors.New("down")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	<-failed
	<-failed
	stop()
	if id, err := s.LoadCursor(context.Background(), "stuck"); err != nil || id != 1 {
		t.Errorf("cursor = %d, %v; want 1 (event 2 not handled)", id, err)
	}
}

// Wake delivers a new event well before the next poll.
func TestRelayWake(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "meta.db"))
	t.Cleanup(func() { s.Close() })
	var c collector
	r := events.New(s, events.Options{Interval: time.Hour})
	if err := r.Subscribe("audit", c.handle); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	time.Sleep(20 * time.Millisecond) // the first poll has found nothing
	emit(t, s, 1)
	r.Wake()
	waitFor(t, "the woken delivery", func() bool { return len(c.seen()) == 1 })
}

// Concurrent writers and several subscribers: every subscriber sees every
// event exactly once and in order (run with -race).
func TestRelayConcurrency(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "meta.db"))
	t.Cleanup(func() { s.Close() })
	r := events.New(s, events.Options{Interval: 5 * time.Millisecond, Batch: 7})
	subs := make([]*collector, 4)
	for i := range subs {
		subs[i] = &collector{}
		if err := r.Subscribe(string(rune('a'+i)), subs[i].handle); err != nil {
			t.Fatal(err)
		}
	}
	start(t, r)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				// t.Fatal must not run off the test goroutine.
				if _, err := s.RecordGCRun(context.Background(), metadata.GCRun{}); err != nil {
					t.Error(err)
					return
				}
				r.Wake()
			}
		})
	}
	wg.Wait()
	for i, c := range subs {
		waitFor(t, "all 40 events", func() bool { return len(c.seen()) >= 40 })
		if got := c.seen(); !slices.Equal(got, seq(1, 40)) {
			t.Errorf("subscriber %d saw %v, want 1..40", i, got)
		}
	}
}
