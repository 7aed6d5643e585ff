package ui

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/manage"
	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/metadata"
)

// Manage are the collaborators of the pages that change the registry
// (Policies, Access) and of the Usage page: the same services the
// management API calls, so that a change made here is validated, stored,
// put in force and audited exactly as through /api/v1. A nil field hides
// its section.
type Manage struct {
	Policies PolicyStore
	// Planner is what retention previews plan over: the policy runner's
	// adapter, so that a preview shows what a run would do.
	Planner retention.Source
	Guards  GuardStore
	// Gates lists gates and exceptions; GateService changes them and
	// keeps the pull gate's cache in step.
	Gates        metadata.Gates
	GateService  api.GateService
	Users        metadata.Users
	Tokens       *manage.Tokens
	NetworkRules api.NetworkRuleService
	Webhooks     api.WebhookService
	AuditLog     metadata.AuditLog
	// UsageHistory holds the samples the usage chart draws.
	UsageHistory metadata.UsageHistory
	// Quotas are the configured limits and the free-disk watermark.
	Quotas quota.Options
	// FreeBytes measures free disk; nil hides it.
	FreeBytes func() (int64, error)
	// Audit records a change the metadata store does not record itself
	// (accounts, tokens), like the API's: action, target, and the error
	// if it failed. The request carries the acting principal.
	Audit func(r *http.Request, action, target string, err error)
}

// PolicyStore keeps retention policies and their runs.
type PolicyStore interface {
	metadata.RetentionPolicies
	metadata.RetentionRuns
}

// GuardStore keeps locks and immutability rules.
type GuardStore interface {
	metadata.Locks
	metadata.ImmutableRules
}

// adminOnly wraps a page or action for administrators: others who may
// browse get 403, visitors are sent to sign in.
func (u *UI) adminOnly(next http.HandlerFunc) http.Handler {
	return u.browsing(func(w http.ResponseWriter, r *http.Request) {
		if !viewerFrom(r.Context()).Admin() {
			u.renderError(w, r, http.StatusForbidden, "This page is for administrators.")
			return
		}
		next(w, r)
	})
}

// acting returns r as the API would see it after authentication: the
// viewer as the principal (for audit records) and as the actor the
// metadata store stamps on the outbox events of its changes.
func acting(r *http.Request) *http.Request {
	v := viewerFrom(r.Context())
	ctx := r.Context()
	if v.principal != nil {
		ctx = authz.WithPrincipal(ctx, v.principal)
		ctx = metadata.WithActor(ctx, v.principal.Name)
	}
	return r.WithContext(ctx)
}

// audit records a change through Manage.Audit, if set.
func (u *UI) audit(r *http.Request, action, target string, err error) {
	if u.opts.Manage.Audit != nil {
		u.opts.Manage.Audit(r, action, target, err)
	}
}

// notice is the outcome of an action, shown at the top of the page it
// renders: Error set means the action failed and nothing changed.
type notice struct {
	OK    string
	Error string
}

func noticeOf(ok string, err error) notice {
	if err != nil {
		return notice{Error: err.Error()}
	}
	return notice{OK: ok}
}

// statusOf is 200 for a notice without an error, else 400: the form
// was refused.
func (n notice) status() int {
	if n.Error != "" {
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// fields splits a list typed into a form: commas, spaces and newlines
// separate entries.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t' })
}

// renderPartial executes one block of a page's template alone: the
// fragment app.js swaps into a page already shown.
func (u *UI) renderPartial(w http.ResponseWriter, r *http.Request, tmpl, block string, data any) {
	t, ok := u.pages[tmpl]
	var buf bytes.Buffer
	if !ok {
		u.fail(w, r, fmt.Errorf("ui: no template %s", tmpl))
		return
	}
	if err := t.ExecuteTemplate(&buf, block, data); err != nil {
		u.fail(w, r, fmt.Errorf("ui: rendering %s/%s: %w", tmpl, block, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
