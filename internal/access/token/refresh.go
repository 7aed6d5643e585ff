package token

import (
	"fmt"
	"time"
)

// Refresh tokens are the OAuth2 form of a docker login "identity token":
// the token endpoint returns one for grant_type=password and exchanges it
// for access tokens with grant_type=refresh_token. They are JWTs signed
// with the same keys, for a separate audience (so that neither kind is
// accepted as the other), carrying no access: every exchange recomputes
// access from the account as it is then.
const (
	// RefreshAudienceSuffix is appended to the service to form the
	// audience of refresh tokens.
	RefreshAudienceSuffix = "#refresh"
	// MaxRefreshTTL bounds a refresh token's lifetime.
	MaxRefreshTTL = 90 * 24 * time.Hour
)

// IssueRefresh returns a refresh token for subject, bound to the
// credential's fingerprint and to cidrs (if any).
func (i *Issuer) IssueRefresh(subject, fingerprint string, cidrs []string, ttl time.Duration) (string, error) {
	if ttl < time.Second || ttl > MaxRefreshTTL {
		return "", fmt.Errorf("issuing refresh token: lifetime %s outside [1s, %s]", ttl, MaxRefreshTTL)
	}
	if subject == "" || fingerprint == "" {
		return "", fmt.Errorf("issuing refresh token: subject and fingerprint are required")
	}
	now := i.now().Unix()
	return i.sign(Claims{
		Issuer:      i.issuer,
		Subject:     subject,
		Audience:    i.audience + RefreshAudienceSuffix,
		ExpiresAt:   now + int64(ttl/time.Second),
		NotBefore:   now,
		IssuedAt:    now,
		Access:      []Access{},
		CIDRs:       cidrs,
		Fingerprint: fingerprint,
	})
}

// VerifyRefresh checks a refresh token as Verify checks an access token.
func (v *Verifier) VerifyRefresh(tok string) (*Claims, error) {
	c, err := v.verify(tok, v.audience+RefreshAudienceSuffix, MaxRefreshTTL)
	if err != nil {
		return nil, err
	}
	if c.Subject == "" || c.Fingerprint == "" {
		return nil, invalid("refresh token without subject or fingerprint")
	}
	return c, nil
}
