package metadatatest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// WebhookStore is a backend with the Webhooks role and an outbox.
type WebhookStore interface {
	metadata.Webhooks
	metadata.Outbox
}

// RunWebhooks checks the Webhooks role. Beyond the interface comments it
// pins down that the secret round-trips, that no event carries it, and
// that a delivery's state and next attempt move as FinishAttempt says.
func RunWebhooks(t *testing.T, open func(t *testing.T) WebhookStore) {
	t.Run("Subscriptions", func(t *testing.T) { testWebhookSubscriptions(t, open(t)) })
	t.Run("Deliveries", func(t *testing.T) { testWebhookDeliveries(t, open(t)) })
}

func testWebhookSubscriptions(t *testing.T, s WebhookStore) {
	ctx := metadata.WithActor(context.Background(), "tester")
	if _, err := s.Webhook(ctx, "ci"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("Webhook(absent) = %v, want ErrNotFound", err)
	}
	w := metadata.Webhook{Name: "ci", URL: "https://hooks.example/x", Secret: "s3cret-value",
		Events: []string{"manifest.pushed", "scan.*"}, RepoRegex: "team/.*", Enabled: true}
	if err := s.PutWebhook(ctx, w, false); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("update of an absent webhook = %v, want ErrNotFound", err)
	}
	if err := s.PutWebhook(ctx, w, true); err != nil {
		t.Fatal(err)
	}
	if err := s.PutWebhook(ctx, w, true); !errors.Is(err, metadata.ErrExists) {
		t.Fatalf("second create = %v, want ErrExists", err)
	}
	got, err := s.Webhook(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != w.Secret || got.URL != w.URL || !slices.Equal(got.Events, w.Events) || got.RepoRegex != "team/.*" ||
		!got.Enabled || got.IncludePulls || got.Actor != "tester" || got.Created.IsZero() {
		t.Fatalf("stored %+v, want %+v", got, w)
	}
	w.Enabled, w.IncludePulls, w.Events = false, true, nil
	if err := s.PutWebhook(ctx, w, false); err != nil {
		t.Fatal(err)
	}
	if err := s.PutWebhook(ctx, metadata.Webhook{Name: "a", URL: "http://a", Secret: "x"}, true); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListWebhooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "a" || list[1].Name != "ci" || list[1].Enabled || !list[1].IncludePulls || len(list[1].Events) != 0 {
		t.Fatalf("list = %+v, want a then the updated ci", list)
	}
	if err := s.DeleteWebhook(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebhook(ctx, "ci"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("second delete = %v, want ErrNotFound", err)
	}
	evs, err := s.PendingEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		if e.Tag == "ci" {
			types = append(types, e.Type)
		}
		if strings.Contains(string(e.Detail), "s3cret") {
			t.Errorf("event %s carries the secret: %s", e.Type, e.Detail)
		}
	}
	want := []string{metadata.EventWebhookCreated, metadata.EventWebhookUpdated, metadata.EventWebhookDeleted}
	if !slices.Equal(types, want) {
		t.Errorf("events of ci = %v, want %v", types, want)
	}
}

func testWebhookDeliveries(t *testing.T, s WebhookStore) {
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		if err := s.PutWebhook(ctx, metadata.Webhook{Name: name, URL: "http://x", Secret: "k", Enabled: true}, true); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	ds := []metadata.WebhookDelivery{
		{Webhook: "a", EventID: 1, EventType: "manifest.pushed", Payload: []byte(`{"id":"1"}`)},
		{Webhook: "a", EventID: 2, EventType: "tag.deleted", Payload: []byte(`{"id":"2"}`)},
		{Webhook: "b", EventID: 1, EventType: "manifest.pushed", Payload: []byte(`{"id":"1"}`)},
		{Webhook: "a", EventType: "manifest.pulled", Payload: []byte(`{}`)},
		{Webhook: "a", EventType: "manifest.pulled", Payload: []byte(`{}`)}, // no event: not deduped
	}
	if err := s.EnqueueDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if err := s.EnqueueDeliveries(ctx, ds[:1]); err != nil { // redelivered outbox event
		t.Fatal(err)
	}
	due, err := s.DueDeliveries(ctx, "a", now.Add(time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 4 || due[0].EventID != 1 || string(due[0].Payload) != `{"id":"1"}` || due[0].State != metadata.DeliveryPending {
		t.Fatalf("due for a = %+v, want 4 pending, event 1 first", due)
	}
	retry := now.Add(time.Hour)
	if err := s.FinishAttempt(ctx, due[0].ID, metadata.WebhookAttempt{At: now, StatusCode: 503, Duration: time.Millisecond,
		Error: "status 503", Response: "busy", State: metadata.DeliveryPending, NextTry: retry}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishAttempt(ctx, due[1].ID, metadata.WebhookAttempt{At: now, StatusCode: 204, State: metadata.DeliveryDelivered}); err != nil {
		t.Fatal(err)
	}
	if due, err = s.DueDeliveries(ctx, "a", now.Add(time.Second), 10); err != nil || len(due) != 2 {
		t.Fatalf("due after attempts = %d, %v; want the 2 pulls (one retrying later, one delivered)", len(due), err)
	}
	if due, err = s.DueDeliveries(ctx, "a", retry, 10); err != nil || len(due) != 3 {
		t.Fatalf("due at the retry time = %d, %v; want 3", len(due), err)
	}
	if _, err := s.RecordDelivery(ctx, metadata.WebhookDelivery{Webhook: "a", EventType: "ping", Payload: []byte(`{}`),
		State: metadata.DeliveryDelivered, Attempts: 1, Created: now, StatusCode: 200, Finished: now}); err != nil {
		t.Fatal(err)
	}
	log, err := s.ListDeliveries(ctx, "a", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 5 || log[0].EventType != "ping" || log[0].StatusCode != 200 {
		t.Fatalf("log = %+v, want 5 newest first, the ping on top", log)
	}
	first := log[4]
	if first.EventID != 1 || first.Attempts != 1 || first.StatusCode != 503 || first.Response != "busy" ||
		first.Duration != time.Millisecond || first.NextTry.Sub(retry).Abs() > time.Microsecond {
		t.Errorf("first delivery = %+v", first)
	}
	n, err := s.PruneDeliveries(ctx, now.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("PruneDeliveries = %d, %v; want the delivered one and the ping", n, err)
	}
	if err := s.DeleteWebhook(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if log, err = s.ListDeliveries(ctx, "a", 10); err != nil || len(log) != 0 {
		t.Fatalf("deliveries of a deleted webhook = %d, %v", len(log), err)
	}
	if err := s.FinishAttempt(ctx, due[0].ID, metadata.WebhookAttempt{State: metadata.DeliveryDelivered}); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("FinishAttempt on a deleted webhook's delivery = %v, want ErrNotFound", err)
	}
	if log, err = s.ListDeliveries(ctx, "b", 10); err != nil || len(log) != 1 {
		t.Fatalf("deliveries of b = %d, %v; want 1", len(log), err)
	}
}
