// Package server runs Berth's HTTP server: it opens the stores named by the
// configuration, mounts the OCI registry at /v2/, the management API at
// /api/v1/, health probes and Prometheus metrics, wraps everything in one
// edge layer (request ID, metrics, a log line, panic recovery) and shuts
// down gracefully when its context ends.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/lifecycle/policy"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scan/gate"
	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/fsblob"
	"github.com/berth-registry/berth/internal/ui"
	"github.com/berth-registry/berth/internal/webhook"
)

// Server is one Berth server. Open it, then Serve it; Serve closes it.
type Server struct {
	cfg config.Config
	log *slog.Logger
	// certs is tls.cert and tls.key, reloaded on SIGHUP (tls.go).
	certs *certReloader

	blobs    storage.Store
	meta     metadata.Store
	registry *registry.Registry
	access   *access
	storage  *storageServices
	policies *policy.Runner
	metrics  *metrics
	relay    *events.Relay // outbox subscribers: audit, scanner (audit.go)
	audit    *audit.Log
	scan     *scanning  // scan on push (scan.go)
	gate     *gate.Gate // pull gates by scan (gates.go)
	ui       *ui.UI     // the web UI under /ui/ (ui.go)
	ln       net.Listener
	http     *http.Server
	webhooks *webhook.Dispatcher // deliveries to subscribers (webhooks.go)
	// newImporter builds POST /api/v1/import; nil answers 501.
	newImporter ImporterFunc
	// pullAudit records manifest GETs in the audit log in batches (audit.go).
	pullAudit *audit.PullQueue
}

// ImporterFunc builds the service of POST /api/v1/import over the
// registry handler; importer.New is one, which berth serve passes in. The
// server's own tests do without it and get 501.
type ImporterFunc func(registry http.Handler, cfg config.Config, log *slog.Logger) (api.ImportService, error)

// WithImporter makes the server serve POST /api/v1/import; call it before
// Open.
func (s *Server) WithImporter(f ImporterFunc) *Server {
	s.newImporter = f
	return s
}

// New returns a server for cfg, which must be valid (config.Build validates).
// A nil logger discards.
func New(cfg config.Config, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: slog.New(requestIDHandler{logger.Handler()})}
}

// Open opens the stores, builds the handlers and binds the listener, so
// that Addr is known before Serve. On error everything opened is closed.
func (s *Server) Open(ctx context.Context) (err error) {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.closeStores()
		}
	}()
	fs, err := fsblob.Open(ctx, s.cfg.StorageDir(), fsblob.Options{})
	if err != nil {
		return fmt.Errorf("opening blob storage %s: %w", s.cfg.StorageDir(), err)
	}
	s.blobs = fs
	db, err := sqlite.Open(ctx, s.cfg.MetadataPath(), sqlite.Options{})
	if err != nil {
		return fmt.Errorf("opening metadata %s: %w", s.cfg.MetadataPath(), err)
	}
	s.meta = db
	if s.access, err = s.openAccess(ctx, db); err != nil {
		return err
	}
	netRules, err := s.openNetworkRules(ctx, db)
	if err != nil {
		return err
	}
	if err := s.openEvents(db); err != nil {
		return err
	}
	if err := s.openWebhooks(db); err != nil {
		return err
	}
	if s.scan, err = s.openScanning(ctx, fs, db); err != nil {
		return err
	}
	if s.gate, err = s.openGates(ctx, db); err != nil {
		return err
	}
	if s.storage, err = newStorageServices(s.cfg, fs, db, s.log); err != nil {
		return err
	}
	if s.policies, err = s.openPolicies(ctx, db); err != nil {
		return err
	}

	s.registry, err = registry.New(registry.Options{
		Blobs:            s.blobs,
		Meta:             pullTap{db, s.webhooks},
		Logger:           s.log,
		MaxManifestBytes: int64(s.cfg.Limits.MaxManifestSize),
		MaxPageSize:      s.cfg.Limits.MaxPageSize,
		Authorizer:       s.access.authorizer(),
		Trash:            s.trash(),
		Locks:            s.meta,
		Limits:           s.storage.limits(),
		Gate:             s.gate,
		PullObserver:     auditPulls{s.pullAudit},
	})
	if err != nil {
		return fmt.Errorf("building registry: %w", err)
	}
	mgmt, err := api.New(s.meta, api.Options{MaxPageSize: s.cfg.Limits.MaxPageSize, Logger: s.log})
	if err != nil {
		return fmt.Errorf("building management API: %w", err)
	}
	var imports api.ImportService
	if s.newImporter != nil {
		if imports, err = s.newImporter(s.waking(s.registry), s.cfg, s.log); err != nil {
			return err
		}
	}
	if s.ui, err = s.openUI(db, netRules); err != nil {
		return fmt.Errorf("building web UI: %w", err)
	}
	if s.cfg.Metrics.Enabled {
		s.metrics = newMetrics()
		s.metrics.reg.MustRegister(s.pullAuditDropped())
	}

	s.http = &http.Server{
		Handler: s.handler(api.WithImport(api.WithWebhooks(api.WithGates(s.scan.wrap(mgmt, api.WithNetworkRules(api.WithPolicies(api.WithAudit(api.WithStorage(api.WithLifecycle(mgmt, api.NewLifecycle(s.meta, mgmt)),
			api.NewStorage(s.storage.gc, s.storage.meter, mgmt)), api.NewAudit(db, mgmt)), api.NewPolicies(db, s.policies, mgmt)), api.NewNetworkRules(netRules, mgmt))), api.NewGates(db, s.gate, mgmt)), api.NewWebhooks(s.webhooks, mgmt)), api.NewImport(imports, mgmt))),
		ReadHeaderTimeout: s.cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.Server.IdleTimeout,
		MaxHeaderBytes:    int(s.cfg.Server.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.TLS.Enabled() {
		if s.http.TLSConfig, err = s.tlsConfig(); err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, s.http.TLSConfig)
	}
	s.watchHUP(ctx)
	s.ln = ln
	return nil
}

