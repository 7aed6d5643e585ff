// Package schedule reads when lifecycle jobs (retention policies, garbage
// collection) run: an interval measured from the start of the last run
// ("24h", "1d", "@every 6h", "@hourly", "@daily", "@weekly"), or a
// standard 5-field cron expression ("0 3 * * *", minute hour day-of-month
// month day-of-week) evaluated in UTC unless prefixed "CRON_TZ=<zone> ".
//
// Cron expressions are parsed by github.com/robfig/cron/v3 (its parser
// only; the jobs keep their own loops).
package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
)

// MinInterval is the shortest interval accepted; anything shorter would
// have a scheduler do nothing but start runs.
const MinInterval = time.Second

// Schedule is a parsed schedule; the zero value never runs.
type Schedule struct {
	spec  string
	every time.Duration
	cron  cron.Schedule
}

// Parse reads s; "" is the zero Schedule (on demand only).
func Parse(s string) (Schedule, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return Schedule{}, nil
	case "@hourly":
		return Schedule{spec: s, every: time.Hour}, nil
	case "@daily", "@midnight":
		return Schedule{spec: s, every: 24 * time.Hour}, nil
	case "@weekly":
		return Schedule{spec: s, every: 7 * 24 * time.Hour}, nil
	}
	if isCron(s) {
		c, err := cron.ParseStandard(s)
		if err != nil {
			return Schedule{}, fmt.Errorf("schedule %q: %w", s, err)
		}
		// The parser defaults to the machine's zone; a server's
		// schedule should not move when its container's TZ does.
		if sc, ok := c.(*cron.SpecSchedule); ok && !strings.HasPrefix(s, "CRON_TZ=") && !strings.HasPrefix(s, "TZ=") {
			sc.Location = time.UTC
		}
		return Schedule{spec: s, cron: c}, nil
	}
	d, err := retention.ParseDuration(strings.TrimSpace(strings.TrimPrefix(s, "@every")))
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %q: want a cron expression such as '0 3 * * *', an interval such as 24h, 1d or @every 6h, or @hourly, @daily, @weekly: %w", s, err)
	}
	if time.Duration(d) < MinInterval {
		return Schedule{}, fmt.Errorf("schedule %q: must be at least %s", s, MinInterval)
	}
	return Schedule{spec: s, every: time.Duration(d)}, nil
}

// isCron tells a cron expression from an interval: five fields, or a
// time-zone prefix.
func isCron(s string) bool {
	return strings.HasPrefix(s, "CRON_TZ=") || strings.HasPrefix(s, "TZ=") || len(strings.Fields(s)) == 5
}

// IsZero reports whether the schedule never runs.
func (s Schedule) IsZero() bool { return s.every == 0 && s.cron == nil }

// IsCron reports whether s is a cron expression rather than an interval.
func (s Schedule) IsCron() bool { return s.cron != nil }

// String returns the schedule as given.
func (s Schedule) String() string { return s.spec }

// Next returns when a run is due after one that started at last: for an
// interval, last plus the interval (the zero time, at once, if there was
// no run); for cron, the first matching minute after last. Callers check
// IsZero first: the zero Schedule has no next run.
func (s Schedule) Next(last time.Time) time.Time {
	switch {
	case s.cron != nil:
		return s.cron.Next(last)
	case last.IsZero():
		return time.Time{}
	default:
		return last.Add(s.every)
	}
}

// Due reports whether a run is due at now, given the start of the last
// run (zero if none) and since, when the schedule was set: a cron
// schedule never run fires at its first time after since, not at once.
func (s Schedule) Due(last, since, now time.Time) bool {
	if s.IsZero() {
		return false
	}
	if s.cron != nil && last.IsZero() {
		last = since
	}
	return !now.Before(s.Next(last))
}

// Every returns the schedule of a run every d (0: never).
func Every(d time.Duration) Schedule {
	if d <= 0 {
		return Schedule{}
	}
	return Schedule{spec: d.String(), every: d}
}
