package retention

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Selector chooses names by regular expressions. Each expression must match
// the whole name ("v1" does not select "v10"). A name is selected when it
// matches any Include (or Include is empty) and no Exclude.
type Selector struct {
	Include []string `json:"include,omitempty" yaml:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty" yaml:"exclude,omitempty"`
}

// Policy is what a retention run does, evaluated per repository.
//
// Protections beat deletions: a tag that is locked, among the Keep newest or
// pulled within PulledWithin is kept whatever OlderThan or MaxTags say.
type Policy struct {
	Name         string   `json:"name,omitempty" yaml:"name,omitempty"`
	Repositories Selector `json:"repositories" yaml:"repositories"`
	// Tags selects the tags the rules apply to; the others are kept and
	// still keep their manifests.
	Tags Selector `json:"tags" yaml:"tags"`

	// Keep is a floor: the Keep newest selected tags by push time are kept,
	// so a repository never drops below Keep selected tags.
	Keep int `json:"keep,omitempty" yaml:"keep,omitempty"`
	// OlderThan deletes selected tags pushed longer ago; nil disables the
	// rule and 0 makes every selected tag eligible (acr purge's --ago 0d).
	OlderThan *Duration `json:"olderThan,omitempty" yaml:"olderThan,omitempty"`
	// MaxTags deletes the oldest selected tags beyond the newest MaxTags;
	// nil disables the rule.
	MaxTags *int `json:"maxTags,omitempty" yaml:"maxTags,omitempty"`
	// UntaggedOlderThan deletes manifests that had no tag when the plan was
	// built and were pushed longer ago; nil disables the rule.
	UntaggedOlderThan *Duration `json:"untaggedOlderThan,omitempty" yaml:"untaggedOlderThan,omitempty"`
	// PulledWithin protects tags and manifests pulled more recently; 0
	// disables the protection.
	PulledWithin Duration `json:"pulledWithin,omitempty" yaml:"pulledWithin,omitempty"`
}

// FieldError names the policy field that is wrong.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Validate reports every problem with p, each as a *FieldError, joined.
func (p *Policy) Validate() error {
	_, err := p.compile()
	return err
}

// compiled is a validated policy with its expressions ready.
type compiled struct {
	*Policy
	repos, tags matcher
	reasons     reasons
}

func (p *Policy) compile() (*compiled, error) {
	var errs []error
	fail := func(field string, err error) { errs = append(errs, &FieldError{Field: field, Err: err}) }

	c := &compiled{Policy: p}
	var err error
	if c.repos, err = p.Repositories.compile("repositories"); err != nil {
		errs = append(errs, err)
	}
	if c.tags, err = p.Tags.compile("tags"); err != nil {
		errs = append(errs, err)
	}
	if p.Keep < 0 {
		fail("keep", fmt.Errorf("must not be negative, got %d", p.Keep))
	}
	if p.MaxTags != nil {
		switch {
		case *p.MaxTags < 0:
			fail("maxTags", fmt.Errorf("must not be negative, got %d", *p.MaxTags))
		case *p.MaxTags < p.Keep:
			fail("maxTags", fmt.Errorf("%d is below keep %d, which would always win", *p.MaxTags, p.Keep))
		}
	}
	for _, d := range []struct {
		field string
		v     *Duration
	}{{"olderThan", p.OlderThan}, {"untaggedOlderThan", p.UntaggedOlderThan}, {"pulledWithin", &p.PulledWithin}} {
		if d.v != nil && *d.v < 0 {
			fail(d.field, fmt.Errorf("must not be negative, got %s", time.Duration(*d.v)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		if p.Name != "" {
			return nil, fmt.Errorf("policy %q: %w", p.Name, err)
		}
		return nil, fmt.Errorf("policy: %w", err)
	}
	c.reasons = newReasons(p)
	return c, nil
}

// matcher is a compiled Selector.
type matcher struct {
	include, exclude []*regexp.Regexp
}

func (s Selector) compile(field string) (matcher, error) {
	var m matcher
	var errs []error
	build := func(kind string, exprs []string) []*regexp.Regexp {
		out := make([]*regexp.Regexp, 0, len(exprs))
		for i, e := range exprs {
			// Compiling e alone first rejects "a)|(b", which would
			// otherwise escape the anchoring group.
			_, err := regexp.Compile(e)
			var re *regexp.Regexp
			if err == nil {
				re, err = regexp.Compile(`^(?:` + e + `)$`)
			}
			if err != nil {
				errs = append(errs, &FieldError{Field: fmt.Sprintf("%s.%s[%d]", field, kind, i), Err: fmt.Errorf("invalid regular expression %q: %w", e, err)})
				continue
			}
			out = append(out, re)
		}
		return out
	}
	m.include = build("include", s.Include)
	m.exclude = build("exclude", s.Exclude)
	return m, errors.Join(errs...)
}

func (m matcher) match(name string) bool {
	ok := len(m.include) == 0
	for _, re := range m.include {
		if re.MatchString(name) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	for _, re := range m.exclude {
		if re.MatchString(name) {
			return false
		}
	}
	return true
}
