package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if c.Listen != "127.0.0.1:5000" || c.DataDir != "./berth-data" {
		t.Errorf("listen, data_dir = %q, %q", c.Listen, c.DataDir)
	}
	if got, want := c.StorageDir(), filepath.Join("berth-data", "blobs"); got != want {
		t.Errorf("StorageDir() = %q, want %q", got, want)
	}
	if got, want := c.MetadataPath(), filepath.Join("berth-data", "berth.db"); got != want {
		t.Errorf("MetadataPath() = %q, want %q", got, want)
	}
	if c.Limits.MaxManifestSize != 4<<20 {
		t.Errorf("max manifest size = %d", c.Limits.MaxManifestSize)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "berth.yaml", "listen: 127.0.0.1:6000\ndata_dir: /file\nlog:\n  level: debug\n")
	tests := []struct {
		name     string
		src      Sources
		listen   string
		dataDir  string
		logLevel string
	}{
		{"defaults", Sources{}, "127.0.0.1:5000", "./berth-data", "info"},
		{"file over defaults", Sources{File: file}, "127.0.0.1:6000", "/file", "debug"},
		{"env over file", Sources{File: file, Env: envOf(map[string]string{"BERTH_LISTEN": "127.0.0.1:7000"})}, "127.0.0.1:7000", "/file", "debug"},
		{"flags over env", Sources{
			File:  file,
			Env:   envOf(map[string]string{"BERTH_LISTEN": "127.0.0.1:7000", "BERTH_DATA_DIR": "/env"}),
			Flags: map[string]string{"listen": "127.0.0.1:8000"},
		}, "127.0.0.1:8000", "/env", "debug"},
		{"env without file", Sources{Env: envOf(map[string]string{"BERTH_LOG_LEVEL": "warn"})}, "127.0.0.1:5000", "./berth-data", "warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Build(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen != tt.listen || c.DataDir != tt.dataDir || c.Log.Level != tt.logLevel {
				t.Errorf("got listen=%q data_dir=%q log.level=%q, want %q %q %q",
					c.Listen, c.DataDir, c.Log.Level, tt.listen, tt.dataDir, tt.logLevel)
			}
		})
	}
}

