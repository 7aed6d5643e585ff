// Package netrule decides, from the client's IP address alone, whether a
// request may reach Berth at all. It runs before authentication: a refused
// address never gets to present credentials.
//
// The client address is the socket peer, unless the peer is a configured
// trusted proxy; only then are X-Forwarded-For and Forwarded read, from the
// right, skipping trusted hops (see ClientIP). The decision is: an address
// in the deny list is refused, else an address in the allow list is
// admitted, else the default action applies.
package netrule

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Action is what happens to a client address.
type Action uint8

// The two actions. The zero value is Allow so that empty Rules are open,
// which matches Berth's default of an open registry on loopback.
const (
	Allow Action = iota
	Deny
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// ParseAction reads "allow" or "deny" (case-insensitive).
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "allow", "":
		return Allow, nil
	case "deny":
		return Deny, nil
	}
	return 0, fmt.Errorf("default action %q: want allow or deny", s)
}

// Rules are one immutable set of network rules. Build a new value to change
// them; never modify one that a Handler may be reading.
type Rules struct {
	DefaultAction  Action
	Allow          []netip.Prefix
	Deny           []netip.Prefix
	TrustedProxies []netip.Prefix
}

// Spec is the textual form of Rules, as written in a configuration file or
// sent to the management API. Entries are CIDR prefixes ("10.0.0.0/8",
// "2001:db8::/32") or single addresses, which mean /32 or /128.
type Spec struct {
	DefaultAction  string   `yaml:"default_action" json:"default_action"`
	Allow          []string `yaml:"allow" json:"allow"`
	Deny           []string `yaml:"deny" json:"deny"`
	TrustedProxies []string `yaml:"trusted_proxies" json:"trusted_proxies"`
}

// Rules parses and validates s. Every bad entry is reported, each naming
// its list, position and text, so an operator fixes them in one pass.
func (s Spec) Rules() (*Rules, error) {
	var errs []error
	a, err := ParseAction(s.DefaultAction)
	if err != nil {
		errs = append(errs, err)
	}
	list := func(name string, entries []string) []netip.Prefix {
		ps, err := ParsePrefixes(name, entries)
		if err != nil {
			errs = append(errs, err)
		}
		return ps
	}
	r := &Rules{
		DefaultAction:  a,
		Allow:          list("allow", s.Allow),
		Deny:           list("deny", s.Deny),
		TrustedProxies: list("trusted_proxies", s.TrustedProxies),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("network rules: %w", err)
	}
	return r, nil
}

// Spec is the textual form of r, the inverse of Spec.Rules.
func (r *Rules) Spec() Spec {
	str := func(ps []netip.Prefix) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.String()
		}
		return out
	}
	return Spec{
		DefaultAction:  r.DefaultAction.String(),
		Allow:          str(r.Allow),
		Deny:           str(r.Deny),
		TrustedProxies: str(r.TrustedProxies),
	}
}

// ParsePrefixes parses a list of entries; list names it in errors.
func ParsePrefixes(list string, entries []string) ([]netip.Prefix, error) {
	var errs []error
	out := make([]netip.Prefix, 0, len(entries))
	for i, e := range entries {
		p, err := ParsePrefix(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", list, i, err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// maxEntryLen bounds an entry: the longest valid one is an IPv6 address
// with an embedded IPv4 and a prefix length, well under 64 bytes.
const maxEntryLen = 64

// ParsePrefix parses one entry: a CIDR prefix or a single address.
//
// A prefix with host bits set ("10.0.0.1/8") is refused rather than
// masked: it is usually a typo, and silently widening or narrowing a
// security rule is worse than an error. IPv4-mapped IPv6 prefixes are
// rewritten as IPv4, since client addresses are compared unmapped.
func ParsePrefix(s string) (netip.Prefix, error) {
	if len(s) > maxEntryLen {
		return netip.Prefix{}, fmt.Errorf("entry %.20q...: longer than %d bytes", s, maxEntryLen)
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return netip.Prefix{}, fmt.Errorf("entry %q: empty", s)
	}
	var p netip.Prefix
	if strings.Contains(t, "/") {
		var err error
		if p, err = netip.ParsePrefix(t); err != nil {
			return netip.Prefix{}, fmt.Errorf("entry %q: not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32", s)
		}
	} else {
		a, err := netip.ParseAddr(t)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("entry %q: not an IP address or CIDR prefix", s)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("entry %q: zoned addresses are not supported", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("entry %q: an IPv4-mapped prefix must be /96 or longer", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("entry %q: host bits are set; did you mean %s?", s, m)
	}
	return p, nil
}

// open reports whether r refuses nobody.
func (r *Rules) open() bool {
	return r == nil || (r.DefaultAction == Allow && len(r.Deny) == 0)
}

// Decide returns the action for ip. The deny list wins over the allow list;
// an address in neither gets the default action. An invalid address (the
// client could not be determined) is refused unless the rules refuse
// nobody, so that an unparseable or ambiguous client never slips past a
// deny list. Nil rules allow everything.
func (r *Rules) Decide(ip netip.Addr) Action {
	if r.open() {
		return Allow
	}
	if !ip.IsValid() {
		return Deny
	}
	ip = ip.Unmap()
	if contains(r.Deny, ip) {
		return Deny
	}
	if contains(r.Allow, ip) {
		return Allow
	}
	return r.DefaultAction
}

// Trusted reports whether ip is a trusted proxy.
func (r *Rules) Trusted(ip netip.Addr) bool {
	return r != nil && contains(r.TrustedProxies, ip.Unmap())
}

func contains(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
