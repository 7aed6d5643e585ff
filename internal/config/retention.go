package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
)

// Retention configures server-side retention policies (docs/retention.md).
type Retention struct {
	// CheckInterval is how often the server looks for policies whose
	// schedule is due; 0 never runs them on a schedule.
	CheckInterval time.Duration `yaml:"check_interval"`
	// Policies are stored at start, replacing stored policies of the same
	// names; policies created through the API are left alone. YAML only.
	Policies Policies `yaml:"policies"`
}

// Policies is the retention.policies list, kept as its JSON encoding so
// that a Config stays a comparable, immutable value; List decodes it.
type Policies string

// UnmarshalYAML decodes a YAML sequence of policies strictly.
func (p *Policies) UnmarshalYAML(n *yaml.Node) error {
	var list []RetentionPolicy
	if err := n.Decode(&list); err != nil {
		return fmt.Errorf("retention.policies: %w", err)
	}
	b, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("retention.policies: %w", err)
	}
	*p = Policies(b)
	return nil
}

// List returns the declared policies.
func (p Policies) List() ([]RetentionPolicy, error) {
	if p == "" {
		return nil, nil
	}
	var list []RetentionPolicy
	if err := json.Unmarshal([]byte(p), &list); err != nil {
		return nil, fmt.Errorf("retention.policies: %w", err)
	}
	return list, nil
}

// RetentionPolicy is one entry of retention.policies.
type RetentionPolicy struct {
	Name string `yaml:"name" json:"name"`
	// Schedule is a cron expression such as "0 3 * * *" or an interval
	// such as 24h, 1d, @every 6h or @daily; empty runs the policy only
	// on demand.
	Schedule string `yaml:"schedule" json:"schedule,omitempty"`
	// Enabled defaults to true.
	Enabled *bool            `yaml:"enabled" json:"enabled,omitempty"`
	Policy  retention.Policy `yaml:"policy" json:"policy"`
}

// IsEnabled reports Enabled, true when unset.
func (p RetentionPolicy) IsEnabled() bool { return p.Enabled == nil || *p.Enabled }

func retentionKeys() []Key {
	return []Key{
		duration("retention.check_interval", "how often the server runs retention policies whose schedule is due; 0 off", func(c *Config) *time.Duration { return &c.Retention.CheckInterval }),
	}
}

// validateRetention checks the retention keys and declared policies'
// rules; schedules are checked when the server stores them.
func (c Config) validateRetention() []error {
	var errs []error
	if c.Retention.CheckInterval < 0 {
		errs = append(errs, &FieldError{Key: "retention.check_interval", Err: errors.New("must not be negative")})
	}
	list, err := c.Retention.Policies.List()
	if err != nil {
		errs = append(errs, &FieldError{Key: "retention.policies", Err: err})
	}
	seen := make(map[string]bool)
	for i, p := range list {
		key := fmt.Sprintf("retention.policies[%d]", i)
		switch {
		case p.Name == "":
			errs = append(errs, &FieldError{Key: key, Err: errors.New("name is required")})
		case seen[p.Name]:
			errs = append(errs, &FieldError{Key: key, Err: fmt.Errorf("name %q is declared twice", p.Name)})
		}
		seen[p.Name] = true
		pol := p.Policy
		pol.Name = p.Name
		if err := pol.Validate(); err != nil {
			errs = append(errs, &FieldError{Key: key, Err: err})
		}
	}
	return errs
}
