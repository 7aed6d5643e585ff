package audit

import (
	"fmt"
	"log/syslog"
	"net"
	"strings"
)

// dialSyslog connects to the syslog named by a URL: unixgram:///dev/log,
// unix:///dev/log, udp://host:port or tcp://host:port. Records go out at
// facility auth, severity info, tag "berth". log/syslog reconnects on its
// own after a failed write.
func dialSyslog(url string) (*syslog.Writer, error) {
	network, addr, ok := strings.Cut(url, "://")
	switch {
	case !ok:
		return nil, fmt.Errorf("audit syslog %q: want unixgram:///dev/log, udp://host:514 or tcp://host:514", url)
	case network == "unix" || network == "unixgram":
	case network == "udp" || network == "tcp":
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("audit syslog %q: %w", url, err)
		}
	default:
		return nil, fmt.Errorf("audit syslog %q: unknown network %q", url, network)
	}
	w, err := syslog.Dial(network, addr, syslog.LOG_AUTH|syslog.LOG_INFO, "berth")
	if err != nil {
		return nil, fmt.Errorf("connecting to audit syslog %s: %w", url, err)
	}
	return w, nil
}
