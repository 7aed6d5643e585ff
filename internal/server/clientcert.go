package server

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/access/authn"
	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/metadata"
)

// authenticateRequest is authentication with client certificates first:
// a request without an Authorization header that presented a certificate
// verified against tls.client_ca acts as the account the certificate
// names. Credentials in a header win, so a client holding a certificate
// can still log in as someone else.
func (a *access) authenticateRequest(r *http.Request) (*authz.Principal, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.Header.Get("Authorization") != "" {
		return a.auth.Authenticate(r)
	}
	leaf := r.TLS.VerifiedChains[0][0]
	p, err := a.certPrincipal(r, leaf)
	// Every failure is audited; a success once a minute per certificate
	// and account, as Basic logins are, not once per request.
	if err != nil || certLogins.first(sha256.Sum256([]byte(p.Name+"\x00"+string(leaf.Raw))), time.Now()) {
		a.ObserveLogin(r, "certificate", certName(leaf), err)
	}
	return p, err
}

// certLogins remembers recent successful certificate logins.
var certLogins recentLogins

type recentLogins struct {
	mu sync.Mutex
	m  map[[32]byte]time.Time
}

// first reports whether k was not seen in the last minute, and notes it.
func (c *recentLogins) first(k [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.m[k]; ok && now.Sub(t) < time.Minute {
		return false
	}
	if c.m == nil || len(c.m) >= 1024 {
		c.m = make(map[[32]byte]time.Time) // bounded: forgetting costs one more audit record
	}
	c.m[k] = now
	return true
}

// certPrincipal maps a verified certificate to an enabled account: the
// first of its subject CN and its email SANs that names one. A certificate
// naming no account (or a disabled one) is refused like a wrong password.
func (a *access) certPrincipal(r *http.Request, cert *x509.Certificate) (*authz.Principal, error) {
	for _, name := range certNames(cert) {
		if len(name) > authn.MaxUserNameLen {
			continue
		}
		u, err := a.users.User(r.Context(), name)
		switch {
		case errors.Is(err, metadata.ErrNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("looking up account: %w", err)
		case u.Disabled:
			return nil, fmt.Errorf("%w: account %s is disabled", authn.ErrCredentials, name)
		}
		return &authz.Principal{Name: u.Name, Grants: u.Grants}, nil
	}
	return nil, fmt.Errorf("%w: client certificate %q names no account", authn.ErrCredentials, cert.Subject.String())
}

// certNames are the account names a certificate may stand for, in order.
func certNames(cert *x509.Certificate) []string {
	var names []string
	if cert.Subject.CommonName != "" {
		names = append(names, cert.Subject.CommonName)
	}
	return append(names, cert.EmailAddresses...)
}

// certName is what the audit log records as the actor of a certificate
// login: the first name it offers.
func certName(cert *x509.Certificate) string {
	if names := certNames(cert); len(names) > 0 {
		return names[0]
	}
	return cert.Subject.String()
}
