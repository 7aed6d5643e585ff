package config

import (
	"errors"
	"time"
)

// RateLimit configures request rate limits (docs/access.md#rate-limits):
// token buckets per identity and per client address, each with a rate per
// minute for reads, writes and deletes. Off by default.
type RateLimit struct {
	Enabled  bool      `yaml:"enabled"`
	Identity RateClass `yaml:"identity"`
	Address  RateClass `yaml:"address"`
	// Burst is how much time's worth of requests a full bucket holds.
	Burst time.Duration `yaml:"burst"`
	// MaxKeys bounds the identities and the addresses tracked.
	MaxKeys int `yaml:"max_keys"`
}

// RateClass holds the rates of one kind of key; 0 is unlimited.
type RateClass struct {
	Reads   int `yaml:"reads_per_minute"`
	Writes  int `yaml:"writes_per_minute"`
	Deletes int `yaml:"deletes_per_minute"`
}

// defaultRateLimit follows ACR Premium's registry limits (20,000 reads
// and 4,000 writes a minute), for identities and addresses alike.
func defaultRateLimit() RateLimit {
	rc := RateClass{Reads: 20000, Writes: 4000, Deletes: 1000}
	return RateLimit{Identity: rc, Address: rc, Burst: 10 * time.Second, MaxKeys: 100000}
}

func rateLimitKeys() []Key {
	rates := func(kind string, rc func(*Config) *RateClass) []Key {
		return []Key{
			integer("rate_limit."+kind+".reads_per_minute", "GET and HEAD requests a minute per "+kind+"; 0 unlimited", func(c *Config) *int { return &rc(c).Reads }),
			integer("rate_limit."+kind+".writes_per_minute", "POST, PUT and PATCH requests a minute per "+kind+"; 0 unlimited", func(c *Config) *int { return &rc(c).Writes }),
			integer("rate_limit."+kind+".deletes_per_minute", "DELETE requests a minute per "+kind+"; 0 unlimited", func(c *Config) *int { return &rc(c).Deletes }),
		}
	}
	keys := []Key{boolean("rate_limit.enabled", "limit request rates per identity and per client address (429 with Retry-After)", func(c *Config) *bool { return &c.RateLimit.Enabled })}
	keys = append(keys, rates("identity", func(c *Config) *RateClass { return &c.RateLimit.Identity })...)
	keys = append(keys, rates("address", func(c *Config) *RateClass { return &c.RateLimit.Address })...)
	return append(keys,
		duration("rate_limit.burst", "a full bucket holds this much time's worth of requests", func(c *Config) *time.Duration { return &c.RateLimit.Burst }),
		integer("rate_limit.max_keys", "most identities and most addresses tracked; the least recently seen are forgotten", func(c *Config) *int { return &c.RateLimit.MaxKeys }),
	)
}

// validateRateLimit checks the rate_limit keys.
func (c Config) validateRateLimit() []error {
	var errs []error
	bad := func(key string, err error) { errs = append(errs, &FieldError{Key: key, Err: err}) }
	for kind, rc := range map[string]RateClass{"identity": c.RateLimit.Identity, "address": c.RateLimit.Address} {
		for name, v := range map[string]int{"reads": rc.Reads, "writes": rc.Writes, "deletes": rc.Deletes} {
			if v < 0 {
				bad("rate_limit."+kind+"."+name+"_per_minute", errors.New("must not be negative"))
			}
		}
	}
	if c.RateLimit.Burst < 0 || c.RateLimit.Burst > time.Hour {
		bad("rate_limit.burst", errors.New("must be between 0 and 1h"))
	}
	if c.RateLimit.MaxKeys < 1 || c.RateLimit.MaxKeys > 10_000_000 {
		bad("rate_limit.max_keys", errors.New("must be between 1 and 10000000"))
	}
	return errs
}
