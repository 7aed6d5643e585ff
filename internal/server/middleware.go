package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/access/netrule"
	"github.com/berth-registry/berth/internal/oci"
)

// headerRequestID carries the request ID in and out.
const headerRequestID = "X-Request-Id"

// Constant log keys keep request lines greppable across the code base.
const (
	keyRequestID = "request_id"
	keyMethod    = "method"
	keyRoute     = "route"
	keyPath      = "path"
	keyStatus    = "status"
	keyBytesIn   = "bytes_in"
	keyBytesOut  = "bytes_out"
	keyDuration  = "duration"
	keyRemote    = "remote"
	keyClient    = "client"
)

type requestIDKey struct{}

// requestIDs hands out IDs unique to this process: a random prefix chosen at
// start and a counter, which costs one small allocation per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (g *requestIDs) next() string {
	return g.prefix + strconv.FormatUint(g.n.Add(1), 36)
}

// validRequestID accepts a client's ID only if it is short and plain, since
// it is echoed in a header and written to logs.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// edge wraps the whole server in one layer instead of a chain, so a request
// pays for one wrapper: request ID, metrics, one log line, panic recovery.
type edge struct {
	next    func(route) http.Handler
	log     *slog.Logger
	metrics *metrics // nil when metrics are disabled
	ids     *requestIDs
	// clientIP resolves the client address (network rules, trusted
	// proxies); nil logs the peer only.
	clientIP func(*http.Request) netip.Addr
}

func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get(headerRequestID)
	if !validRequestID(id) {
		id = e.ids.next()
	}
	w.Header()[headerRequestID] = []string{id}
	rt := classify(r.URL.Path)
	// The edge logs with the incoming context: it names the ID itself.
	logCtx := r.Context()
	ctx := context.WithValue(r.Context(), requestIDKey{}, id)
	var client netip.Addr
	if e.clientIP != nil {
		client = e.clientIP(r)
		ctx = netrule.WithClientIP(ctx, client)
	}
	r = r.WithContext(ctx)
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{ReadCloser: r.Body}
		r.Body = body
	}
	rec := &recorder{ResponseWriter: w}
	if e.metrics != nil {
		e.metrics.inFlight.Inc()
	}

	defer func() {
		// abort makes net/http cut the connection, so a client never takes
		// a response truncated by a panic for a complete one.
		abort := false
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value, compared as net/http does
				abort = true
			} else {
				e.log.LogAttrs(logCtx, slog.LevelError, "panic serving request",
					slog.String(keyRequestID, id), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				if rec.wroteHeader {
					abort = true
				} else {
					oci.WriteError(rec, oci.AsError(fmt.Errorf("panic: %v", p)))
				}
			}
		}
		var in int64
		if body != nil {
			in = body.n
		}
		d := time.Since(start)
		status := rec.statusCode()
		if e.metrics != nil {
			e.metrics.inFlight.Dec()
			e.metrics.observe(rt, r.Method, status, in, rec.bytes, d)
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		// Headers are not logged at all: Authorization must never reach a log.
		e.log.LogAttrs(logCtx, level, "request",
			slog.String(keyRequestID, id),
			slog.String(keyMethod, r.Method),
			slog.String(keyRoute, rt.String()),
			slog.String(keyPath, r.URL.Path),
			slog.Int(keyStatus, status),
			slog.Int64(keyBytesIn, in),
			slog.Int64(keyBytesOut, rec.bytes),
			slog.Duration(keyDuration, d),
			slog.String(keyRemote, r.RemoteAddr),
			slog.String(keyClient, client.String()),
		)
		if abort {
			panic(http.ErrAbortHandler)
		}
	}()
	e.next(rt).ServeHTTP(rec, r)
}

// recorder notes the status and the bytes written. It forwards Flush and
// ReadFrom (so blob downloads keep using sendfile) and unwraps for
// http.ResponseController.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader && code >= 200 {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = http.StatusOK, true
	}
	var n int64
	var err error
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(r.ResponseWriter, src)
	}
	r.bytes += n
	return n, err
}

func (r *recorder) Flush() {
	if !r.wroteHeader {
		r.status, r.wroteHeader = http.StatusOK, true
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) statusCode() int {
	if !r.wroteHeader {
		// A handler that writes nothing answers 200.
		return http.StatusOK
	}
	return r.status
}

// countingBody counts request body bytes for metrics and logs.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// requestIDHandler adds the request ID to every record logged with a
// request's context, so that handlers given the server's logger correlate
// their lines with the request line without knowing about the server.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		rec.AddAttrs(slog.String(keyRequestID, id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
