package server

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/berth-registry/berth/internal/access/ratelimit"
	"github.com/berth-registry/berth/internal/config"
)

// rateLimits builds the limiters of rate_limit.*, nil when disabled.
// Refusals are not audited: a client hammering past its limit would turn
// every request into an audit row, which is the load being refused; the
// request log and the metrics count them (status 429).
func rateLimits(cfg config.RateLimit, log *slog.Logger) *ratelimit.Limits {
	if !cfg.Enabled {
		return nil
	}
	rates := func(rc config.RateClass) ratelimit.Options {
		return ratelimit.Options{Rates: ratelimit.Rates{ratelimit.Read: rc.Reads, ratelimit.Write: rc.Writes, ratelimit.Delete: rc.Deletes},
			Burst: cfg.Burst, MaxKeys: cfg.MaxKeys}
	}
	return &ratelimit.Limits{
		Address:  ratelimit.New[netip.Addr](rates(cfg.Address)),
		Identity: ratelimit.New[string](rates(cfg.Identity)),
		OnLimit: func(r *http.Request, scope string, c ratelimit.Class, wait time.Duration) {
			log.DebugContext(r.Context(), "rate limited", slog.String("scope", scope),
				slog.String("class", c.String()), slog.Duration("retry_after", wait))
		},
	}
}

// limited puts the rate limits in front of the route's handler; health
// probes and metrics scrapes are never limited.
func (a *access) limited(rt route, h http.Handler) http.Handler {
	if a.limits == nil || rt == routeHealth || rt == routeMetrics {
		return h
	}
	return a.limits.Handler(h)
}
