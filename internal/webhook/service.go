package webhook

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/metadata"
)

// Create validates w, checks that its URL may be reached, generates a
// secret unless one is given, and stores it. The returned subscription
// holds the secret: the only time it is shown.
func (d *Dispatcher) Create(ctx context.Context, w metadata.Webhook) (*metadata.Webhook, error) {
	if w.Secret == "" {
		w.Secret = NewSecret()
	}
	if err := d.check(ctx, w); err != nil {
		return nil, err
	}
	if err := d.store.PutWebhook(ctx, w, true); err != nil {
		return nil, err
	}
	d.Changed()
	return d.store.Webhook(ctx, w.Name)
}

// Update replaces the subscription named w.Name, keeping its secret when
// w.Secret is empty.
func (d *Dispatcher) Update(ctx context.Context, w metadata.Webhook) (*metadata.Webhook, error) {
	old, err := d.store.Webhook(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	if w.Secret == "" {
		w.Secret = old.Secret
	}
	if err := d.check(ctx, w); err != nil {
		return nil, err
	}
	if err := d.store.PutWebhook(ctx, w, false); err != nil {
		return nil, err
	}
	d.Changed()
	return d.store.Webhook(ctx, w.Name)
}

func (d *Dispatcher) check(ctx context.Context, w metadata.Webhook) error {
	if err := Validate(w); err != nil {
		return err
	}
	if _, err := d.opts.Guard.CheckURL(ctx, w.URL); err != nil {
		return err
	}
	return nil
}

// Delete removes a subscription and its delivery log.
func (d *Dispatcher) Delete(ctx context.Context, name string) error {
	if err := d.store.DeleteWebhook(ctx, name); err != nil {
		return err
	}
	d.Changed()
	return nil
}

// Get returns one subscription (with its secret: callers must not show it).
func (d *Dispatcher) Get(ctx context.Context, name string) (*metadata.Webhook, error) {
	return d.store.Webhook(ctx, name)
}

// List returns every subscription in name order.
func (d *Dispatcher) List(ctx context.Context) ([]metadata.Webhook, error) {
	return d.store.ListWebhooks(ctx)
}

// Deliveries returns the newest n deliveries of the named subscription.
func (d *Dispatcher) Deliveries(ctx context.Context, name string, n int) ([]metadata.WebhookDelivery, error) {
	if _, err := d.store.Webhook(ctx, name); err != nil {
		return nil, err
	}
	ds, err := d.store.ListDeliveries(ctx, name, n)
	if err != nil {
		return nil, fmt.Errorf("listing deliveries of webhook %q: %w", name, err)
	}
	return ds, nil
}
