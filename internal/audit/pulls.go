package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// ActionPulled is the action of a pull record: a manifest GET. It is
// recorded from memory in batches (PullQueue), never by an outbox event.
const ActionPulled = "manifest.pulled"

// Pull is one served manifest GET as the registry hands it over. Every
// field is a value the request already holds: making one allocates nothing.
type Pull struct {
	At        time.Time
	Actor     string // "" for anonymous
	ClientIP  netip.Addr
	UserAgent string
	Repo      string
	Reference string // the tag or digest asked for
	Digest    digest.Digest
}

// PullOptions tunes a PullQueue; zero fields take the defaults.
type PullOptions struct {
	// QueueSize bounds the records held in memory (default 10,000): when
	// it is reached they are written at once, and until they are, further
	// pulls are dropped and counted.
	QueueSize int
	// FlushEvery is how often closed windows are written (default 1s).
	FlushEvery time.Duration
	// BatchSize is the most records one transaction inserts (default 500).
	BatchSize int
	// Window coalesces identical pulls (same actor, address, repository
	// and digest) into one record with a count (default 1m).
	Window time.Duration
}

// dropWarnEvery is how often, at most, dropped pulls are logged.
const dropWarnEvery = time.Minute

// PullQueue records pulls in the audit log off the request path. Add
// counts a pull into its window in memory, under a mutex held for one map
// update: no channel send, so no goroutine is woken per pull. One
// goroutine writes the windows that closed, in batches. Unlike pushes,
// which the outbox makes durable, pull records are best effort: under
// overload (a full queue) or a failed write they are lost, and counted in
// Dropped.
type PullQueue struct {
	l    *Log
	opts PullOptions

	mu   sync.Mutex
	open map[pullKey]pullWindow
	full chan struct{} // wakes the writer when open reached QueueSize

	dropped atomic.Uint64

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type pullKey struct {
	actor  string
	ip     netip.Addr
	repo   string
	digest digest.Digest
}

// pullWindow is one coalesced record being counted.
type pullWindow struct {
	first, last Pull
	count       int
}

// pullDetail is a pull record's detail.
type pullDetail struct {
	Digest string    `json:"digest"`
	Count  int       `json:"count"`
	Last   time.Time `json:"last"`
}

// Pulls starts a queue writing pull records to l; Close stops it.
func (l *Log) Pulls(opts PullOptions) *PullQueue {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 10_000
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	q := &PullQueue{l: l, opts: opts, open: make(map[pullKey]pullWindow),
		full: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go q.loop()
	return q
}

// Add counts p, or drops and counts it when the queue is full. It never
// waits for the database. It reports whether p was kept.
func (q *PullQueue) Add(p Pull) bool {
	k := pullKey{p.Actor, p.ClientIP, p.Repo, p.Digest}
	q.mu.Lock()
	if w, ok := q.open[k]; ok {
		w.last, w.count = p, w.count+1
		q.open[k] = w
		q.mu.Unlock()
		return true
	}
	kept := len(q.open) < q.opts.QueueSize
	if kept {
		q.open[k] = pullWindow{first: p, last: p, count: 1}
	}
	full := len(q.open) >= q.opts.QueueSize
	q.mu.Unlock()
	if full {
		select {
		case q.full <- struct{}{}:
		default:
		}
	}
	if !kept {
		q.dropped.Add(1)
	}
	return kept
}

// Dropped is how many pulls were not recorded since the queue started.
func (q *PullQueue) Dropped() uint64 { return q.dropped.Load() }

// Close stops the writer after it wrote every pull added before, open
// windows included.
func (q *PullQueue) Close(ctx context.Context) error {
	q.closeOnce.Do(func() { close(q.stop) })
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *PullQueue) loop() {
	defer close(q.done)
	t := time.NewTicker(q.opts.FlushEvery)
	defer t.Stop()
	var (
		warned   time.Time
		reported uint64
	)
	for {
		select {
		case <-q.full:
			q.write(time.Time{})
		case now := <-t.C:
			q.write(now.Add(-q.opts.Window))
			if d := q.dropped.Load(); d > reported && now.Sub(warned) >= dropWarnEvery {
				q.l.log.Warn("audit queue full: pulls not recorded", slog.Uint64("dropped", d-reported), slog.Uint64("total", d))
				warned, reported = now, d
			}
		case <-q.stop:
			q.write(time.Time{})
			return
		}
	}
}

// write records and removes the windows opened before closedBefore (all
// of them if it is zero), BatchSize records per transaction. The lock is
// held only to take the windows out.
func (q *PullQueue) write(closedBefore time.Time) {
	var closed []pullWindow
	q.mu.Lock()
	for k, w := range q.open {
		if closedBefore.IsZero() || !w.first.At.After(closedBefore) {
			closed = append(closed, w)
			delete(q.open, k)
		}
	}
	q.mu.Unlock()
	for len(closed) > 0 {
		n := min(len(closed), q.opts.BatchSize)
		batch := make([]metadata.AuditRecord, n)
		for i := range batch {
			batch[i] = closed[i].record()
		}
		q.insert(batch)
		closed = closed[n:]
	}
}

func (w pullWindow) record() metadata.AuditRecord {
	r := metadata.AuditRecord{At: w.first.At.UTC(), Actor: w.first.Actor, UserAgent: w.last.UserAgent,
		Action: ActionPulled, Repo: w.first.Repo, Reference: w.first.Reference, Result: metadata.AuditOK}
	if w.first.ClientIP.IsValid() {
		r.ClientIP = w.first.ClientIP.String()
	}
	if len(r.UserAgent) > maxUserAgent {
		r.UserAgent = r.UserAgent[:maxUserAgent]
	}
	r.Detail, _ = json.Marshal(pullDetail{Digest: w.first.Digest.String(), Count: w.count, Last: w.last.At.UTC()})
	return r
}

// insert stores one batch and streams it; a failure loses the batch.
func (q *PullQueue) insert(batch []metadata.AuditRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids, err := q.l.store.RecordAudits(ctx, batch)
	if err != nil {
		q.dropped.Add(uint64(len(batch)))
		q.l.log.Error("recording pulls in the audit log", slog.Int("records", len(batch)), slog.Any("err", err))
		return
	}
	for i, r := range batch {
		r.ID = ids[i]
		if err := q.l.stream(r); err != nil {
			q.l.log.Warn("streaming audit record", slog.Int64("id", r.ID), slog.Any("err", err))
		}
	}
}