func TestEveryKeyFromEveryLayer(t *testing.T) {
	// Each key set through env and through flags must land in the struct.
	values := map[string]string{
		"listen": "0.0.0.0:9", "data_dir": "/d", "storage.driver": "filesystem", "storage.dir": "/b",
		"metadata.driver": "sqlite", "metadata.path": "/m.db", "tls.cert": "", "tls.key": "", "tls.client_ca": "",
		"limits.max_manifest_size": "2MiB", "limits.max_page_size": "50", "log.level": "error",
		"log.format": "json", "server.read_header_timeout": "3s", "server.idle_timeout": "4s",
		"server.shutdown_timeout": "5s", "server.max_header_bytes": "64KiB", "metrics.enabled": "false",
		"auth.enabled": "true", "auth.allow_anonymous": "false", "auth.anonymous_read": "public/*,lib/x",
		"auth.token_ttl": "10m0s", "auth.refresh_token_ttl": "48h0m0s", "auth.realm": "https://r.example/token", "auth.service": "reg",
		"auth.oidc.issuer": "https://id.example", "auth.oidc.client_id": "berth", "auth.oidc.client_secret_file": "/s",
		"auth.oidc.username_claim": "sub", "auth.oidc.redirect_url": "https://r.example/auth/oidc/callback",
		"network.default_action": "deny", "network.allow": "10.0.0.0/8,192.0.2.1", "network.deny": "10.66.0.0/16",
		"network.trusted_proxies": "127.0.0.3",
		"lifecycle.trash_days":    "3",
		"storage.min_free_bytes":  "5GiB", "gc.grace_period": "30m0s", "gc.interval": "0s", "gc.schedule": "0 4 * * *",
		"quota.global": "100GiB", "quota.repositories": "team-a/*=10GiB,*=1GiB", "quota.warn_percent": "80",
		"audit.retention": "30d", "audit.file": "/var/log/berth-audit.jsonl", "audit.syslog": "udp://127.0.0.1:514", "audit.pull_window": "2m0s",
		"retention.check_interval": "30s",
		"rate_limit.enabled":       "true", "rate_limit.burst": "5s", "rate_limit.max_keys": "1000",
		"rate_limit.identity.reads_per_minute": "100", "rate_limit.identity.writes_per_minute": "50", "rate_limit.identity.deletes_per_minute": "0",
		"rate_limit.address.reads_per_minute": "200", "rate_limit.address.writes_per_minute": "60", "rate_limit.address.deletes_per_minute": "7",
		"scan.db": "/osv/Go-all.zip,/osv/debian", "scan.workers": "2", "scan.on_push": "false", "scan.attach_sbom": "spdx",
		"webhooks.allow_cidrs": "127.0.0.0/8,10.20.0.0/16", "webhooks.timeout": "3s", "webhooks.min_backoff": "2s",
		"webhooks.max_backoff": "10m0s", "webhooks.max_attempts": "5", "webhooks.max_age": "2h0m0s", "webhooks.delivery_retention": "7d",
		"import.allow_cidrs": "10.0.0.0/8",
	}
	if len(values) != len(Keys()) {
		t.Fatalf("test covers %d keys, config has %d", len(values), len(Keys()))
	}
	check := func(t *testing.T, c Config) {
		t.Helper()
		for _, k := range Keys() {
			if got := k.get(c); got != values[k.Name] {
				t.Errorf("%s = %q, want %q", k.Name, got, values[k.Name])
			}
		}
		if c.Server.IdleTimeout != 4*time.Second || c.Limits.MaxManifestSize != 2<<20 || c.Metrics.Enabled {
			t.Errorf("typed values wrong: %+v", c)
		}
	}
	t.Run("env", func(t *testing.T) {
		env := map[string]string{}
		for _, k := range Keys() {
			env[k.Env()] = values[k.Name]
		}
		c, err := Build(Sources{Env: envOf(env)})
		if err != nil {
			t.Fatal(err)
		}
		check(t, c)
	})
	t.Run("flags", func(t *testing.T) {
		c, err := Build(Sources{Flags: values})
		if err != nil {
			t.Fatal(err)
		}
		check(t, c)
	})
}

