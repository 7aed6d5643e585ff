package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/remote"
)

// maxConfig bounds a fleet file.
const maxConfig = 4 << 20

// Config is a fleet file: the registries one purge covers, each with its
// policies (the rules of berth policy create --file). See docs/fleet.md.
type Config struct {
	// Concurrency is the default deletions in flight per registry.
	Concurrency int              `yaml:"concurrency"`
	Registries  []RegistryConfig `yaml:"registries"`
}

// RegistryConfig is one registry of a fleet file.
type RegistryConfig struct {
	URL  string `yaml:"url"`
	Kind string `yaml:"kind"`
	// DeleteMode forces untag or digest; empty probes.
	DeleteMode      string             `yaml:"deleteMode"`
	Credentials     CredentialsConfig  `yaml:"credentials"`
	Concurrency     int                `yaml:"concurrency"`
	AllowCollateral bool               `yaml:"allowCollateral"`
	Force           bool               `yaml:"force"`
	Policies        []retention.Policy `yaml:"policies"`
}

// CredentialsConfig names where a registry's secret is, rather than
// holding it: environment variables or a Docker config file. Password is
// accepted inline for those who want it, never required.
type CredentialsConfig struct {
	UsernameEnv  string `yaml:"usernameEnv"`
	PasswordEnv  string `yaml:"passwordEnv"`
	DockerConfig string `yaml:"dockerConfig"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
}

// Lookup is the credential lookup the entry describes.
func (c CredentialsConfig) Lookup() remote.CredentialLookup {
	return remote.CredentialLookup{Username: c.Username, Password: c.Password,
		UsernameEnv: c.UsernameEnv, PasswordEnv: c.PasswordEnv, DockerConfig: c.DockerConfig}
}

// LoadConfig decodes a fleet file strictly (unknown keys are errors) and
// validates it, reporting every problem.
func LoadConfig(r io.Reader) (*Config, error) {
	dec := yaml.NewDecoder(io.LimitReader(r, maxConfig))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("reading fleet file: %w", err)
	}
	return &c, c.Validate()
}

// Validate reports every problem with c, joined.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Registries) == 0 {
		errs = append(errs, errors.New("registries: none listed"))
	}
	if c.Concurrency < 0 || c.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("concurrency: want 1 to %d", MaxConcurrency))
	}
	for i, r := range c.Registries {
		at := fmt.Sprintf("registries[%d]", i)
		if r.URL == "" {
			errs = append(errs, fmt.Errorf("%s.url: required", at))
		}
		switch r.Kind {
		case KindAuto, KindBerth, KindACR, KindOCI:
		default:
			errs = append(errs, fmt.Errorf("%s.kind: want berth, acr or oci, got %q", at, r.Kind))
		}
		switch remote.DeleteMode(r.DeleteMode) {
		case "", remote.DeleteUntag, remote.DeleteDigest:
		default:
			errs = append(errs, fmt.Errorf("%s.deleteMode: want untag or digest, got %q", at, r.DeleteMode))
		}
		if r.Concurrency < 0 || r.Concurrency > MaxConcurrency {
			errs = append(errs, fmt.Errorf("%s.concurrency: want 1 to %d", at, MaxConcurrency))
		}
		if r.Credentials.UsernameEnv != "" && r.Credentials.PasswordEnv == "" {
			errs = append(errs, fmt.Errorf("%s.credentials: usernameEnv needs passwordEnv", at))
		}
		if len(r.Policies) == 0 {
			errs = append(errs, fmt.Errorf("%s.policies: none listed", at))
		}
		for j := range r.Policies {
			p := &r.Policies[j]
			if err := p.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s.policies[%d]: %w", at, j, err))
			}
			if p.OlderThan == nil && p.MaxTags == nil && p.UntaggedOlderThan == nil {
				errs = append(errs, fmt.Errorf("%s.policies[%d]: no deletion rule (olderThan, maxTags or untaggedOlderThan)", at, j))
			}
		}
	}
	return errors.Join(errs...)
}

// PolicyPlanner plans every policy and merges the plans; a repository two
// policies select is refused, since their verdicts could disagree.
func PolicyPlanner(policies []retention.Policy) Planner {
	return func(ctx context.Context, src Source, now time.Time) (*retention.Plan, error) {
		merged := &retention.Plan{Now: now, Repositories: []retention.RepoPlan{}}
		owner := map[string]string{}
		for i := range policies {
			p := &policies[i]
			name := cmp.Or(p.Name, fmt.Sprintf("policy %d", i+1))
			pp, err := retention.BuildPlan(ctx, src, p, now)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			for _, r := range pp.Repositories {
				if o, ok := owner[r.Name]; ok {
					return nil, fmt.Errorf("repository %s is selected by %s and %s; narrow their repositories", r.Name, o, name)
				}
				owner[r.Name] = name
				merged.Repositories = append(merged.Repositories, r)
			}
		}
		slices.SortFunc(merged.Repositories, func(a, b retention.RepoPlan) int { return strings.Compare(a.Name, b.Name) })
		recount(merged)
		return merged, nil
	}
}
