// Package servertest starts a real Berth server on 127.0.0.1 for the tests
// of other packages: the CLI, the remote client and the image sources all
// talk to the genuine article rather than to a fake.
package servertest

import (
	"context"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/server"
)

// Config is the default configuration on an ephemeral loopback port with
// its data in a temporary directory; adjust it before Start.
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Server.ShutdownTimeout = 5 * time.Second
	return cfg
}

// Start opens and serves cfg until the test ends; a Serve error then fails
// the test.
func Start(t testing.TB, cfg config.Config) *server.Server {
	t.Helper()
	s := server.New(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Open(ctx); err != nil {
		cancel()
		t.Fatalf("opening server: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}
