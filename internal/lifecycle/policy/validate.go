package policy

import (
	"encoding/json"
	"fmt"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/lifecycle/schedule"
)

// ValidName reports whether name may name a policy: 1-64 letters, digits,
// '.', '_' or '-', starting with a letter or digit, which keeps names safe
// in URL paths, actors and logs.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return true
}

// Validate checks a policy's name, schedule and rules.
func Validate(name, sched string, p *retention.Policy) error {
	if !ValidName(name) {
		return fmt.Errorf("policy name %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	if _, err := schedule.Parse(sched); err != nil {
		return fmt.Errorf("policy %q: %w", name, err)
	}
	p.Name = name
	return p.Validate()
}

func encode(p *retention.Policy) (json.RawMessage, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding policy: %w", err)
	}
	return raw, nil
}
