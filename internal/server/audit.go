package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/netrule"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

// auditPruneInterval is how often records past audit.retention are
// deleted; retention is counted in days.
const auditPruneInterval = time.Hour

// openEvents builds the outbox relay and the audit log, subscribed to it.
// Other subscribers (the scanner) subscribe to s.relay before Serve.
func (s *Server) openEvents(db *sqlite.Store) error {
	s.relay = events.New(db, events.Options{Logger: s.log})
	log, err := audit.Open(db, audit.Options{File: s.cfg.Audit.File, Syslog: s.cfg.Audit.Syslog, Logger: s.log})
	if err != nil {
		return err
	}
	s.audit = log
	s.access.audit = log
	s.pullAudit = log.Pulls(audit.PullOptions{Window: s.cfg.Audit.PullWindow})
	return s.relay.Subscribe("audit", log.HandleEvent)
}

// auditPulls hands served manifest GETs to the audit pull queue: no
// database work and no allocation on the request path.
type auditPulls struct{ q *audit.PullQueue }

// pullAuditDropped counts the pulls the audit log lost.
func (s *Server) pullAuditDropped() prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "berth_audit_pulls_dropped_total",
		Help: "Pulls not recorded in the audit log: the queue was full or the write failed.",
	}, func() float64 { return float64(s.pullAudit.Dropped()) })
}

// ObservePull implements registry.PullObserver.
func (a auditPulls) ObservePull(r *http.Request, repo, ref string, d digest.Digest, at time.Time) {
	p := audit.Pull{At: at, UserAgent: r.UserAgent(), Repo: repo, Reference: ref, Digest: d}
	if ip, ok := netrule.ClientIPFrom(r.Context()); ok {
		p.ClientIP = ip
	}
	if pr := authz.PrincipalFrom(r.Context()); !pr.Anonymous() {
		p.Actor = pr.Name
	}
	a.q.Add(p)
}

// startEvents runs the relay and the audit pruning until ctx ends or the
// returned stop is called; stop waits for both and closes the audit file,
// so that the stores can be closed after it.
func (s *Server) startEvents(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.relay.Run(ctx) })
	if r := time.Duration(s.cfg.Audit.Retention); r > 0 {
		wg.Go(func() { s.audit.PruneLoop(ctx, r, auditPruneInterval) })
	}
	return func() {
		cancel()
		wg.Wait()
		// The registry was closed before: no pull is added any more.
		closeCtx, cancelClose := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
		if err := s.pullAudit.Close(closeCtx); err != nil {
			s.log.Error("writing the last pulls to the audit log", slog.Any("err", err))
		}
		cancelClose()
		if err := s.audit.Close(); err != nil {
			s.log.Error("closing audit log", slog.Any("err", err))
		}
	}
}

// waking wakes the relay after every request that may have written an
// outbox event, so subscribers see a push at once rather than at the next
// poll. Reads cost nothing.
func (s *Server) waking(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.relay.Wake()
		}
	})
}

// withClientIP names the client in the context of writes, so that the
// metadata store stamps it on the outbox events they cause.
func withClientIP(r *http.Request, ip string) *http.Request {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r
	}
	return r.WithContext(metadata.WithClientIP(r.Context(), ip))
}

// requestRecord is an audit record of r with who and where filled in.
func requestRecord(r *http.Request, action, result string) metadata.AuditRecord {
	rec := metadata.AuditRecord{Action: action, Result: result, UserAgent: r.UserAgent()}
	if ip, ok := netrule.ClientIPFrom(r.Context()); ok && ip.IsValid() {
		rec.ClientIP = ip.String()
	}
	if p := authz.PrincipalFrom(r.Context()); !p.Anonymous() {
		rec.Actor = p.Name
	}
	return rec
}

// deniedDetail says why a request was refused; it never holds credentials.
type deniedDetail struct {
	Status int    `json:"status"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Reason string `json:"reason"`
	Scope  string `json:"scope,omitempty"`
}

// denied records a refused request (network rule, 401, 403).
func (a *access) denied(r *http.Request, status int, repo, scope, reason string) {
	if a.audit == nil {
		return
	}
	rec := requestRecord(r, audit.ActionDenied, metadata.AuditDenied)
	rec.Repo = repo
	rec.Detail, _ = json.Marshal(deniedDetail{Status: status, Method: r.Method, Path: r.URL.Path, Reason: reason, Scope: scope})
	a.audit.Direct(r.Context(), rec)
}

// maxAuditName bounds the user name a failed login records.
const maxAuditName = 256

// loginDetail says how a login was attempted and why it failed.
type loginDetail struct {
	Method string `json:"method"`
	Error  string `json:"error,omitempty"`
}

// ObserveLogin implements authn.LoginObserver: one record per password
// check or rejected token. The password is never seen here.
func (a *access) ObserveLogin(r *http.Request, method, user string, err error) {
	if a.audit == nil {
		return
	}
	rec := requestRecord(r, audit.ActionLogin, metadata.AuditOK)
	rec.Actor = user
	if len(rec.Actor) > maxAuditName {
		rec.Actor = rec.Actor[:maxAuditName] // an unknown name is client input
	}
	d := loginDetail{Method: method}
	if err != nil {
		rec.Result = metadata.AuditFailed
		if _, throttled := authn.ThrottledFor(err); !throttled && !errors.Is(err, authn.ErrCredentials) {
			rec.Result = metadata.AuditError // the account store failed
		}
		d.Error = err.Error()
	}
	rec.Detail, _ = json.Marshal(d)
	a.audit.Direct(r.Context(), rec)
}

// changeDetail names what a token or key change acted on.
type changeDetail struct {
	Target string `json:"target"`
	Error  string `json:"error,omitempty"`
}

// auditChange records a change to scoped tokens or signing keys.
func (a *access) auditChange(r *http.Request, action, target string, err error) {
	if a.audit == nil {
		return
	}
	rec := requestRecord(r, action, metadata.AuditOK)
	d := changeDetail{Target: target}
	if err != nil {
		rec.Result, d.Error = metadata.AuditFailed, err.Error()
	}
	rec.Detail, _ = json.Marshal(d)
	a.audit.Direct(r.Context(), rec)
}
