package server

import (
	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/ui"
)

// openUI builds the web UI over the server's stores; it checks passwords
// with the same authenticator as the registry and audits sign-ins like
// any other login. Its Policies and Access pages change the registry
// through the same services as the management API, so that validation,
// caches and audit records are the same whichever way a change comes.
func (s *Server) openUI(db *sqlite.Store, netRules *networkRules) (*ui.UI, error) {
	opts := ui.Options{
		Store:  db,
		Blobs:  s.blobs,
		Scans:  s.scan.Scanner,
		Policy: s.access.policy,
		Usage:  s.storage.meter.Usage,
		Logger: s.log,
		Manage: ui.Manage{
			Policies:     db,
			Planner:      s.policies.Adapter(),
			Guards:       db,
			Gates:        db,
			GateService:  s.gate,
			Users:        db,
			NetworkRules: netRules,
			Webhooks:     s.webhooks,
			AuditLog:     db,
			UsageHistory: db,
			Quotas:       quota.Options{Global: int64(s.cfg.Quota.Global), MinFree: int64(s.cfg.Storage.MinFreeBytes)},
			FreeBytes:    func() (int64, error) { return quota.FreeBytes(s.cfg.StorageDir()) },
			Audit:        s.access.auditChange,
		},
	}
	if s.access.auth != nil {
		opts.Auth, opts.Observer = s.access.auth, s.access
	}
	if s.access.manage != nil {
		opts.Manage.Tokens = s.access.manage.Tokens
	}
	// With auth.oidc.issuer and redirect_url the sign-in page offers SSO;
	// the UI serves the login and its callback (routed to it by classify).
	if s.access.oidc != nil && s.cfg.Auth.OIDC.RedirectURL != "" {
		opts.OIDC = s.OIDCHandler
	}
	return ui.New(opts)
}

// UI is the web UI, for sign-in helpers (OIDC) that start sessions; nil
// before Open.
func (s *Server) UI() *ui.UI { return s.ui }
