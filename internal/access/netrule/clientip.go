package netrule

import (
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds how many forwarding entries are examined per header. A
// real chain of trusted proxies is a handful long; anything beyond this is
// treated as if the chain had ended without an untrusted address.
const maxHops = 32

// ClientIP is the address a request comes from. It is the socket peer
// (r.RemoteAddr) unless the peer is in trusted; only then are the
// forwarding headers read, because anyone else can write them.
//
// Each of X-Forwarded-For and Forwarded (RFC 7239, the for= parameter) is
// read from the right: trusted hops are skipped and the first untrusted
// address is the client. Entries to the left of it were written by the
// client and are never looked at. A malformed or obfuscated entry ends the
// walk, since what lies left of it cannot be attributed. If neither header
// yields an untrusted address, the peer is the client.
//
// A proxy may append to one header and pass the other through from the
// client untouched, so when both headers name different clients neither is
// believed and the zero Addr is returned; Rules.Decide refuses it unless
// the rules refuse nobody. The result is unmapped (::ffff:10.0.0.1 is
// 10.0.0.1) and has no zone. The zero Addr means the peer is unknown.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() || !contains(trusted, peer) {
		return peer
	}
	xff, okX := rightmostUntrusted(forwardedFor(r.Header.Values("X-Forwarded-For")), trusted)
	fwd, okF := rightmostUntrusted(forwardedParam(r.Header.Values("Forwarded")), trusted)
	switch {
	case okX && okF:
		if xff != fwd {
			return netip.Addr{}
		}
		return xff
	case okX:
		return xff
	case okF:
		return fwd
	}
	return peer
}

// hops yields forwarding entries from the rightmost to the leftmost; an
// invalid Addr stands for an entry that is not a usable address.
type hops func(yield func(netip.Addr) bool)

func rightmostUntrusted(h hops, trusted []netip.Prefix) (netip.Addr, bool) {
	var found netip.Addr
	n := 0
	h(func(a netip.Addr) bool {
		n++
		if !a.IsValid() || n > maxHops {
			return false
		}
		if !contains(trusted, a) {
			found = a
			return false
		}
		return true
	})
	return found, found.IsValid()
}

// forwardedFor reads X-Forwarded-For lines: comma-separated addresses,
// the last line appended last.
func forwardedFor(lines []string) hops {
	return func(yield func(netip.Addr) bool) {
		for i := len(lines) - 1; i >= 0; i-- {
			line := lines[i]
			for {
				j := strings.LastIndexByte(line, ',')
				if !yield(parseHost(strings.TrimSpace(line[j+1:]))) {
					return
				}
				if j < 0 {
					break
				}
				line = line[:j]
			}
		}
	}
}

// forwardedParam reads the for= parameter of each Forwarded element.
func forwardedParam(lines []string) hops {
	return func(yield func(netip.Addr) bool) {
		for i := len(lines) - 1; i >= 0; i-- {
			elems := splitQuoted(lines[i], ',')
			for j := len(elems) - 1; j >= 0; j-- {
				if !yield(forParam(elems[j])) {
					return
				}
			}
		}
	}
}

// forParam extracts the address in an element's for= pair. An element
// without one, or with "unknown" or an obfuscated identifier, is unusable.
func forParam(elem string) netip.Addr {
	var out netip.Addr
	for _, pair := range splitQuoted(elem, ';') {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
			continue
		}
		if out.IsValid() {
			return netip.Addr{} // a repeated for= is malformed
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = unquote(v[1 : len(v)-1])
		} else if strings.ContainsAny(v, "\"[]:") {
			// RFC 7239: IPv6 and ports require quoting.
			return netip.Addr{}
		}
		a := parseHost(v)
		if !a.IsValid() {
			return netip.Addr{}
		}
		out = a
	}
	return out
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// peerAddr is the socket peer. Unlike a header entry, a zone here is
// real (a link-local peer) and is dropped rather than refused.
func peerAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().WithZone("").Unmap()
}

// parseHost reads "addr", "addr:port", "[v6]" or "[v6]:port" and returns
// the unmapped address, or the zero Addr. Zones are refused: a zone in a
// header is meaningless here and in RemoteAddr cannot match a rule.
func parseHost(s string) netip.Addr {
	if s == "" || len(s) > maxEntryLen {
		return netip.Addr{}
	}
	// Pick the one parser that fits rather than trying them in turn: a
	// failed parse allocates its error, and this runs for every hop of
	// every proxied request.
	var a netip.Addr
	switch {
	case s[0] == '[' && s[len(s)-1] == ']':
		a, _ = netip.ParseAddr(s[1 : len(s)-1])
	case s[0] == '[' || strings.Count(s, ":") == 1: // [v6]:port or v4:port
		if ap, err := netip.ParseAddrPort(s); err == nil {
			a = ap.Addr()
		}
	default:
		a, _ = netip.ParseAddr(s)
	}
	if !a.IsValid() || a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}
