package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Webhooks configures webhook delivery (docs/webhooks.md).
type Webhooks struct {
	// AllowCIDRs lists prefixes webhooks may reach although they are
	// loopback, private or link-local (on-premises receivers).
	AllowCIDRs List `yaml:"allow_cidrs"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
	// MinBackoff and MaxBackoff bound the wait between attempts.
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxAttempts and MaxAge end the retries of a delivery.
	MaxAttempts int           `yaml:"max_attempts"`
	MaxAge      time.Duration `yaml:"max_age"`
	// DeliveryRetention is how long finished deliveries stay in the log;
	// 0 keeps them forever.
	DeliveryRetention Days `yaml:"delivery_retention"`
}

// AllowPrefixes parses AllowCIDRs; a bare address is a single-address prefix.
func (w Webhooks) AllowPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range w.AllowCIDRs.Items() {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a CIDR prefix nor an address", s)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR prefix nor an address", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func defaultWebhooks() Webhooks {
	return Webhooks{Timeout: 10 * time.Second, MinBackoff: time.Second, MaxBackoff: time.Hour,
		MaxAttempts: 20, MaxAge: 24 * time.Hour, DeliveryRetention: Days(30 * day)}
}

func webhookKeys() []Key {
	return []Key{
		list("webhooks.allow_cidrs", "loopback, private or link-local prefixes webhooks may nevertheless reach, comma-separated", func(c *Config) *List { return &c.Webhooks.AllowCIDRs }),
		duration("webhooks.timeout", "time allowed for one webhook delivery attempt", func(c *Config) *time.Duration { return &c.Webhooks.Timeout }),
		duration("webhooks.min_backoff", "wait before the first retry of a failed delivery; doubles per attempt", func(c *Config) *time.Duration { return &c.Webhooks.MinBackoff }),
		duration("webhooks.max_backoff", "longest wait between retries of a delivery", func(c *Config) *time.Duration { return &c.Webhooks.MaxBackoff }),
		integer("webhooks.max_attempts", "attempts before a delivery is given up", func(c *Config) *int { return &c.Webhooks.MaxAttempts }),
		duration("webhooks.max_age", "age after which a failing delivery is given up", func(c *Config) *time.Duration { return &c.Webhooks.MaxAge }),
		days("webhooks.delivery_retention", "how long finished deliveries stay in the delivery log, e.g. 30d; 0 forever", func(c *Config) *Days { return &c.Webhooks.DeliveryRetention }),
	}
}

// validateWebhooks checks the webhooks keys.
func (c Config) validateWebhooks() []error {
	var errs []error
	bad := func(key string, err error) { errs = append(errs, &FieldError{Key: key, Err: err}) }
	w := c.Webhooks
	if _, err := w.AllowPrefixes(); err != nil {
		bad("webhooks.allow_cidrs", err)
	}
	if w.Timeout <= 0 || w.Timeout > 5*time.Minute {
		bad("webhooks.timeout", errors.New("must be between 0 and 5m"))
	}
	if w.MinBackoff <= 0 {
		bad("webhooks.min_backoff", errors.New("must be > 0"))
	}
	if w.MaxBackoff < w.MinBackoff {
		bad("webhooks.max_backoff", errors.New("must be at least webhooks.min_backoff"))
	}
	if w.MaxAttempts < 1 || w.MaxAttempts > 1000 {
		bad("webhooks.max_attempts", errors.New("must be between 1 and 1000"))
	}
	if w.MaxAge <= 0 {
		bad("webhooks.max_age", errors.New("must be > 0"))
	}
	if w.DeliveryRetention < 0 {
		bad("webhooks.delivery_retention", errors.New("must not be negative"))
	}
	return errs
}
