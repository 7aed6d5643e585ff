// Package ui is Berth's web UI: server-rendered html/template pages under
// /ui/, embedded in the binary, with a little vanilla JavaScript for what
// plain HTML cannot do (copy buttons, the theme toggle). There is no build
// step: go build produces the whole UI.
//
// Every page is one file holding its handler, with its template in
// templates/<name>.html; routes.go lists them. The layout, the render
// helper (render.go), sessions (session.go), CSRF (csrf.go) and the
// security headers (headers.go) are shared, so a page never deals with
// them itself.
package ui

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/oidc"
	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/report"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
	"github.com/berth-registry/berth/internal/storage"
)

//go:embed templates static
var assets embed.FS

// Store is what the pages read from metadata; metadata/sqlite provides it.
type Store interface {
	metadata.Browse
	TagDetails(ctx context.Context, repo string, order metadata.Order, p metadata.Page) ([]metadata.TagInfo, error)
	Manifest(ctx context.Context, repo string, d digest.Digest) (*metadata.Manifest, error)
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]metadata.Descriptor, error)
	ListLocks(ctx context.Context, repo string) ([]metadata.Lock, error)
	ManifestTags(ctx context.Context, repo string, d digest.Digest) ([]string, error)
	AuditRecords(ctx context.Context, q metadata.AuditQuery) ([]metadata.AuditRecord, error)
	AffectedBy(ctx context.Context, id string, p metadata.Page) ([]metadata.AffectedImage, error)
	// User re-reads a signed-in account on every request, so that a
	// disabled account or a revoked grant takes effect at once.
	User(ctx context.Context, name string) (*metadata.User, error)
}

// Scans is what the pages read of vulnerability scans; *scanner.Scanner
// provides it.
type Scans interface {
	Report(ctx context.Context, repo string, d digest.Digest) (*scanner.Report, error)
	WriteSBOM(ctx context.Context, w io.Writer, repo string, d digest.Digest, f report.Format) error
	Status() *vulndb.Status
}

// Blobs opens blobs: the image page reads an image's config.
type Blobs interface {
	Open(ctx context.Context, d digest.Digest) (storage.Blob, error)
}

// Options are the UI's collaborators. Store and Blobs are required.
type Options struct {
	Store Store
	Blobs Blobs
	// Scans is nil when the server does not scan.
	Scans Scans
	// Auth checks passwords at sign-in; nil when authentication is off,
	// and then everyone sees everything without signing in.
	Auth *authn.Authenticator
	// Policy holds the anonymous-read patterns.
	Policy authz.Policy
	// Usage measures stored and reclaimable bytes (a walk of the blob
	// store and a GC dry run); the home page caches it for UsageTTL.
	Usage    func(context.Context) (quota.Report, error)
	UsageTTL time.Duration
	// Manage are the services of the Policies, Usage and Access pages
	// (manage.go); each nil one hides its section.
	Manage Manage
	// Observer is told of every sign-in attempt (the audit log).
	Observer authn.LoginObserver
	// SSOLoginURL, when set, is offered on the sign-in page.
	SSOLoginURL string
	// OIDC, when set, is served under /auth/oidc/ (sso.go): its callback
	// starts a UI session. SSOLoginURL defaults to its login then.
	OIDC OIDCLogin
	// Version is shown in the footer; the build's module version if "".
	Version string
	// Session lifetimes; 30 minutes idle and 12 hours absolute if zero.
	SessionIdle, SessionMax time.Duration
	Logger                  *slog.Logger
}

// UI is the web UI's handler.
type UI struct {
	opts     Options
	log      *slog.Logger
	sessions *Sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
	usage    *usageCache
	homeAgg  *homeCache
	version  string
}

// New parses every template (a template error fails here, at startup,
// not on a request) and builds the routes.
func New(opts Options) (*UI, error) {
	if opts.Store == nil || opts.Blobs == nil {
		return nil, fmt.Errorf("ui: Store and Blobs are required")
	}
	u := &UI{opts: opts, log: opts.Logger, version: opts.Version}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.version == "" {
		u.version = buildVersion()
	}
	u.sessions = NewSessions(opts.SessionIdle, opts.SessionMax)
	if opts.Usage != nil {
		u.usage = newUsageCache(opts.Usage, opts.UsageTTL, u.log)
	}
	u.homeAgg = newHomeCache(u.homeAggregatesOf, u.log)
	u.pages = map[string]*template.Template{}
	u.mux = http.NewServeMux()
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	u.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", staticHandler(static)))
	u.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
	})
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		if u.pages[name], err = parsePage(name); err != nil {
			return nil, err
		}
	}
	for _, rt := range u.routes() {
		if _, ok := u.pages[rt.template]; rt.template != "" && !ok {
			return nil, fmt.Errorf("ui: route %s: no template %s", rt.pattern, rt.template)
		}
		u.mux.Handle(rt.pattern, rt.handler)
	}
	u.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		u.fail(w, r, errNotFound)
	})
	if opts.OIDC != nil {
		u.mountSSO(opts.OIDC)
		if u.opts.SSOLoginURL == "" {
			u.opts.SSOLoginURL = oidc.LoginPath
		}
	}
	return u, nil
}

// Sessions is the session store, for sign-in helpers outside the package
// (OIDC): after a callback they call Sessions().Start.
func (u *UI) Sessions() *Sessions { return u.sessions }

// ServeHTTP serves /ui/ (and /auth/oidc/ with OIDC) and redirects / there. Every response carries the
// security headers; every POST passes the CSRF check first.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	r = r.WithContext(withViewer(r.Context(), u.viewerOf(w, r)))
	if !safeMethod(r.Method) && !u.checkCSRF(w, r) {
		return
	}
	u.mux.ServeHTTP(w, r)
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}
