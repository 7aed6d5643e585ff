// Package audit keeps Berth's audit log: who did what, from where, to
// what, with which result. Records come from the outbox (every change the
// metadata store announces, through an events.Relay subscriber) and from
// the server directly for what is no change (logins, refused requests).
// Each record is stored in the metadata database and, optionally,
// appended to a JSON-lines file for log shippers.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"log/syslog"
	"os"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// Actions recorded directly (the others are outbox event types).
const (
	ActionLogin  = "login"
	ActionDenied = "request.denied"
)

// maxUserAgent bounds the user agent kept per record: it is client input.
const maxUserAgent = 256

// Options configures a Log.
type Options struct {
	// File, if set, receives every record as one JSON line (appended).
	File string
	// Syslog, if set, receives every record as one JSON message
	// (syslog.go): unixgram:///dev/log, udp://host:514 or tcp://host:514.
	Syslog string
	// Logger receives failures to record; nil discards.
	Logger *slog.Logger
}

// Log records audit entries.
type Log struct {
	store metadata.AuditLog
	log   *slog.Logger

	mu     sync.Mutex     // serialises lines in file
	file   *os.File       // nil without Options.File
	syslog *syslog.Writer // nil without Options.Syslog
}

// Open returns a log over store, opening opts.File for appending.
func Open(store metadata.AuditLog, opts Options) (*Log, error) {
	l := &Log{store: store, log: opts.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if opts.File != "" {
		f, err := os.OpenFile(opts.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening audit file: %w", err)
		}
		l.file = f
	}
	if opts.Syslog != "" {
		w, err := dialSyslog(opts.Syslog)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.syslog = w
	}
	return l, nil
}

// Close closes the JSON-lines file and the syslog connection, if any.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.syslog != nil {
		_ = l.syslog.Close() // nothing is buffered: a failure loses nothing
		l.syslog = nil
	}
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	if err != nil {
		return fmt.Errorf("closing audit file: %w", err)
	}
	return nil
}

// Record stores r (stamping the time if unset) and streams it to the file.
// A record redelivered from the outbox is stored and streamed once.
func (l *Log) Record(ctx context.Context, r metadata.AuditRecord) error {
	if r.At.IsZero() {
		r.At = time.Now().UTC()
	}
	if len(r.UserAgent) > maxUserAgent {
		r.UserAgent = r.UserAgent[:maxUserAgent]
	}
	id, err := l.store.RecordAudit(ctx, r)
	if err != nil {
		return err
	}
	if id == 0 {
		return nil // already recorded
	}
	r.ID = id
	return l.stream(r)
}

// stream appends r to the file as one JSON line and sends it to syslog as
// one message. fsync is left to the OS:
// the database is the record of truth, the file a feed.
func (l *Log) stream(r metadata.AuditRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil && l.syslog == nil {
		return nil
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding audit record: %w", err)
	}
	if l.syslog != nil {
		// A syslog that is down loses the message but fails nothing: the
		// database holds the record, and returning an error would only
		// make the relay deliver an event it has already stored.
		if err := l.syslog.Info(string(line)); err != nil {
			l.log.Warn("sending audit record to syslog", slog.Int64("id", r.ID), slog.Any("err", err))
		}
	}
	if l.file == nil {
		return nil
	}
	if _, err := l.file.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("writing audit file: %w", err)
	}
	return nil
}

// Direct records a request-level entry and logs, rather than returns, a
// failure: a refused login must not turn into a 500 because the audit
// database was busy.
func (l *Log) Direct(ctx context.Context, r metadata.AuditRecord) {
	if err := l.Record(ctx, r); err != nil {
		l.log.ErrorContext(ctx, "recording audit entry", slog.String("action", r.Action), slog.Any("err", err))
	}
}

// HandleEvent is the relay subscriber: one record per outbox event.
func (l *Log) HandleEvent(ctx context.Context, e metadata.Event) error {
	return l.Record(ctx, FromEvent(e))
}

// eventDetail is what an event adds to its record beyond the columns.
type eventDetail struct {
	Digest    string `json:"digest,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
	Size      int64  `json:"size,omitempty"`
}

// FromEvent maps an outbox event to its audit record. The reference is
// the tag when there is one, else the digest.
func FromEvent(e metadata.Event) metadata.AuditRecord {
	ref := e.Tag
	if ref == "" {
		ref = e.Digest.String()
	}
	r := metadata.AuditRecord{At: e.At, Actor: e.Actor, ClientIP: e.ClientIP, Action: e.Type, Repo: e.Repo,
		Reference: ref, Result: metadata.AuditOK, EventID: e.ID}
	d := eventDetail{MediaType: e.MediaType, Size: e.Size}
	if e.Tag != "" {
		d.Digest = e.Digest.String()
	}
	if d != (eventDetail{}) {
		r.Detail, _ = json.Marshal(d) // plain fields: cannot fail
	}
	switch e.Type {
	case metadata.EventGateDenied, metadata.EventGateQuarantined:
		// A refused pull is a refusal however it reached the log; its
		// detail is the gate's reasoning, findings included.
		r.Result, r.Detail = metadata.AuditDenied, e.Detail
	case metadata.EventGateExcepted, metadata.EventQuotaWarning:
		r.Detail = e.Detail
	case metadata.EventQuotaExceeded:
		r.Result, r.Detail = metadata.AuditDenied, e.Detail
	}
	return r
}

// Prune deletes records older than retention and returns how many.
func (l *Log) Prune(ctx context.Context, retention time.Duration, now time.Time) (int, error) {
	return l.store.PruneAudit(ctx, now.Add(-retention))
}

// PruneLoop prunes now and then every interval until ctx ends.
func (l *Log) PruneLoop(ctx context.Context, retention, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := l.Prune(ctx, retention, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.ErrorContext(ctx, "pruning audit log", slog.Any("err", err))
		case n > 0:
			l.log.InfoContext(ctx, "pruned audit log", slog.Int("records", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
