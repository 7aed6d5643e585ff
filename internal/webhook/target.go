package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrTarget is wrapped by every refusal of a webhook URL or address.
var ErrTarget = errors.New("webhook target refused")

// maxURLLength bounds a target URL: it is stored and logged.
const maxURLLength = 2048

// blocked are the ranges a webhook may not reach unless allowlisted: the
// server's own host, private networks and cloud metadata endpoints (the
// classic SSRF targets), and addresses that are no unicast destination.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network", unspecified
	netip.MustParsePrefix("10.0.0.0/8"),      // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT, RFC 6598
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, 169.254.169.254 metadata
	netip.MustParsePrefix("172.16.0.0/12"),   // RFC 1918
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.168.0.0/16"),  // RFC 1918
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("::/96"),           // unspecified, loopback, IPv4-compatible
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: reaches any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("fc00::/7"),        // ULA, fd00:ec2::254 metadata
	netip.MustParsePrefix("fe80::/10"),       // link-local
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("ff00::/8"),        // multicast
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2001::/32"),       // Teredo: embeds an IPv4 address
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated
}

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard decides which addresses webhooks may reach. The zero value
// refuses every blocked range and resolves with net.DefaultResolver.
type Guard struct {
	// Allow lists prefixes reachable even though blocked (on-premises
	// receivers, tests on 127.0.0.1).
	Allow []netip.Prefix
	// Resolver resolves host names at creation; nil is net.DefaultResolver.
	Resolver Resolver
	// AllowKey is the configuration key a refusal tells the administrator
	// about; "" is webhooks.allow_cidrs. Server-side imports guard their
	// sources with the same rule under their own key.
	AllowKey string
}

// AllowedAddr reports whether a connection to a may be made.
func (g *Guard) AllowedAddr(a netip.Addr) error {
	a = a.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	if !a.IsValid() || a.Zone() != "" {
		return fmt.Errorf("%w: address %s is not a global unicast address", ErrTarget, a)
	}
	for _, p := range g.Allow {
		if p.Contains(a) {
			return nil
		}
	}
	for _, p := range blocked {
		if p.Contains(a) {
			key := g.AllowKey
			if key == "" {
				key = "webhooks.allow_cidrs"
			}
			return fmt.Errorf("%w: %s is a loopback, private, link-local or reserved address (in %s); an administrator may allow it with %s", ErrTarget, a, p, key)
		}
	}
	return nil
}

// CheckURL parses raw and refuses it unless it is an absolute http or
// https URL without credentials whose host resolves only to allowed
// addresses. The dialer checks again at every connection (DNS can change
// its answer); this check gives the administrator an early error.
func (g *Guard) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return u, g.AllowedAddr(a)
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("%w: resolving %s: %w", ErrTarget, host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: %s has no address", ErrTarget, host)
	}
	for _, a := range addrs {
		if err := g.AllowedAddr(a); err != nil {
			return nil, fmt.Errorf("%s resolves to a refused address: %w", host, err)
		}
	}
	return u, nil
}

// ParseURL checks the form of a target URL without resolving it.
func ParseURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLLength {
		return nil, fmt.Errorf("%w: URL longer than %d bytes", ErrTarget, maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: scheme %q (want http or https)", ErrTarget, u.Scheme)
	case u.User != nil:
		// Credentials in a URL end up in logs and the API's answers.
		return nil, fmt.Errorf("%w: URL with credentials", ErrTarget)
	case u.Hostname() == "" || u.Opaque != "":
		return nil, fmt.Errorf("%w: URL without a host", ErrTarget)
	case strings.ContainsAny(u.Hostname(), "% "):
		return nil, fmt.Errorf("%w: host %q", ErrTarget, u.Hostname())
	}
	if p := u.Port(); p != "" {
		if _, err := netip.ParseAddrPort("0.0.0.0:" + p); err != nil || p == "0" {
			return nil, fmt.Errorf("%w: port %q", ErrTarget, p)
		}
	}
	return u, nil
}

// control is the dialer's last word: it sees the address actually being
// connected to, after resolution, so a name that resolved to a public
// address at creation and to 127.0.0.1 now (DNS rebinding) is refused.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: dialing %q: %w", ErrTarget, address, err)
	}
	return g.AllowedAddr(ap.Addr())
}

// Client returns an HTTP client that dials only allowed addresses, follows
// no redirects, ignores proxy settings (a proxy would make the dialer check
// the proxy rather than the target) and gives up after timeout.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: min(timeout, 10*time.Second), Control: g.control}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   min(timeout, 10*time.Second),
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
