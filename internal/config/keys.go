package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Key describes one configuration key and how every source spells it. The
// environment variable and the flag are derived from the YAML path so that
// the three never drift: tls.cert is BERTH_TLS_CERT and --tls-cert.
type Key struct {
	// Name is the dotted YAML path, e.g. "limits.max_manifest_size".
	Name string
	// Usage is a one-line description for flags and documentation.
	Usage string
	// Type names the value's syntax: string, size, int, duration or bool.
	Type string
	set  func(c *Config, v string) error
	get  func(c Config) string
}

// Env is the environment variable that sets the key.
func (k Key) Env() string {
	return "BERTH_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(k.Name))
}

// Flag is the command-line flag (without dashes) that sets the key.
func (k Key) Flag() string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(k.Name)
}

// Default renders the key's default value.
func (k Key) Default() string { return k.get(Default()) }

// Keys lists every configuration key in documentation order.
func Keys() []Key {
	return append([]Key{
		str("listen", "address to listen on, host:port", func(c *Config) *string { return &c.Listen }),
		str("data_dir", "directory for blobs and metadata unless storage.dir or metadata.path say otherwise", func(c *Config) *string { return &c.DataDir }),
		str("storage.driver", "blob storage driver (filesystem)", func(c *Config) *string { return &c.Storage.Driver }),
		str("storage.dir", "blob directory (default <data_dir>/blobs)", func(c *Config) *string { return &c.Storage.Dir }),
		str("metadata.driver", "metadata database driver (sqlite)", func(c *Config) *string { return &c.Metadata.Driver }),
		str("metadata.path", "metadata database file (default <data_dir>/berth.db)", func(c *Config) *string { return &c.Metadata.Path }),
		str("tls.cert", "TLS certificate file (PEM); enables HTTPS with tls.key", func(c *Config) *string { return &c.TLS.Cert }),
		str("tls.key", "TLS private key file (PEM)", func(c *Config) *string { return &c.TLS.Key }),
		str("tls.client_ca", "CA bundle (PEM) whose client certificates authenticate as the account their CN names", func(c *Config) *string { return &c.TLS.ClientCA }),
		size("limits.max_manifest_size", "largest manifest accepted, e.g. 4MiB", func(c *Config) *Size { return &c.Limits.MaxManifestSize }),
		integer("limits.max_page_size", "largest page a listing returns", func(c *Config) *int { return &c.Limits.MaxPageSize }),
		str("log.level", "log level: debug, info, warn or error", func(c *Config) *string { return &c.Log.Level }),
		str("log.format", "log format: text or json", func(c *Config) *string { return &c.Log.Format }),
		duration("server.read_header_timeout", "time allowed to read request headers", func(c *Config) *time.Duration { return &c.Server.ReadHeaderTimeout }),
		duration("server.idle_timeout", "how long an idle keep-alive connection stays open", func(c *Config) *time.Duration { return &c.Server.IdleTimeout }),
		duration("server.shutdown_timeout", "how long shutdown waits for requests in flight", func(c *Config) *time.Duration { return &c.Server.ShutdownTimeout }),
		size("server.max_header_bytes", "largest request header block, e.g. 1MiB", func(c *Config) *Size { return &c.Server.MaxHeaderBytes }),
		boolean("metrics.enabled", "serve Prometheus metrics at /metrics", func(c *Config) *bool { return &c.Metrics.Enabled }),
		integer("lifecycle.trash_days", "days a deleted tag or manifest stays restorable; 0 deletes at once", func(c *Config) *int { return &c.Lifecycle.TrashDays }),
	}, append(append(append(append(append(accessKeys(), webhookKeys()...), gcKeys()...), retentionKeys()...), auditKeys()...), append(append(scanKeys(), rateLimitKeys()...), importKeys()...)...)...)
}

// LookupKey returns the key named name.
func LookupKey(name string) (Key, bool) {
	for _, k := range Keys() {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

func str(name, usage string, field func(*Config) *string) Key {
	return Key{Name: name, Usage: usage, Type: "string",
		set: func(c *Config, v string) error { *field(c) = v; return nil },
		get: func(c Config) string { return *field(&c) },
	}
}

func size(name, usage string, field func(*Config) *Size) Key {
	return Key{Name: name, Usage: usage, Type: "size",
		set: func(c *Config, v string) error {
			s, err := ParseSize(v)
			if err != nil {
				return err
			}
			*field(c) = s
			return nil
		},
		get: func(c Config) string { return field(&c).String() },
	}
}

func integer(name, usage string, field func(*Config) *int) Key {
	return Key{Name: name, Usage: usage, Type: "int",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("invalid integer %q", v)
			}
			*field(c) = n
			return nil
		},
		get: func(c Config) string { return strconv.Itoa(*field(&c)) },
	}
}

func duration(name, usage string, field func(*Config) *time.Duration) Key {
	return Key{Name: name, Usage: usage, Type: "duration",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("invalid duration %q: want e.g. 30s or 2m", v)
			}
			*field(c) = d
			return nil
		},
		get: func(c Config) string { return field(&c).String() },
	}
}

func boolean(name, usage string, field func(*Config) *bool) Key {
	return Key{Name: name, Usage: usage, Type: "bool",
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("invalid boolean %q: want true or false", v)
			}
			*field(c) = b
			return nil
		},
		get: func(c Config) string { return strconv.FormatBool(*field(&c)) },
	}
}