func TestNames(t *testing.T) {
	tests := []struct{ key, env, flag string }{
		{"listen", "BERTH_LISTEN", "listen"},
		{"data_dir", "BERTH_DATA_DIR", "data-dir"},
		{"tls.cert", "BERTH_TLS_CERT", "tls-cert"},
		{"limits.max_manifest_size", "BERTH_LIMITS_MAX_MANIFEST_SIZE", "limits-max-manifest-size"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			k, ok := LookupKey(tt.key)
			if !ok {
				t.Fatal("key missing")
			}
			if k.Env() != tt.env || k.Flag() != tt.flag {
				t.Errorf("env, flag = %q, %q", k.Env(), k.Flag())
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	cert := writeFile(t, "cert.pem", "x")
	dir := t.TempDir()
	tests := []struct {
		name string
		src  Sources
		want string
	}{
		{"cert missing", Sources{Flags: map[string]string{"tls.cert": "/nonexistent/c.pem", "tls.key": cert}}, "config: tls.cert: file not found"},
		{"key missing", Sources{Flags: map[string]string{"tls.cert": cert, "tls.key": "/nonexistent/k.pem"}}, "config: tls.key: file not found"},
		{"key unset", Sources{Flags: map[string]string{"tls.cert": cert}}, "config: tls.key: must be set when tls.cert is set"},
		{"cert is dir", Sources{Flags: map[string]string{"tls.cert": dir, "tls.key": cert}}, "config: tls.cert: is a directory"},
		{"manifest size zero", Sources{Flags: map[string]string{"limits.max_manifest_size": "0"}}, "config: limits.max_manifest_size: must be > 0"},
		{"manifest size huge", Sources{Flags: map[string]string{"limits.max_manifest_size": "1GiB"}}, "config: limits.max_manifest_size: must be at most 64MiB"},
		{"manifest size garbage", Sources{Flags: map[string]string{"limits.max_manifest_size": "lots"}}, "config: limits.max_manifest_size (--limits-max-manifest-size): invalid size"},
		{"page size zero", Sources{Flags: map[string]string{"limits.max_page_size": "0"}}, "config: limits.max_page_size: must be > 0"},
		{"page size huge", Sources{Flags: map[string]string{"limits.max_page_size": "1000000"}}, "config: limits.max_page_size: must be at most 100000"},
		{"page size not int", Sources{Env: envOf(map[string]string{"BERTH_LIMITS_MAX_PAGE_SIZE": "ten"})}, "config: limits.max_page_size (BERTH_LIMITS_MAX_PAGE_SIZE): invalid integer"},
		{"listen empty", Sources{Flags: map[string]string{"listen": ""}}, "config: listen: must not be empty"},
		{"listen no port", Sources{Flags: map[string]string{"listen": "localhost"}}, "config: listen: want host:port"},
		{"listen bad port", Sources{Flags: map[string]string{"listen": "127.0.0.1:99999"}}, "config: listen: invalid port"},
		{"data dir empty", Sources{Flags: map[string]string{"data_dir": ""}}, "config: data_dir: must not be empty"},
		{"storage driver", Sources{Flags: map[string]string{"storage.driver": "s3"}}, "config: storage.driver: unknown driver"},
		{"metadata driver", Sources{Flags: map[string]string{"metadata.driver": "postgres"}}, "config: metadata.driver: unknown driver"},
		{"log level", Sources{Flags: map[string]string{"log.level": "loud"}}, "config: log.level: unknown level"},
		{"log format", Sources{Flags: map[string]string{"log.format": "xml"}}, "config: log.format: unknown format"},
		{"read header timeout", Sources{Flags: map[string]string{"server.read_header_timeout": "0s"}}, "config: server.read_header_timeout: must be > 0"},
		{"idle timeout", Sources{Flags: map[string]string{"server.idle_timeout": "-1s"}}, "config: server.idle_timeout: must be > 0"},
		{"shutdown timeout", Sources{Flags: map[string]string{"server.shutdown_timeout": "0s"}}, "config: server.shutdown_timeout: must be > 0"},
		{"bad duration", Sources{Flags: map[string]string{"server.idle_timeout": "soon"}}, "config: server.idle_timeout (--server-idle-timeout): invalid duration"},
		{"header bytes zero", Sources{Flags: map[string]string{"server.max_header_bytes": "0"}}, "config: server.max_header_bytes: must be > 0"},
		{"header bytes huge", Sources{Flags: map[string]string{"server.max_header_bytes": "1GiB"}}, "config: server.max_header_bytes: must be at most 16MiB"},
		{"bad bool", Sources{Env: envOf(map[string]string{"BERTH_METRICS_ENABLED": "maybe"})}, "config: metrics.enabled (BERTH_METRICS_ENABLED): invalid boolean"},
		{"gc schedule bad", Sources{Flags: map[string]string{"gc.schedule": "0 4 * *"}}, "config: gc.schedule: schedule \"0 4 * *\": want a cron expression"},
		{"gc schedule and interval", Sources{Flags: map[string]string{"gc.schedule": "0 4 * * *", "gc.interval": "24h"}}, "config: gc.schedule: set gc.schedule or gc.interval, not both"},
		{"unknown flag key", Sources{Flags: map[string]string{"nope": "1"}}, "config: nope: unknown key"},
		{"file missing", Sources{File: "/nonexistent/berth.yaml"}, "config: reading /nonexistent/berth.yaml"},
		{"file unknown key", Sources{File: writeFile(t, "a.yaml", "listen: 127.0.0.1:1\nlisten_addr: x\n")}, "field listen_addr not found"},
		{"file nested unknown key", Sources{File: writeFile(t, "b.yaml", "tls:\n  certificate: x\n")}, "field certificate not found"},
		{"file bad size", Sources{File: writeFile(t, "c.yaml", "limits:\n  max_manifest_size: 4 parsecs\n")}, "unknown unit"},
		{"file bad yaml", Sources{File: writeFile(t, "d.yaml", "listen: [\n")}, "config: parsing"},
		{"file too large", Sources{File: writeFile(t, "e.yaml", "#"+strings.Repeat("x", maxFileSize))}, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.src)
			if err == nil {
				t.Fatalf("Build succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateJoinsAllProblems(t *testing.T) {
	c := Default()
	c.Log.Level = "x"
	c.Limits.MaxPageSize = -1
	err := c.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FieldError", err)
	}
	for _, key := range []string{"log.level", "limits.max_page_size"} {
		if !strings.Contains(err.Error(), "config: "+key+":") {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestLoadEmptyFileKeepsDefaults(t *testing.T) {
	c, err := Load(writeFile(t, "empty.yaml", ""))
	if err != nil {
		t.Fatal(err)
	}
	if c != Default() {
		t.Errorf("empty file changed the defaults: %+v", c)
	}
}

func TestLoadFullFile(t *testing.T) {
	c, err := Load(writeFile(t, "full.yaml", `
listen: 127.0.0.1:5001
data_dir: /srv/berth
storage: {driver: filesystem, dir: /srv/blobs}
metadata: {driver: sqlite, path: /srv/meta.db}
limits: {max_manifest_size: 8MiB, max_page_size: 200}
log: {level: warn, format: json}
server: {read_header_timeout: 5s, idle_timeout: 1m, shutdown_timeout: 10s, max_header_bytes: 65536}
metrics: {enabled: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen: "127.0.0.1:5001", DataDir: "/srv/berth",
		Storage:  Storage{Driver: "filesystem", Dir: "/srv/blobs"},
		Metadata: Metadata{Driver: "sqlite", Path: "/srv/meta.db"},
		Limits:   Limits{MaxManifestSize: 8 << 20, MaxPageSize: 200},
		Log:      Log{Level: "warn", Format: "json"},
		Server:   Server{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute, ShutdownTimeout: 10 * time.Second, MaxHeaderBytes: 65536},
		Auth:     Default().Auth,
		Network:  Default().Network,

		Lifecycle: Default().Lifecycle,
		GC:        Default().GC,
		Quota:     Default().Quota,
		Audit:     Default().Audit,
		Webhooks:  Default().Webhooks,
		Retention: Default().Retention,
		Scan:      Default().Scan,
		RateLimit: Default().RateLimit,
	}
	if c != want {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	if c.StorageDir() != "/srv/blobs" || c.MetadataPath() != "/srv/meta.db" {
		t.Errorf("explicit dirs not used: %q %q", c.StorageDir(), c.MetadataPath())
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"4194304", 4 << 20, true},
		{"4MiB", 4 << 20, true},
		{"4 MiB", 4 << 20, true},
		{"4mib", 4 << 20, true},
		{"4MB", 4000000, true},
		{"512KiB", 512 << 10, true},
		{"1GiB", 1 << 30, true},
		{"0", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"MiB", 0, false},
		{"1.5MiB", 0, false},
		{"99999999999999TiB", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

// TestDocumented keeps docs/configuration.md in step with the key table.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		row := "| `" + k.Name + "` | `" + k.Env() + "` | `--" + k.Flag() + "` | " + k.Type + " |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/configuration.md has no row starting %q", row)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"4MiB", "0", "12 kb", "9223372036854775807", "1TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		if err == nil {
			// What String renders must parse back to the same size.
			if m, err := ParseSize(n.String()); err != nil || m != n {
				t.Fatalf("round trip of %d via %q = %d, %v", n, n.String(), m, err)
			}
		}
	})
}
