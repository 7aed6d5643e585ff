package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
)

// errorPage is the template of error responses.
const errorPage = "error"

// errNotFound renders as 404. A repository the viewer may not pull is
// not found either: the UI does not confirm that it exists.
var errNotFound = errors.New("not found")

// parsePage parses the layout with one page's template. Pages define
// "title" and "content"; the layout defines the rest.
func parsePage(name string) (*template.Template, error) {
	t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
	if err != nil {
		return nil, fmt.Errorf("ui: parsing template %s: %w", name, err)
	}
	return t, nil
}

// layout is what every page's template sees: the page's own data is .Page.
type layout struct {
	Nav     string // the nav entry to mark current
	Viewer  *viewer
	CSRF    string
	Version string
	SSO     string
	Page    any
}

// page is one render: the template, the nav entry and the page's data.
type page struct {
	template string
	nav      string
	data     any
}

// render executes a page into a buffer first, so that a template error
// is a clean 500 rather than half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, p page) {
	t, ok := u.pages[p.template]
	if !ok {
		u.log.ErrorContext(r.Context(), "ui: no such template", slog.String("template", p.template))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v := viewerFrom(r.Context())
	if v.session == nil && v.authOff {
		// Without authentication nobody signs in, yet forms still need a
		// session to bind their CSRF token to.
		s, err := u.sessions.start(w, r, nil, false)
		if err != nil {
			u.log.ErrorContext(r.Context(), "ui: starting a session", slog.Any("err", err))
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		v.session = s
	}
	l := layout{Nav: p.nav, Viewer: v, Version: u.version, SSO: u.opts.SSOLoginURL, Page: p.data}
	if v.session != nil {
		l.CSRF = v.session.csrf
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, l); err != nil {
		u.log.ErrorContext(r.Context(), "ui: rendering", slog.String("template", p.template), slog.Any("err", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	Status  int
	Title   string
	Message string
}

func (u *UI) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	u.render(w, r, status, page{template: errorPage, data: errorData{Status: status, Title: http.StatusText(status), Message: msg}})
}

// fail renders err: not found as 404, anything else as a logged 500.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotFound) || errors.Is(err, metadata.ErrNotFound) || errors.Is(err, metadata.ErrRepoNotFound) {
		u.renderError(w, r, http.StatusNotFound, "There is nothing here, or you may not see it.")
		return
	}
	u.log.ErrorContext(r.Context(), "ui: serving a page", slog.String("path", r.URL.Path), slog.Any("err", err))
	u.renderError(w, r, http.StatusInternalServerError, "Something went wrong on the server; it has been logged.")
}

var funcs = template.FuncMap{
	"bytes":    retention.HumanBytes,
	"when":     when,
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"short":    shortDigest,
	"lower":    strings.ToLower,
	"repoURL":  repoURL,
	"imageURL": imageURL,
	"vulnURL":  func(id string) string { return "/ui/vulnerabilities/" + url.PathEscape(id) },
	"join":     strings.Join,
	"add":      func(a, b int) int { return a + b },
	"sevClass": func(s string) string { return "sev sev-" + strings.ToLower(s) },
}

// when is a time as the tables show it; the zero time is "never".
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// shortDigest is "sha256:" and the first 12 hex digits.
func shortDigest(d any) string {
	s := fmt.Sprint(d)
	if i := strings.IndexByte(s, ':'); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}

// repoURL is a repository's page. Names are path-safe ([a-z0-9._/-]),
// but escaping each segment costs nothing and survives a bad name.
func repoURL(name string) string {
	return "/ui/repositories/" + escapeSegments(name)
}

// imageURL is a manifest's page: "/-/" cannot occur inside a repository
// name, whose components start with a letter or digit.
func imageURL(repo string, d any) string {
	return repoURL(repo) + "/-/images/" + url.PathEscape(fmt.Sprint(d))
}

func escapeSegments(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
