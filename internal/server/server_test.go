package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
)

// testConfig is a valid configuration on an ephemeral port in a temp dir.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	c := config.Default()
	c.Listen = "127.0.0.1:0"
	c.DataDir = t.TempDir()
	c.Server.ShutdownTimeout = 5 * time.Second
	return c
}

// start opens and serves cfg; the returned stop cancels and returns Serve's error.
func start(t *testing.T, cfg config.Config) (*Server, *syncBuffer, func() error) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Open(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	stopped := false
	var stopErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(10 * time.Second):
				stopErr = errors.New("server did not stop within 10s")
			}
		}
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return s, logs, stop
}

func TestServerEndpoints(t *testing.T) {
	s, logs, stop := start(t, testConfig(t))
	base := s.URL()
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("URL() = %q", base)
	}
	tests := []struct {
		path     string
		status   int
		bodyHas  string
		jsonBody bool
	}{
		{"/healthz", 200, "ok", false},
		{"/readyz", 200, "ok", false},
		{"/api/v1/repositories", 200, `"repositories":[]`, true},
		{"/api/v1/repositories/none/tags", 404, "NAME_UNKNOWN", true},
		{"/nowhere", 404, `"errors"`, true},
		{"/v2/", 200, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := do(t, "GET", base+tt.path, nil, nil)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.bodyHas) {
				t.Errorf("status %d body %q; want %d containing %q", resp.StatusCode, body, tt.status, tt.bodyHas)
			}
			if tt.jsonBody && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			if resp.Header.Get("X-Request-ID") == "" {
				t.Error("no X-Request-ID")
			}
		})
	}

	_, metricsBody := do(t, "GET", base+"/metrics", nil, nil)
	for series, want := range map[string]string{
		`berth_http_requests_total{code="200",method="GET",route="health"}`: "2",
		`berth_http_requests_total{code="404",method="GET",route="other"}`:  "1",
		`berth_http_requests_total{code="404",method="GET",route="api"}`:    "1",
		`berth_http_response_bytes_total{route="health"}`:                   "6",
	} {
		if got := seriesValue(metricsBody, series); got != want {
			t.Errorf("%s = %q, want %q", series, got, want)
		}
	}
	if strings.Contains(metricsBody, "nowhere") {
		t.Error("a raw path leaked into metric labels")
	}

	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
	if !strings.Contains(logs.String(), "route=health") {
		t.Errorf("no request log lines:\n%s", logs)
	}
}

func TestServerMetricsDisabled(t *testing.T) {
	cfg := testConfig(t)
	cfg.Metrics.Enabled = false
	s, _, _ := start(t, cfg)
	if resp, _ := do(t, "GET", s.URL()+"/metrics", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics status %d with metrics disabled", resp.StatusCode)
	}
}

func TestServerReopensData(t *testing.T) {
	cfg := testConfig(t)
	_, _, stop := start(t, cfg)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cfg.StorageDir(), cfg.MetadataPath()} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("data not created: %v", err)
		}
	}
	s, _, _ := start(t, cfg) // the same data directory opens again
	if resp, _ := do(t, "GET", s.URL()+"/readyz", nil, nil); resp.StatusCode != 200 {
		t.Errorf("readyz %d after reopen", resp.StatusCode)
	}
}

func TestOpenErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"port in use", func(c *config.Config) { c.Listen = busy.Addr().String() }, "listening on"},
		{"bad certificate", func(c *config.Config) { c.TLS = config.TLS{Cert: garbage, Key: garbage} }, "loading TLS certificate"},
		{"metadata path is a directory", func(c *config.Config) { c.Metadata.Path = dir }, "opening metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.edit(&cfg)
			err := New(cfg, nil).Open(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestServerTLS(t *testing.T) {
	cfg := testConfig(t)
	certPEM, keyPEM := selfSigned(t)
	cfg.TLS.Cert = filepath.Join(t.TempDir(), "cert.pem")
	cfg.TLS.Key = filepath.Join(t.TempDir(), "key.pem")
	for p, b := range map[string][]byte{cfg.TLS.Cert: certPEM, cfg.TLS.Key: keyPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, _, _ := start(t, cfg)
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL() = %q", s.URL())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)

	tests := []struct {
		name    string
		max     uint16
		wantErr bool
	}{
		{"TLS 1.3", tls.VersionTLS13, false},
		{"TLS 1.2", tls.VersionTLS12, false},
		{"TLS 1.1 refused", tls.VersionTLS11, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tt.max}, //nolint:gosec // probing the server's minimum
				ForceAttemptHTTP2: true,
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(s.URL() + "/healthz")
			if tt.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("handshake succeeded below TLS 1.2")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version != tt.max {
				t.Errorf("status %d, TLS %+v", resp.StatusCode, resp.TLS)
			}
			// The server offers h2 in ALPN, so it must also speak it.
			if resp.ProtoMajor != 2 {
				t.Errorf("protocol %s, want HTTP/2", resp.Proto)
			}
		})
	}
	if resp, err := http.Get("http://" + s.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served on the TLS port")
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1 valid for an hour.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "berth test"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
