// Package config holds Berth's server configuration: defaults, a YAML file,
// BERTH_* environment variables and command-line flags, layered in that
// order (flags win), then validated once. A Config is a plain value: callers
// receive copies, so nothing can change it after it was loaded.
package config

import (
	"path/filepath"
	"time"
)

// Drivers Berth ships with.
const (
	StorageFilesystem = "filesystem"
	MetadataSQLite    = "sqlite"
)

// Config is the whole server configuration. Field tags name the YAML keys;
// docs/configuration.md lists them with their environment variables and flags.
type Config struct {
	// Listen is the TCP address the server binds, host:port.
	Listen string `yaml:"listen"`
	// DataDir is the root under which default storage and metadata live.
	DataDir  string   `yaml:"data_dir"`
	Storage  Storage  `yaml:"storage"`
	Metadata Metadata `yaml:"metadata"`
	TLS      TLS      `yaml:"tls"`
	Limits   Limits   `yaml:"limits"`
	Log      Log      `yaml:"log"`
	Server   Server   `yaml:"server"`
	Metrics  Metrics  `yaml:"metrics"`
	Auth     Auth     `yaml:"auth"`
	Network  Network  `yaml:"network"`

	// Lifecycle holds the recycle bin settings (lifecycle.go).
	Lifecycle Lifecycle `yaml:"lifecycle"`
	// GC and Quota configure collection and limits (gc.go).
	GC    GC    `yaml:"gc"`
	Quota Quota `yaml:"quota"`
	// Scan configures vulnerability scanning (scan.go).
	Scan Scan `yaml:"scan"`
	// Audit configures the audit log (audit.go).
	Audit Audit `yaml:"audit"`
	// Webhooks configures webhook delivery (webhook.go).
	Webhooks Webhooks `yaml:"webhooks"`
	// Import configures server-side imports (import.go).
	Import Import `yaml:"import"`
	// Retention holds server-side retention policies (retention.go).
	Retention Retention `yaml:"retention"`
	// RateLimit limits request rates (ratelimit.go).
	RateLimit RateLimit `yaml:"rate_limit"`
}

// Storage selects where blob bytes live.
type Storage struct {
	Driver string `yaml:"driver"`
	// Dir is the blob directory; empty means <data_dir>/blobs.
	Dir string `yaml:"dir"`
	// MinFreeBytes refuses uploads while the blob filesystem has less free.
	MinFreeBytes Size `yaml:"min_free_bytes"`
}

// Metadata selects the metadata database.
type Metadata struct {
	Driver string `yaml:"driver"`
	// Path is the database file; empty means <data_dir>/berth.db.
	Path string `yaml:"path"`
}

// TLS enables HTTPS when both files are set.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientCA is a PEM bundle of CAs whose client certificates
	// authenticate (docs/access.md#client-certificates); empty: none.
	ClientCA string `yaml:"client_ca"`
}

// Enabled reports whether the server should serve HTTPS.
func (t TLS) Enabled() bool { return t.Cert != "" || t.Key != "" }

// Limits bound what clients may send or ask for.
type Limits struct {
	MaxManifestSize Size `yaml:"max_manifest_size"`
	MaxPageSize     int  `yaml:"max_page_size"`
}

// Log configures the server's structured log.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Server holds HTTP server tuning. There is deliberately no total read or
// write timeout: one would cut a multi-gigabyte blob upload or download in
// the middle. Slow clients are bounded by ReadHeaderTimeout and IdleTimeout.
type Server struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	MaxHeaderBytes    Size          `yaml:"max_header_bytes"`
}

// Metrics controls the Prometheus endpoint at /metrics.
type Metrics struct {
	Enabled bool `yaml:"enabled"`
}

// Default returns the configuration used when nothing else is given: a
// working registry on 127.0.0.1:5000 with its data under ./berth-data.
func Default() Config {
	return Config{
		Listen:   "127.0.0.1:5000",
		DataDir:  "./berth-data",
		Storage:  Storage{Driver: StorageFilesystem},
		Metadata: Metadata{Driver: MetadataSQLite},
		Limits: Limits{
			MaxManifestSize: 4 * MiB,
			MaxPageSize:     1000,
		},
		Log: Log{Level: "info", Format: "text"},
		Server: Server{
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   30 * time.Second,
			MaxHeaderBytes:    1 * MiB,
		},
		Metrics: Metrics{Enabled: true},
		Auth:    Auth{TokenTTL: 5 * time.Minute, Service: "berth"},
		Network: Network{DefaultAction: "allow"},

		Lifecycle: Lifecycle{TrashDays: 7},
		GC:        GC{GracePeriod: time.Hour},
		Quota:     Quota{WarnPercent: 90},
		Scan:      Scan{Workers: 1, OnPush: true},
		Audit:     Audit{Retention: Days(90 * day), PullWindow: time.Minute},
		Webhooks:  defaultWebhooks(),
		Retention: Retention{CheckInterval: time.Minute},
		RateLimit: defaultRateLimit(),
	}
}

// StorageDir is the blob directory, derived from DataDir when unset.
func (c Config) StorageDir() string {
	if c.Storage.Dir != "" {
		return c.Storage.Dir
	}
	return filepath.Join(c.DataDir, "blobs")
}

// MetadataPath is the database file, derived from DataDir when unset.
func (c Config) MetadataPath() string {
	if c.Metadata.Path != "" {
		return c.Metadata.Path
	}
	return filepath.Join(c.DataDir, "berth.db")
}
