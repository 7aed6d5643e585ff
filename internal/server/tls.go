package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// certReloader serves the certificate of tls.cert and tls.key and reads
// them again on Reload. Connections keep the certificate they shook hands
// with; the next handshake gets the new one.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cur.Store(cert)
	return c, nil
}

func (c *certReloader) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	return &cert, nil
}

// Reload reads the files again. On failure (a half-written file, a key
// that does not match) the certificate in use stays and the reason is
// logged and returned.
func (c *certReloader) Reload() error {
	cert, err := c.load()
	if err != nil {
		c.log.Error("TLS certificate not reloaded; still serving the previous one", slog.Any("err", err))
		return err
	}
	c.cur.Store(cert)
	attrs := []any{slog.String("cert", c.certFile)}
	if leaf := cert.Leaf; leaf != nil {
		attrs = append(attrs, slog.String("subject", leaf.Subject.String()), slog.Time("not_after", leaf.NotAfter))
	}
	c.log.Info("TLS certificate reloaded", attrs...)
	return nil
}

func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// tlsConfig is the server's TLS configuration: TLS 1.2 at least, the
// certificate through the reloader, and client certificates verified
// against tls.client_ca when set.
func (s *Server) tlsConfig() (*tls.Config, error) {
	certs, err := newCertReloader(s.cfg.TLS.Cert, s.cfg.TLS.Key, s.log)
	if err != nil {
		return nil, err
	}
	s.certs = certs
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.getCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if s.cfg.TLS.ClientCA != "" {
		pem, err := os.ReadFile(s.cfg.TLS.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("reading tls.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.client_ca %s: no PEM certificate in it", s.cfg.TLS.ClientCA)
		}
		// A certificate is optional (passwords and tokens still work),
		// but one that is sent must chain to the bundle, or the handshake
		// fails.
		cfg.ClientAuth, cfg.ClientCAs = tls.VerifyClientCertIfGiven, pool
	}
	return cfg, nil
}

// watchHUP reloads the TLS certificate on SIGHUP until ctx ends. Without
// TLS the signal is logged and otherwise ignored: its default action would
// end the process, and log rotation tooling sends it out of habit.
func (s *Server) watchHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if s.certs == nil {
					s.log.Info("SIGHUP: nothing to reload (TLS is off)")
					continue
				}
				_ = s.certs.Reload() // logged
			}
		}
	}()
}

// ReloadTLS reads tls.cert and tls.key again, as SIGHUP does; on failure
// the previous certificate stays in use.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return errors.New("server: TLS is not enabled")
	}
	return s.certs.Reload()
}
