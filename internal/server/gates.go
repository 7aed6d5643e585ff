package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/scan/gate"
)

// openGates stores the gates scan.gates declares (a gate that does not
// validate fails the start) and returns the gate the registry consults
// on every manifest pull.
func (s *Server) openGates(ctx context.Context, store metadata.Gates) (*gate.Gate, error) {
	g, err := gate.New(ctx, store, gate.Options{Exempt: s.access.exempt, Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("loading scan gates: %w", err)
	}
	declared, err := s.cfg.Scan.Gates.List()
	if err != nil {
		return nil, err
	}
	for i, d := range declared {
		p := metadata.GatePolicy{Pattern: d.Pattern, Quarantine: d.Quarantine, Severity: d.Severity,
			Unscanned: d.Unscanned, Unknown: d.Unknown}
		if _, err := g.SetPolicy(ctx, p); err != nil {
			return nil, fmt.Errorf("scan.gates[%d]: %w", i, err)
		}
		for j, a := range d.Allow {
			exp, err := a.ExpiresAt()
			if err == nil {
				err = g.AddException(ctx, metadata.GateException{Pattern: d.Pattern, ID: a.ID, Reason: a.Reason, Expires: exp})
			}
			if err != nil {
				return nil, fmt.Errorf("scan.gates[%d].allow[%d]: %w", i, j, err)
			}
		}
	}
	return g, nil
}

// exempt reports whether r comes from a registry admin, whom gates let
// through: an admin must be able to inspect what a gate holds back. The
// scanner reads blobs from storage, not over HTTP, and needs no exemption.
func (a *access) exempt(r *http.Request) bool {
	if a.auth == nil {
		return false
	}
	p := authz.PrincipalFrom(r.Context())
	return !p.Anonymous() && a.policy.Allows(p, "", authz.ActionCatalog)
}
