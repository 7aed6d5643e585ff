package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Gates is the scan.gates list (docs/scanning.md#gates), kept as its JSON
// encoding so that a Config stays a comparable, immutable value; List
// decodes it. The server validates each gate when it stores it at start.
type Gates string

// Gate is one entry of scan.gates.
type Gate struct {
	Pattern    string `yaml:"pattern" json:"pattern"`
	Quarantine bool   `yaml:"quarantine" json:"quarantine,omitempty"`
	Severity   string `yaml:"severity" json:"severity,omitempty"`
	// Unscanned is allow (fail open, the default) or deny (fail closed).
	Unscanned string `yaml:"unscanned" json:"unscanned,omitempty"`
	// Unknown is the severity UNKNOWN findings count as; empty or none
	// never reaches the threshold.
	Unknown string          `yaml:"unknown" json:"unknown,omitempty"`
	Allow   []GateException `yaml:"allow" json:"allow,omitempty"`
}

// GateException is an entry of a gate's allow list.
type GateException struct {
	ID     string `yaml:"id" json:"id"`
	Reason string `yaml:"reason" json:"reason"`
	// Expires is a date (2026-12-31) or an RFC 3339 time; empty never.
	Expires string `yaml:"expires" json:"expires,omitempty"`
}

// ExpiresAt parses Expires; zero when empty.
func (e GateException) ExpiresAt() (time.Time, error) {
	if e.Expires == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, e.Expires); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, e.Expires)
	if err != nil {
		return time.Time{}, fmt.Errorf("expires %q: want a date (2006-01-02) or an RFC 3339 time", e.Expires)
	}
	return t.UTC(), nil
}

// UnmarshalYAML decodes a YAML sequence of gates strictly.
func (g *Gates) UnmarshalYAML(n *yaml.Node) error {
	var list []Gate
	if err := n.Decode(&list); err != nil {
		return fmt.Errorf("scan.gates: %w", err)
	}
	b, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("scan.gates: %w", err)
	}
	*g = Gates(b)
	return nil
}

// List returns the declared gates.
func (g Gates) List() ([]Gate, error) {
	if g == "" {
		return nil, nil
	}
	var list []Gate
	if err := json.Unmarshal([]byte(g), &list); err != nil {
		return nil, fmt.Errorf("scan.gates: %w", err)
	}
	return list, nil
}

// validateGates checks what can be checked without the gate package:
// patterns present and unique, exceptions named and dated.
func (c Config) validateGates() []error {
	list, err := c.Scan.Gates.List()
	if err != nil {
		return []error{&FieldError{Key: "scan.gates", Err: err}}
	}
	var errs []error
	seen := map[string]bool{}
	for i, g := range list {
		key := fmt.Sprintf("scan.gates[%d]", i)
		switch {
		case g.Pattern == "":
			errs = append(errs, &FieldError{Key: key, Err: errors.New("pattern is required")})
		case seen[g.Pattern]:
			errs = append(errs, &FieldError{Key: key, Err: fmt.Errorf("pattern %q is declared twice", g.Pattern)})
		}
		seen[g.Pattern] = true
		for j, e := range g.Allow {
			ekey := fmt.Sprintf("%s.allow[%d]", key, j)
			if e.ID == "" || e.Reason == "" {
				errs = append(errs, &FieldError{Key: ekey, Err: errors.New("id and reason are required")})
			}
			if _, err := e.ExpiresAt(); err != nil {
				errs = append(errs, &FieldError{Key: ekey, Err: err})
			}
		}
	}
	return errs
}
