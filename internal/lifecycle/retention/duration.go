package retention

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Day is the unit that Go's time package lacks and retention rules need.
const Day = 24 * time.Hour

// Duration is a non-negative age such as "30d", "2d3h6m" or "12h": a whole
// number of days followed by an optional Go duration. It marshals as text so
// that policies read naturally in JSON and YAML.
type Duration time.Duration

// ParseDuration parses an optional "<n>d" prefix followed by an optional
// time.ParseDuration string. Negative ages are refused: a rule about the
// past never needs one.
func ParseDuration(s string) (Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("duration %q: must not be negative", s)
	}
	rest := s
	var total time.Duration
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i > 0 && i < len(rest) && rest[i] == 'd' {
		days, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || days > int64(math.MaxInt64/int64(Day)) {
			return 0, fmt.Errorf("duration %q: too many days", s)
		}
		total = time.Duration(days) * Day
		rest = rest[i+1:]
	}
	if rest != "" {
		if rest[0] == '-' || rest[0] == '+' {
			return 0, fmt.Errorf("duration %q: sign after days", s)
		}
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		if d < 0 {
			return 0, fmt.Errorf("duration %q: must not be negative", s)
		}
		if d > time.Duration(math.MaxInt64)-total {
			return 0, fmt.Errorf("duration %q: too long", s)
		}
		total += d
	}
	return Duration(total), nil
}

// String formats d the way ParseDuration reads it: "30d", "2d3h6m", "12h".
func (d Duration) String() string {
	td := time.Duration(d)
	if td == 0 {
		// "0d" is how acr purge users write "every tag" (--ago 0d).
		return "0d"
	}
	if td < 0 {
		// Only reachable by conversion, never by parsing; say so plainly.
		return td.String()
	}
	var b strings.Builder
	if days := td / Day; days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10))
		b.WriteByte('d')
		td -= days * Day
	}
	if td > 0 {
		s := td.String()
		// time.Duration prints "3h0m0s"; trim the zero tails it adds.
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		b.WriteString(s)
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// age renders how long ago something happened, coarsely, for reasons:
// "3d", "5h", "12m", "40s".
func age(d time.Duration) string {
	switch {
	case d >= Day:
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	case d >= time.Hour:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d < 0:
		return "0s"
	default:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
}
