// Package events relays the metadata outbox to in-process subscribers
// (the audit log, the scanner, webhooks). Each subscriber has a durable
// cursor: delivery is at least once, in outbox order, and a subscriber
// that fails is retried with backoff without holding up the others.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// Handler handles one event. Returning an error redelivers the same event
// after a backoff; a handler therefore must tolerate seeing an event twice.
type Handler func(ctx context.Context, e metadata.Event) error

// Store is what the relay needs of metadata.
type Store interface {
	metadata.Outbox
	metadata.Cursors
}

// Options tunes a Relay; the zero value is a sensible default.
type Options struct {
	// Interval is how often the outbox is polled when nothing wakes the
	// relay (default 2s).
	Interval time.Duration
	// Batch is how many events are read at a time (default 100).
	Batch int
	// MinBackoff and MaxBackoff bound the wait before a failed event is
	// redelivered; it doubles on each failure (defaults 200ms and 1m).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives delivery failures; nil discards.
	Logger *slog.Logger
}

// Relay delivers outbox events to named subscribers.
type Relay struct {
	store Store
	opts  Options
	log   *slog.Logger

	mu      sync.Mutex
	subs    []*subscriber
	running bool
}

type subscriber struct {
	name string
	h    Handler
	wake chan struct{} // capacity 1: a pending wake-up is never lost
}

// New returns a relay over store.
func New(store Store, opts Options) *Relay {
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(time.Minute, opts.MinBackoff)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{store: store, opts: opts, log: log}
}

// ErrRunning is returned by Subscribe once Run has started.
var ErrRunning = errors.New("events: subscribe after the relay started")

// Subscribe registers h under name, the key of its durable cursor: a
// subscriber renamed starts again from the first event still in the
// outbox. It must be called before Run.
func (r *Relay) Subscribe(name string, h Handler) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return ErrRunning
	}
	for _, s := range r.subs {
		if s.name == name {
			return fmt.Errorf("events: subscriber %q registered twice", name)
		}
	}
	r.subs = append(r.subs, &subscriber{name: name, h: h, wake: make(chan struct{}, 1)})
	return nil
}

// Wake makes every subscriber look at the outbox now instead of at its
// next poll. It never blocks: writers call it after a commit.
func (r *Relay) Wake() {
	r.mu.Lock()
	subs := r.subs
	r.mu.Unlock()
	for _, s := range subs {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Run delivers events until ctx ends, each subscriber in its own
// goroutine, and returns once every handler has returned.
func (r *Relay) Run(ctx context.Context) {
	r.mu.Lock()
	r.running = true
	subs := r.subs
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() { r.deliver(ctx, s) })
	}
	wg.Wait()
}

// deliver is one subscriber's loop: load the cursor, then read, handle
// and advance until ctx ends.
func (r *Relay) deliver(ctx context.Context, s *subscriber) {
	log := r.log.With(slog.String("subscriber", s.name))
	var (
		cursor int64
		loaded bool
	)
	for ctx.Err() == nil {
		if !loaded {
			c, err := r.store.LoadCursor(ctx, s.name)
			if err != nil {
				log.ErrorContext(ctx, "loading relay cursor", slog.Any("err", err))
				r.idle(ctx, s)
				continue
			}
			cursor, loaded = c, true
		}
		evs, err := r.store.PendingEvents(ctx, cursor, r.opts.Batch)
		if err != nil {
			if ctx.Err() == nil {
				log.ErrorContext(ctx, "reading outbox", slog.Any("err", err))
			}
			r.idle(ctx, s)
			continue
		}
		next := r.handle(ctx, log, s, evs, cursor)
		if next != cursor {
			// A failed save only means redelivery after a restart.
			if err := r.store.SaveCursor(context.WithoutCancel(ctx), s.name, next); err != nil {
				log.ErrorContext(ctx, "saving relay cursor", slog.Any("err", err))
			}
			cursor = next
		}
		if len(evs) < r.opts.Batch {
			r.idle(ctx, s)
		}
	}
}

// handle hands evs to s in order, retrying a failing event with backoff,
// and returns the ID of the last event handled (cursor if none).
func (r *Relay) handle(ctx context.Context, log *slog.Logger, s *subscriber, evs []metadata.Event, cursor int64) int64 {
	for _, e := range evs {
		backoff := r.opts.MinBackoff
		for {
			err := s.h(ctx, e)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return cursor
			}
			log.WarnContext(ctx, "event handler failed; retrying",
				slog.Int64("event", e.ID), slog.String("type", e.Type),
				slog.Duration("backoff", backoff), slog.Any("err", err))
			if !sleep(ctx, backoff) {
				return cursor
			}
			backoff = min(2*backoff, r.opts.MaxBackoff)
		}
		cursor = e.ID
	}
	return cursor
}

// idle waits for the poll interval, a wake-up or the end of ctx.
func (r *Relay) idle(ctx context.Context, s *subscriber) {
	t := time.NewTimer(r.opts.Interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-s.wake:
	case <-t.C:
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
