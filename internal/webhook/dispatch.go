package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// Options tune a Dispatcher; zero fields take the defaults in brackets.
type Options struct {
	// Guard decides which addresses may be reached [everything public].
	Guard *Guard
	// Source is the CloudEvents source of every event [/berth].
	Source string
	// Timeout bounds one attempt, connection to last byte [10s].
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a retry; it doubles
	// per failed attempt, with jitter [1s, 1h].
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts and MaxAge end the retries of a delivery, whichever
	// comes first [20, 24h].
	MaxAttempts int
	MaxAge      time.Duration
	// Poll is how often workers look for due deliveries when nothing
	// wakes them [2s].
	Poll time.Duration
	// Logger receives delivery failures; nil discards.
	Logger *slog.Logger
}

// maxResponse is how much of a receiver's answer the log keeps;
// maxDrain is how much more is read so that the connection can be reused.
const (
	maxResponse = 1 << 10
	maxDrain    = 64 << 10
	batch       = 16
	pullQueue   = 1024
)

// Store is what a Dispatcher needs of metadata.
type Store interface {
	metadata.Webhooks
}

// Dispatcher turns outbox events into deliveries and delivers them: one
// worker per enabled subscription, so that a slow or dead receiver delays
// only its own deliveries.
type Dispatcher struct {
	store  Store
	opts   Options
	log    *slog.Logger
	client *http.Client

	wake  chan struct{} // capacity 1
	pulls chan metadata.Pull

	mu      sync.Mutex
	filters map[string]*filter // enabled subscriptions; nil: reload
	dropped int                // pulls dropped because the queue was full
}

// New returns a dispatcher over store.
func New(store Store, opts Options) *Dispatcher {
	if opts.Guard == nil {
		opts.Guard = &Guard{}
	}
	if opts.Source == "" {
		opts.Source = "/berth"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(time.Hour, opts.MinBackoff)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 20
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 24 * time.Hour
	}
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{store: store, opts: opts, log: log, client: opts.Guard.Client(opts.Timeout),
		wake: make(chan struct{}, 1), pulls: make(chan metadata.Pull, pullQueue)}
}

// Changed drops the cached subscriptions and wakes the workers; the API
// calls it after every change.
func (d *Dispatcher) Changed() {
	d.mu.Lock()
	d.filters = nil
	d.mu.Unlock()
	d.poke()
}

func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// subscriptions returns the compiled filters of the enabled webhooks.
func (d *Dispatcher) subscriptions(ctx context.Context) (map[string]*filter, error) {
	d.mu.Lock()
	fs := d.filters
	d.mu.Unlock()
	if fs != nil {
		return fs, nil
	}
	ws, err := d.store.ListWebhooks(ctx)
	if err != nil {
		return nil, err
	}
	fs = make(map[string]*filter, len(ws))
	for _, w := range ws {
		if !w.Enabled {
			continue
		}
		f, err := newFilter(w)
		if err != nil {
			d.log.ErrorContext(ctx, "webhook filter", slog.String("webhook", w.Name), slog.Any("err", err))
			continue
		}
		fs[w.Name] = f
	}
	d.mu.Lock()
	d.filters = fs
	d.mu.Unlock()
	return fs, nil
}

// HandleEvent is the relay subscriber: it queues a delivery of e for
// every matching subscription. Queuing is a database write, so the relay
// never waits on a receiver; the relay retries a failed write.
func (d *Dispatcher) HandleEvent(ctx context.Context, e metadata.Event) error {
	if strings.HasPrefix(e.Type, "webhook.") {
		d.Changed() // made by another replica or a restart: reload
	}
	return d.enqueue(ctx, e, strconv.FormatInt(e.ID, 10))
}

func (d *Dispatcher) enqueue(ctx context.Context, e metadata.Event, id string) error {
	fs, err := d.subscriptions(ctx)
	if err != nil {
		return err
	}
	var (
		payload []byte
		ds      []metadata.WebhookDelivery
	)
	for name, f := range fs {
		if !f.matches(e) {
			continue
		}
		if payload == nil {
			if payload, err = Payload(d.opts.Source, id, e); err != nil {
				return err
			}
		}
		ds = append(ds, metadata.WebhookDelivery{Webhook: name, EventID: e.ID, EventType: e.Type, Payload: payload})
	}
	if len(ds) == 0 {
		return nil
	}
	if err := d.store.EnqueueDeliveries(ctx, ds); err != nil {
		return err
	}
	d.poke()
	return nil
}

