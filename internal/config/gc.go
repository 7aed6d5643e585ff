package config

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle/schedule"
)

// GC configures the online garbage collector (docs/gc.md).
type GC struct {
	// GracePeriod is how old an unreferenced blob, or an upload, must be
	// before the collector deletes it.
	GracePeriod time.Duration `yaml:"grace_period"`
	// Interval runs the collector in the server this often; 0 never.
	Interval time.Duration `yaml:"interval"`
	// Schedule runs the collector at the times of a cron expression (or
	// an interval, as in retention schedules); exclusive with Interval.
	Schedule string `yaml:"schedule"`
}

// GCSchedule is when the server collects: gc.schedule, else gc.interval;
// the zero Schedule never.
func (g GC) GCSchedule() (schedule.Schedule, error) {
	if g.Schedule != "" {
		return schedule.Parse(g.Schedule)
	}
	return schedule.Every(g.Interval), nil
}

// Quota configures byte limits on what repositories store.
type Quota struct {
	// Global caps the distinct blob bytes of the whole registry; 0 none.
	Global Size `yaml:"global"`
	// Repositories lists "pattern=size" rules; the first match applies.
	Repositories List `yaml:"repositories"`
	// WarnPercent announces a quota.warning event when a quota's usage
	// crosses this share of it; 0 never.
	WarnPercent int `yaml:"warn_percent"`
}

// QuotaRule is one parsed entry of quota.repositories.
type QuotaRule struct {
	Pattern string
	Limit   Size
}

// Rules parses quota.repositories.
func (q Quota) Rules() ([]QuotaRule, error) {
	var out []QuotaRule
	for _, item := range q.Repositories.Items() {
		pat, sz, ok := strings.Cut(item, "=")
		pat = strings.TrimSpace(pat)
		if !ok || pat == "" {
			return nil, fmt.Errorf("%q: want pattern=size, e.g. team-a/*=10GiB", item)
		}
		if _, err := path.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("%q: bad pattern: %w", item, err)
		}
		limit, err := ParseSize(sz)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		out = append(out, QuotaRule{Pattern: pat, Limit: limit})
	}
	return out, nil
}

func gcKeys() []Key {
	return []Key{
		size("storage.min_free_bytes", "refuse uploads while the blob filesystem has less free space, e.g. 5GiB; 0 off", func(c *Config) *Size { return &c.Storage.MinFreeBytes }),
		duration("gc.grace_period", "age before an unreferenced blob or an upload may be garbage collected", func(c *Config) *time.Duration { return &c.GC.GracePeriod }),
		duration("gc.interval", "run garbage collection in the server this often, e.g. 24h; 0 off", func(c *Config) *time.Duration { return &c.GC.Interval }),
		str("gc.schedule", "run garbage collection in the server at the times of a cron expression in UTC, e.g. '0 4 * * *'; instead of gc.interval", func(c *Config) *string { return &c.GC.Schedule }),
		size("quota.global", "largest total of distinct blob bytes the registry stores; 0 none", func(c *Config) *Size { return &c.Quota.Global }),
		list("quota.repositories", "per-repository byte limits, first match wins, e.g. team-a/*=10GiB,*=1GiB", func(c *Config) *List { return &c.Quota.Repositories }),
		integer("quota.warn_percent", "emit a quota.warning event when a repository's or the global usage crosses this percentage of its quota; 0 off", func(c *Config) *int { return &c.Quota.WarnPercent }),
	}
}

// validateGC checks the gc, quota and watermark keys.
func (c Config) validateGC() []error {
	var errs []error
	if c.GC.GracePeriod < 0 {
		errs = append(errs, &FieldError{Key: "gc.grace_period", Err: errors.New("must not be negative")})
	}
	if c.GC.Interval != 0 && c.GC.Interval < time.Minute {
		errs = append(errs, &FieldError{Key: "gc.interval", Err: errors.New("must be 0 (off) or at least 1m")})
	}
	if c.GC.Schedule != "" {
		if c.GC.Interval != 0 {
			errs = append(errs, &FieldError{Key: "gc.schedule", Err: errors.New("set gc.schedule or gc.interval, not both")})
		} else if _, err := schedule.Parse(c.GC.Schedule); err != nil {
			errs = append(errs, &FieldError{Key: "gc.schedule", Err: err})
		}
	}
	if c.Quota.WarnPercent < 0 || c.Quota.WarnPercent > 100 {
		errs = append(errs, &FieldError{Key: "quota.warn_percent", Err: errors.New("must be between 0 (off) and 100")})
	}
	if _, err := c.Quota.Rules(); err != nil {
		errs = append(errs, &FieldError{Key: "quota.repositories", Err: err})
	}
	return errs
}