// Addr is the bound address; nil before Open.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL is the base URL clients use, e.g. https://127.0.0.1:5000.
func (s *Server) URL() string {
	scheme := "http"
	if s.cfg.TLS.Enabled() {
		scheme = "https"
	}
	return scheme + "://" + s.Addr().String()
}

// Serve answers requests until ctx ends, then drains requests in flight
// (for at most server.shutdown_timeout), closes the registry so buffered
// pull times are flushed, and closes the stores.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		return errors.New("server: Serve before Open")
	}
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	stopGC := s.storage.start(ctx)
	stopTrash := s.startTrashExpiry(ctx)
	stopPolicies := s.startPolicies(ctx)
	stopEvents := s.startEvents(ctx)
	stopWebhooks := s.startWebhooks(ctx)
	stopScan := s.scan.start(ctx)
	stopUsage := s.startUsageHistory(ctx)

	var serveErr error
	select {
	case serveErr = <-errc:
		serveErr = fmt.Errorf("serving: %w", serveErr)
	case <-ctx.Done():
	}
	stopTrash()
	stopPolicies()
	// The caller's context is done by now; shutdown gets its own deadline.
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	var errs []error
	if serveErr != nil {
		errs = append(errs, serveErr)
		_ = s.http.Close()
	} else {
		if err := s.http.Shutdown(drainCtx); err != nil {
			// Requests still running past the deadline are cut off.
			errs = append(errs, fmt.Errorf("draining requests: %w", err), s.http.Close())
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serving: %w", err))
		}
	}
	// Flushing pull times gets a fresh deadline: a drain that used up its
	// own must not cost the pulls it recorded.
	closeCtx, cancelClose := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Server.ShutdownTimeout)
	defer cancelClose()
	if err := s.registry.Close(closeCtx); err != nil {
		errs = append(errs, fmt.Errorf("closing registry: %w", err))
	}
	stopUsage()
	stopGC() // a scheduled run ends before its stores close
	stopEvents()
	stopWebhooks()
	stopScan() // after the relay: no delivery waits on the queue
	errs = append(errs, s.closeStores())
	return errors.Join(errs...)
}

// Run opens and serves: the whole life of a server.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Open(ctx); err != nil {
		return err
	}
	return s.Serve(ctx)
}

func (s *Server) closeStores() error {
	var errs []error
	if s.meta != nil {
		if err := s.meta.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing metadata: %w", err))
		}
		s.meta = nil
	}
	if c, ok := s.blobs.(io.Closer); ok {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing blob storage: %w", err))
		}
	}
	s.blobs = nil
	return errors.Join(errs...)
}

// handler dispatches on the route class the edge computed, so a path is
// examined once per request.
func (s *Server) handler(mgmt http.Handler) http.Handler {
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		oci.WriteError(w, oci.Errorf(oci.CodeUnsupported, "no such endpoint").WithStatus(http.StatusNotFound))
	})
	reg, mgmt := s.waking(s.registry), s.waking(mgmt)
	health := http.HandlerFunc(s.serveHealth)
	var metricsHandler http.Handler = notFound
	if s.metrics != nil {
		metricsHandler = s.metrics.handler()
	}
	e := &edge{log: s.log, metrics: s.metrics, ids: newRequestIDs()}
	e.next = func(rt route) http.Handler {
		switch {
		case rt.registry():
			return reg
		case rt == routeAPI:
			return mgmt
		case rt == routeHealth:
			return health
		case rt == routeMetrics:
			return metricsHandler
		case rt == routeUI:
			return s.ui
		}
		return notFound
	}
	if s.access != nil {
		e.next, e.clientIP = s.access.wrap(e.next), s.access.clientIP
	}
	return e
}

// probeDigest is looked up by readiness checks; it is not expected to exist.
const probeDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// serveHealth answers /healthz (the process serves HTTP) and /readyz (the
// stores answer a lookup within two seconds).
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Path == "/readyz" {
		if err := s.ready(r.Context()); err != nil {
			s.log.WarnContext(r.Context(), "not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready\n")
			return
		}
	}
	_, _ = io.WriteString(w, "ok\n")
}

func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.meta.ListRepos(ctx, metadata.Page{N: 1}); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if _, err := s.blobs.Stat(ctx, probeDigest); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("blob storage: %w", err)
	}
	return nil
}
