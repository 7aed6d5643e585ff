package config

import (
	"testing"
	"time"
)

func TestValidateWebhooks(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Webhooks)
		ok   bool
	}{
		{"defaults", func(*Webhooks) {}, true},
		{"cidrs and addresses", func(w *Webhooks) { w.AllowCIDRs = "127.0.0.0/8, 10.1.2.3,::1" }, true},
		{"bad cidr", func(w *Webhooks) { w.AllowCIDRs = "10.0.0.0/33" }, false},
		{"name not address", func(w *Webhooks) { w.AllowCIDRs = "localhost" }, false},
		{"zero timeout", func(w *Webhooks) { w.Timeout = 0 }, false},
		{"backoff inverted", func(w *Webhooks) { w.MaxBackoff = time.Millisecond }, false},
		{"no attempts", func(w *Webhooks) { w.MaxAttempts = 0 }, false},
		{"negative retention", func(w *Webhooks) { w.DeliveryRetention = -1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mod(&c.Webhooks)
			if errs := c.validateWebhooks(); (len(errs) == 0) != tc.ok {
				t.Fatalf("errors %v, want ok=%v", errs, tc.ok)
			}
		})
	}
	c := Default()
	c.Webhooks.AllowCIDRs = "10.1.2.3,192.168.7.9/16"
	ps, err := c.Webhooks.AllowPrefixes()
	if err != nil || len(ps) != 2 || ps[0].String() != "10.1.2.3/32" || ps[1].String() != "192.168.0.0/16" {
		t.Errorf("AllowPrefixes = %v, %v", ps, err)
	}
}
