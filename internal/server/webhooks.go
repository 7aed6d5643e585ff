package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/webhook"
)

// webhookPruneInterval is how often deliveries past
// webhooks.delivery_retention are deleted.
const webhookPruneInterval = time.Hour

// openWebhooks builds the webhook dispatcher and subscribes it to the
// outbox relay (docs/webhooks.md).
func (s *Server) openWebhooks(db *sqlite.Store) error {
	cfg := s.cfg.Webhooks
	allow, err := cfg.AllowPrefixes()
	if err != nil {
		return fmt.Errorf("webhooks.allow_cidrs: %w", err)
	}
	s.webhooks = webhook.New(db, webhook.Options{
		Guard:   &webhook.Guard{Allow: allow},
		Timeout: cfg.Timeout, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
		MaxAttempts: cfg.MaxAttempts, MaxAge: cfg.MaxAge,
		Logger: s.log,
	})
	return s.relay.Subscribe("webhooks", s.webhooks.HandleEvent)
}

// startWebhooks delivers until ctx ends or stop is called; stop waits.
func (s *Server) startWebhooks(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.webhooks.Run(ctx) })
	if r := time.Duration(s.cfg.Webhooks.DeliveryRetention); r > 0 {
		wg.Go(func() { s.webhooks.PruneLoop(ctx, r, webhookPruneInterval) })
	}
	return func() { cancel(); wg.Wait() }
}

// pullTap is the metadata store as the registry sees it: pulls written
// in a batch are also handed to webhooks, from memory. A pull therefore
// never causes an outbox write; the notification is best effort and
// comes once per manifest per flush of the pull recorder.
type pullTap struct {
	*sqlite.Store
	webhooks *webhook.Dispatcher
}

// RecordPulls implements metadata.Pulls.
func (p pullTap) RecordPulls(ctx context.Context, pulls []metadata.Pull) error {
	if err := p.Store.RecordPulls(ctx, pulls); err != nil {
		return err // retried by the recorder: notify once, when written
	}
	p.webhooks.Pulled(pulls)
	return nil
}
