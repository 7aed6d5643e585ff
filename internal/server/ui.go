package server

import (
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/ui"
)

// openUI builds the web UI over the server's stores; it checks passwords
// with the same authenticator as the registry and audits sign-ins like
// any other login.
func (s *Server) openUI(db *sqlite.Store) (*ui.UI, error) {
	opts := ui.Options{
		Store:  db,
		Blobs:  s.blobs,
		Scans:  s.scan.Scanner,
		Policy: s.access.policy,
		Usage:  s.storage.meter.Usage,
		Logger: s.log,
	}
	if s.access.auth != nil {
		opts.Auth, opts.Observer = s.access.auth, s.access
	}
	return ui.New(opts)
}

// UI is the web UI, for sign-in helpers (OIDC) that start sessions; nil
// before Open.
func (s *Server) UI() *ui.UI { return s.ui }
