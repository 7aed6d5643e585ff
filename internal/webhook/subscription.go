// Package webhook delivers Berth's events to HTTP endpoints: subscriptions
// filter by event type, repository and tag; every delivery is a
// CloudEvents 1.0 JSON body signed with HMAC-SHA256 under a
// per-subscription secret; deliveries are queued in the metadata database
// from the outbox relay and retried with exponential backoff; targets on
// internal addresses are refused (docs/webhooks.md).
package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/berth-registry/berth/internal/metadata"
)

// ErrInvalid is wrapped by every refusal of a subscription's fields.
var ErrInvalid = errors.New("invalid webhook")

// Aliases name groups of event types in a subscription's events. Patterns
// ending in .* match every type with that prefix, so types added later
// (gate and quarantine events, quota warnings) flow through unchanged.
var Aliases = map[string][]string{
	"push":       {metadata.EventManifestPushed},
	"delete":     {metadata.EventManifestDeleted, metadata.EventTagDeleted, "manifest.trashed", "tag.trashed"},
	"pull":       {EventPulled},
	"scan":       {"scan.*"},
	"quarantine": {"quarantine.*", "gate.*"},
	"quota":      {"quota.*"},
	"retention":  {metadata.EventRetentionRun},
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	patternRE = regexp.MustCompile(`^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$`)
)

// Limits on what a subscription holds.
const (
	maxEvents     = 64
	maxRegex      = 1024
	minSecret     = 16
	maxSecret     = 256
	secretEntropy = 32
)

// ValidName reports whether s may name a webhook (it is a path segment).
func ValidName(s string) bool { return nameRE.MatchString(s) }

// NewSecret returns a random secret of 256 bits.
func NewSecret() string {
	b := make([]byte, secretEntropy)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

// Validate checks w's fields (not its URL's reachability: Guard does).
func Validate(w metadata.Webhook) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if !ValidName(w.Name) {
		bad("name %q: want 1-63 lowercase letters, digits, '.', '_' or '-'", w.Name)
	}
	if _, err := ParseURL(w.URL); err != nil {
		errs = append(errs, err)
	}
	if n := len(w.Secret); n < minSecret || n > maxSecret {
		bad("secret: want %d to %d bytes", minSecret, maxSecret)
	}
	if len(w.Events) > maxEvents {
		bad("more than %d event types", maxEvents)
	}
	for _, e := range w.Events {
		if _, ok := Aliases[e]; !ok && !patternRE.MatchString(e) {
			bad("event type %q: want an alias (push, delete, pull, scan, quarantine, quota, retention), a type such as manifest.pushed, a prefix such as scan.*, or *", e)
		}
	}
	for _, f := range []struct{ key, re string }{{"repositoryRegex", w.RepoRegex}, {"tagRegex", w.TagRegex}} {
		if len(f.re) > maxRegex {
			bad("%s longer than %d bytes", f.key, maxRegex)
		} else if _, err := compile(f.re); err != nil {
			bad("%s: %v", f.key, err)
		}
	}
	return errors.Join(errs...)
}

// compile anchors re: a filter matches whole names, as a user expects
// "team/.*" to mean repositories under team/ and not "x/team/y".
func compile(re string) (*regexp.Regexp, error) {
	if re == "" {
		return nil, nil
	}
	// Compiled alone first: "a)|(b" would compile once wrapped, unanchored.
	if _, err := regexp.Compile(re); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + re + `)$`)
}

// filter is a compiled subscription.
type filter struct {
	types     []string // expanded patterns; empty matches all
	repo, tag *regexp.Regexp
	pulls     bool
}

func newFilter(w metadata.Webhook) (*filter, error) {
	f := &filter{pulls: w.IncludePulls}
	for _, e := range w.Events {
		if a, ok := Aliases[e]; ok {
			f.types = append(f.types, a...)
		} else {
			f.types = append(f.types, e)
		}
	}
	var err error
	if f.repo, err = compile(w.RepoRegex); err != nil {
		return nil, fmt.Errorf("%w: repositoryRegex: %w", ErrInvalid, err)
	}
	if f.tag, err = compile(w.TagRegex); err != nil {
		return nil, fmt.Errorf("%w: tagRegex: %w", ErrInvalid, err)
	}
	return f, nil
}

// matches reports whether e goes to the subscription. Pulls go only to
// subscriptions that include them. The repository and tag filters apply
// to events in a repository; an event outside any (a retention run, a GC)
// passes only when no repository filter is set. A tag filter refuses
// repository events without a tag (a push by digest).
func (f *filter) matches(e metadata.Event) bool {
	if e.Type == EventPulled && !f.pulls {
		return false
	}
	if !f.typeMatches(e.Type) {
		return false
	}
	if e.Repo == "" {
		return f.repo == nil
	}
	if f.repo != nil && !f.repo.MatchString(e.Repo) {
		return false
	}
	return f.tag == nil || (e.Tag != "" && f.tag.MatchString(e.Tag))
}

func (f *filter) typeMatches(t string) bool {
	if len(f.types) == 0 {
		return true
	}
	for _, p := range f.types {
		if p == "*" || p == t {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(t, prefix) {
			return true
		}
	}
	// Pulls come only when asked for: include_pulls alone is enough.
	return t == EventPulled
}
