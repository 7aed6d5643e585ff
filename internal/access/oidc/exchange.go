package oidc

import (
	"context"
	"sync"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/metadata"
)

// Lazy discovers the issuer on first use and again after a failure, so a
// registry starts while its identity provider is down.
type Lazy struct {
	Config Config

	mu sync.Mutex
	p  *Provider
}

// Provider returns the discovered issuer.
func (l *Lazy) Provider(ctx context.Context) (*Provider, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p != nil {
		return l.p, nil
	}
	p, err := Discover(ctx, l.Config)
	if err != nil {
		return nil, err
	}
	l.p = p
	return p, nil
}

// Exchanger accepts the ID tokens berth login --oidc obtains and hands to
// the token endpoint, and maps them to accounts.
type Exchanger struct {
	Issuer *Lazy
	Mapper *Mapper
}

// PrincipalFromIDToken verifies raw (everything but the nonce) and maps
// it to an enabled account.
func (e *Exchanger) PrincipalFromIDToken(ctx context.Context, raw string) (*authz.Principal, *metadata.User, error) {
	p, err := e.Issuer.Provider(ctx)
	if err != nil {
		return nil, nil, err
	}
	id, err := p.VerifyHandedOver(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	return e.Mapper.Principal(ctx, id)
}
