package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// FieldError is a problem with one key. Its message names the key so the
// operator knows what to fix: "config: tls.cert: file not found".
type FieldError struct {
	Key string
	// Source is the environment variable or flag the value came from, if any.
	Source string
	Err    error
}

func (e *FieldError) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("config: %s (%s): %v", e.Key, e.Source, e.Err)
	}
	return fmt.Sprintf("config: %s: %v", e.Key, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// Bounds that keep a typo from turning into an outage.
const (
	maxManifestSizeCap = 64 * MiB
	maxPageSizeCap     = 100000
	maxHeaderBytesCap  = 16 * MiB
)

// Validate checks every key and returns all problems joined, each a *FieldError.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Err: fmt.Errorf(format, args...)})
	}

	if err := validListen(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if c.DataDir == "" && (c.Storage.Dir == "" || c.Metadata.Path == "") {
		bad("data_dir", "must not be empty")
	}
	if c.Storage.Driver != StorageFilesystem {
		bad("storage.driver", "unknown driver %q (want %q)", c.Storage.Driver, StorageFilesystem)
	}
	if c.Lifecycle.TrashDays < 0 || c.Lifecycle.TrashDays > 3650 {
		bad("lifecycle.trash_days", "%d is not between 0 and 3650", c.Lifecycle.TrashDays)
	}
	if c.Metadata.Driver != MetadataSQLite {
		bad("metadata.driver", "unknown driver %q (want %q)", c.Metadata.Driver, MetadataSQLite)
	}
	if c.TLS.Enabled() {
		for _, f := range []struct{ key, path string }{{"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key}} {
			if f.path == "" {
				bad(f.key, "must be set when %s is set", other(f.key))
			} else if st, err := os.Stat(f.path); err != nil {
				bad(f.key, "file not found")
			} else if st.IsDir() {
				bad(f.key, "is a directory")
			}
		}
	}
	if c.TLS.ClientCA != "" {
		if !c.TLS.Enabled() {
			bad("tls.client_ca", "needs tls.cert and tls.key: client certificates are only seen over HTTPS")
		} else if _, err := os.Stat(c.TLS.ClientCA); err != nil {
			bad("tls.client_ca", "file not found")
		}
	}
	if c.Limits.MaxManifestSize <= 0 {
		bad("limits.max_manifest_size", "must be > 0")
	} else if c.Limits.MaxManifestSize > maxManifestSizeCap {
		bad("limits.max_manifest_size", "must be at most %s", Size(maxManifestSizeCap))
	}
	if c.Limits.MaxPageSize <= 0 {
		bad("limits.max_page_size", "must be > 0")
	} else if c.Limits.MaxPageSize > maxPageSizeCap {
		bad("limits.max_page_size", "must be at most %d", maxPageSizeCap)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "unknown level %q (want debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "unknown format %q (want text or json)", c.Log.Format)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"server.read_header_timeout", c.Server.ReadHeaderTimeout},
		{"server.idle_timeout", c.Server.IdleTimeout},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout},
	} {
		if d.v <= 0 {
			bad(d.key, "must be > 0")
		}
	}
	if c.Server.MaxHeaderBytes <= 0 {
		bad("server.max_header_bytes", "must be > 0")
	} else if c.Server.MaxHeaderBytes > maxHeaderBytesCap {
		bad("server.max_header_bytes", "must be at most %s", Size(maxHeaderBytesCap))
	}
	errs = append(errs, c.validateAccess()...)
	errs = append(errs, c.validateGC()...)
	errs = append(errs, c.validateAudit()...)
	errs = append(errs, c.validateRetention()...)
	errs = append(errs, c.validateScan()...)
	errs = append(errs, c.validateWebhooks()...)
	errs = append(errs, c.validateImport()...)
	errs = append(errs, c.validateRateLimit()...)
	return errors.Join(errs...)
}

func other(key string) string {
	if key == "tls.cert" {
		return "tls.key"
	}
	return "tls.cert"
}

func validListen(addr string) error {
	if addr == "" {
		return errors.New("must not be empty")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("invalid port %q", port)
	}
	return nil
}
