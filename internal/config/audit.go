package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Audit configures the audit log (docs/access.md).
type Audit struct {
	// Retention is how long records are kept; 0 keeps them forever.
	Retention Days `yaml:"retention"`
	// File, if set, receives every record as a JSON line.
	File string `yaml:"file"`
	// Syslog, if set, receives every record as a JSON message:
	// unixgram:///dev/log, udp://host:514 or tcp://host:514.
	Syslog string `yaml:"syslog"`
	// PullWindow coalesces identical pulls (same actor, address,
	// repository and digest) into one record with a count.
	PullWindow time.Duration `yaml:"pull_window"`
}

const day = 24 * time.Hour

// Days is a duration that may also be written in whole days ("90d"), the
// unit retention periods are thought in.
type Days time.Duration

// UnmarshalYAML reads 90d or a Go duration.
func (d *Days) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDays(n.Value)
	if err != nil {
		return err
	}
	*d = Days(v)
	return nil
}

// String renders whole days as 90d, anything else in Go syntax.
func (d Days) String() string {
	if d > 0 && time.Duration(d)%day == 0 {
		return strconv.FormatInt(int64(time.Duration(d)/day), 10) + "d"
	}
	return time.Duration(d).String()
}

func auditKeys() []Key {
	return []Key{
		days("audit.retention", "how long audit records are kept, e.g. 90d or 720h; 0 forever", func(c *Config) *Days { return &c.Audit.Retention }),
		str("audit.file", "also append every audit record to this file as a JSON line", func(c *Config) *string { return &c.Audit.File }),
		str("audit.syslog", "also send every audit record to syslog: unixgram:///dev/log, udp://host:514 or tcp://host:514", func(c *Config) *string { return &c.Audit.Syslog }),
		duration("audit.pull_window", "identical pulls (actor, address, repository, digest) within this window are one audit record with a count", func(c *Config) *time.Duration { return &c.Audit.PullWindow }),
	}
}

// days is a duration key that also takes whole days.
func days(name, usage string, field func(*Config) *Days) Key {
	return Key{Name: name, Usage: usage, Type: "duration",
		set: func(c *Config, v string) error {
			d, err := parseDays(v)
			if err != nil {
				return err
			}
			*field(c) = Days(d)
			return nil
		},
		get: func(c Config) string { return field(&c).String() },
	}
}

func parseDays(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		i, err := strconv.ParseInt(n, 10, 32)
		if err != nil || i < 0 {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 90d or 720h", v)
		}
		return time.Duration(i) * day, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 90d or 720h", v)
	}
	return d, nil
}

// validateAudit checks the audit keys.
func (c Config) validateAudit() []error {
	var errs []error
	if c.Audit.Retention < 0 {
		errs = append(errs, &FieldError{Key: "audit.retention", Err: errors.New("must not be negative")})
	}
	if c.Audit.PullWindow <= 0 {
		errs = append(errs, &FieldError{Key: "audit.pull_window", Err: errors.New("must be positive")})
	}
	if c.Audit.Syslog != "" {
		if _, _, err := SyslogAddr(c.Audit.Syslog); err != nil {
			errs = append(errs, &FieldError{Key: "audit.syslog", Err: err})
		}
	}
	return errs
}

// SyslogAddr splits a syslog URL into the network and address that
// log/syslog dials: unixgram:///dev/log, unix:///dev/log, udp://host:port
// or tcp://host:port.
func SyslogAddr(s string) (network, addr string, err error) {
	network, addr, ok := strings.Cut(s, "://")
	switch {
	case !ok:
	case network == "unix" || network == "unixgram":
		if strings.HasPrefix(addr, "/") {
			return network, addr, nil
		}
	case network == "udp" || network == "tcp":
		if _, port, err := net.SplitHostPort(addr); err == nil && port != "" {
			return network, addr, nil
		}
	}
	return "", "", fmt.Errorf("%q: want unixgram:///dev/log, udp://host:514 or tcp://host:514", s)
}