// Pulled queues pull notifications without waiting: pulls are delivered
// best effort from memory, never written to the outbox (a pull must not
// cost a database write). Pulls past a full queue are dropped and counted.
func (d *Dispatcher) Pulled(pulls []metadata.Pull) {
	for _, p := range pulls {
		select {
		case d.pulls <- p:
		default:
			d.mu.Lock()
			d.dropped++
			d.mu.Unlock()
		}
	}
}

// Run delivers until ctx ends: a supervisor starts a worker per enabled
// subscription and stops those of subscriptions removed or disabled.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { d.pullLoop(ctx) })
	workers := map[string]*worker{}
	t := time.NewTicker(d.opts.Poll)
	defer t.Stop()
	for {
		fs, err := d.subscriptions(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.ErrorContext(ctx, "listing webhooks", slog.Any("err", err))
		}
		if err == nil {
			for name, w := range workers {
				if _, ok := fs[name]; !ok {
					w.cancel()
					delete(workers, name)
				}
			}
			for name := range fs {
				if _, ok := workers[name]; !ok {
					wctx, cancel := context.WithCancel(ctx)
					w := &worker{d: d, name: name, cancel: cancel, wake: make(chan struct{}, 1)}
					workers[name] = w
					wg.Go(func() { w.run(wctx) })
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
		for _, w := range workers {
			w.poke()
		}
	}
}

func (d *Dispatcher) pullLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-d.pulls:
			e := metadata.Event{Type: EventPulled, Repo: p.Repo, Digest: p.Digest, At: p.At}
			if err := d.enqueue(ctx, e, "pull-"+randomID()); err != nil && ctx.Err() == nil {
				d.log.WarnContext(ctx, "queueing pull webhook", slog.Any("err", err))
			}
		}
	}
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// worker delivers one subscription's queue, one request at a time.
type worker struct {
	d      *Dispatcher
	name   string
	cancel context.CancelFunc
	wake   chan struct{}
	next   time.Time // earliest retry this worker scheduled
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) run(ctx context.Context) {
	log := w.d.log.With(slog.String("webhook", w.name))
	for ctx.Err() == nil {
		n, err := w.deliverDue(ctx, log)
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "delivering webhooks", slog.Any("err", err))
		}
		if n == batch && err == nil {
			continue // more may be due
		}
		wait := w.d.opts.Poll
		if !w.next.IsZero() {
			wait = min(wait, max(time.Until(w.next), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// deliverDue attempts the deliveries due now and returns how many.
func (w *worker) deliverDue(ctx context.Context, log *slog.Logger) (int, error) {
	sub, err := w.d.store.Webhook(ctx, w.name)
	if errors.Is(err, metadata.ErrNotFound) {
		return 0, nil // deleted: the supervisor stops this worker
	}
	if err != nil {
		return 0, err
	}
	now := time.Now()
	due, err := w.d.store.DueDeliveries(ctx, w.name, now, batch)
	if err != nil {
		return 0, err
	}
	if !w.next.After(now) {
		w.next = time.Time{}
	}
	for _, dl := range due {
		res := w.d.attempt(ctx, sub, strconv.FormatInt(dl.ID, 10), dl.Payload, dl.EventType)
		if ctx.Err() != nil {
			return 0, nil // cut off by shutdown: not an attempt, retried after restart
		}
		a := w.d.outcome(dl, res)
		if a.State == metadata.DeliveryPending && (w.next.IsZero() || a.NextTry.Before(w.next)) {
			w.next = a.NextTry
		}
		if a.State != metadata.DeliveryDelivered {
			log.WarnContext(ctx, "webhook delivery failed", slog.Int64("delivery", dl.ID), slog.String("type", dl.EventType),
				slog.Int("attempt", dl.Attempts+1), slog.String("state", a.State), slog.String("err", a.Error))
		}
		if err := w.d.store.FinishAttempt(context.WithoutCancel(ctx), dl.ID, a); err != nil && !errors.Is(err, metadata.ErrNotFound) {
			return 0, err
		}
	}
	return len(due), nil
}

// outcome turns an attempt into the delivery's next state.
func (d *Dispatcher) outcome(dl metadata.WebhookDelivery, a metadata.WebhookAttempt) metadata.WebhookAttempt {
	n := dl.Attempts + 1
	switch {
	case a.Error == "" && a.StatusCode/100 == 2:
		a.State = metadata.DeliveryDelivered
	case a.State == metadata.DeliveryFailed: // refused target: no retry helps
	case n >= d.opts.MaxAttempts || a.At.Sub(dl.Created) >= d.opts.MaxAge:
		a.State = metadata.DeliveryFailed
	default:
		a.State, a.NextTry = metadata.DeliveryPending, a.At.Add(d.backoff(n))
	}
	return a
}

// backoff is the wait after the nth failed attempt: MinBackoff doubled
// n-1 times, capped, then "equal jitter" (half fixed, half random) so
// that receivers recovering from an outage are not hit in lockstep.
func (d *Dispatcher) backoff(n int) time.Duration {
	b := d.opts.MaxBackoff
	if n-1 < 40 {
		b = min(d.opts.MinBackoff<<(n-1), d.opts.MaxBackoff)
	}
	if b <= 0 { // overflow
		b = d.opts.MaxBackoff
	}
	half := b / 2
	return half + mrand.N(b-half+1)
}

// attempt sends one request and describes what happened. State is set
// to failed only when the target was refused; outcome decides the rest.
func (d *Dispatcher) attempt(ctx context.Context, w *metadata.Webhook, id string, payload []byte, typ string) metadata.WebhookAttempt {
	start := time.Now()
	a := metadata.WebhookAttempt{At: start}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(payload))
	if err != nil {
		a.Error, a.State = err.Error(), metadata.DeliveryFailed
		return a
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "berth-webhook/1")
	req.Header.Set(SignatureHeader, Sign(w.Secret, start, payload))
	req.Header.Set(DeliveryHeader, id)
	req.Header.Set(EventHeader, typ)
	resp, err := d.client.Do(req)
	if err != nil {
		a.Duration, a.Error = time.Since(start), err.Error()
		if errors.Is(err, ErrTarget) {
			a.State = metadata.DeliveryFailed
		}
		return a
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	a.Duration, a.StatusCode = time.Since(start), resp.StatusCode
	a.Response = strings.ToValidUTF8(string(body), "\uFFFD")
	if resp.StatusCode/100 != 2 {
		a.Error = fmt.Sprintf("receiver answered %s", resp.Status)
		if resp.StatusCode/100 == 3 {
			a.Error += " (redirects are not followed)"
		}
	}
	return a
}

// Ping sends a ping event to the named webhook now, once, records it in
// the delivery log and returns the record.
func (d *Dispatcher) Ping(ctx context.Context, name string) (*metadata.WebhookDelivery, error) {
	w, err := d.store.Webhook(ctx, name)
	if err != nil {
		return nil, err
	}
	e := metadata.Event{Type: EventPing, Tag: w.Name, Actor: metadata.ActorFrom(ctx), At: time.Now()}
	id := "ping-" + randomID()
	payload, err := Payload(d.opts.Source, id, e)
	if err != nil {
		return nil, err
	}
	dl := metadata.WebhookDelivery{Webhook: name, EventType: EventPing, Payload: payload, Created: e.At, Attempts: 1}
	// A ping is logged after it was sent, so its delivery header is the
	// event's ID rather than the log's.
	a := d.attempt(ctx, w, id, payload, EventPing)
	if a.Error == "" && a.StatusCode/100 == 2 {
		dl.State = metadata.DeliveryDelivered
	} else {
		dl.State = metadata.DeliveryFailed
	}
	dl.StatusCode, dl.Duration, dl.Error, dl.Response, dl.Finished = a.StatusCode, a.Duration, a.Error, a.Response, a.At
	if dl.ID, err = d.store.RecordDelivery(context.WithoutCancel(ctx), dl); err != nil {
		return nil, err
	}
	return &dl, nil
}

// PruneLoop deletes finished deliveries older than retention, now and
// then every interval, until ctx ends.
func (d *Dispatcher) PruneLoop(ctx context.Context, retention, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := d.store.PruneDeliveries(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			d.log.ErrorContext(ctx, "pruning webhook deliveries", slog.Any("err", err))
		case n > 0:
			d.log.InfoContext(ctx, "pruned webhook deliveries", slog.Int("deliveries", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Dropped is how many pull notifications were dropped on a full queue.
func (d *Dispatcher) Dropped() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}
