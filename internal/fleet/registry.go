// Package fleet runs the retention engine against many registries: Berth
// servers through their /api/v1, Azure Container Registry through its
// metadata API, and any other OCI registry through the distribution API
// alone. It decides per registry where tag times come from and how a tag
// is deleted, and turns what a registry cannot do (untag without deleting
// the manifest) into plan rows a person can read before anything goes.
package fleet

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/remote"
)

// Kinds of registry.
const (
	KindAuto  = ""
	KindBerth = "berth"
	KindACR   = "acr"
	KindOCI   = "oci"
)

// Source is what a purge needs of a registry.
type Source interface {
	retention.Source
	retention.Deleter
	retention.Checker
}

// Registry is one opened registry.
type Registry struct {
	// URL is the base URL, with the scheme filled in.
	URL    string
	Kind   string
	Client *remote.Client
	Source Source
	// Times says where tag times come from.
	Times string
	// Mode is how tags are deleted.
	Mode remote.DeleteMode
	// CredentialFrom says where the credential came from.
	CredentialFrom string
	generic        *remote.RegistrySource
}

// Unusable counts tags whose time cannot order them; only registries
// whose times come from image configs have any.
func (r *Registry) Unusable() int {
	if r.generic == nil {
		return 0
	}
	return r.generic.Unusable()
}

// Target says how to reach a registry.
type Target struct {
	// URL is http(s)://host[:port] or a bare host, which means https.
	URL  string
	Kind string
	// Mode forces a delete mode; "" probes (Berth and ACR are known).
	Mode        remote.DeleteMode
	Credentials remote.CredentialLookup
	// Options tune the HTTP client; Credential is filled in by Open.
	Options remote.Options
	// Concurrency bounds metadata reads per repository; 0 means 8.
	Concurrency int
	// IncludeLocked plans items locked on their own on a Berth server and
	// clears their locks just before deleting them (berth purge
	// --include-locked).
	IncludeLocked bool
}

// NormalizeURL adds https:// to a bare host and drops a trailing slash.
func NormalizeURL(s string) string {
	s = strings.TrimSuffix(s, "/")
	if !strings.Contains(s, "://") {
		return "https://" + s
	}
	return s
}

// Open resolves credentials, finds out what kind of registry t is and
// builds the source for it. Nothing is deleted, but a registry whose delete
// mode is unknown gets one DELETE of a tag that does not exist.
func Open(ctx context.Context, t Target) (*Registry, error) {
	base := NormalizeURL(t.URL)
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("registry %q: %w", t.URL, err)
	}
	cred, from, err := remote.ResolveCredential(ctx, u.Host, t.Credentials)
	if err != nil {
		return nil, err
	}
	opts := t.Options
	opts.Credential = cred
	c, err := remote.New(base, opts)
	if err != nil {
		return nil, err
	}
	r := &Registry{URL: c.Base(), Client: c, Kind: t.Kind, CredentialFrom: from}
	if r.Kind == KindAuto {
		r.Kind, err = detect(ctx, c, u.Host)
		if err != nil {
			return nil, fmt.Errorf("registry %s: %w", r.URL, err)
		}
	}
	switch r.Kind {
	case KindBerth:
		r.Source, r.Times, r.Mode = remote.NewSourceWith(c, remote.SourceOptions{IncludeLocked: t.IncludeLocked}), remote.TimesBerth, remote.DeleteUntag
		return r, nil
	case KindACR, KindOCI:
	default:
		return nil, fmt.Errorf("registry %s: unknown kind %q (want berth, acr or oci)", r.URL, r.Kind)
	}
	mode := t.Mode
	if mode == "" && r.Kind == KindACR {
		// ACR untags through DELETE /v2/<name>/manifests/<tag>.
		mode = remote.DeleteUntag
	}
	gs := remote.NewRegistrySource(c, mode, t.Concurrency)
	if r.Kind == KindACR {
		gs.UseACRMetadata()
	}
	r.Source, r.generic, r.Times, r.Mode = gs, gs, gs.TimeSource(), mode
	return r, nil
}

// ResolveMode probes the delete mode on repo when it is not known yet.
func (r *Registry) ResolveMode(ctx context.Context, repo string) error {
	if r.Mode != "" {
		return nil
	}
	m, err := remote.ProbeDeleteMode(ctx, r.Client, repo)
	if err != nil {
		return fmt.Errorf("probing tag deletion on %s: %w", r.URL, err)
	}
	r.Mode = m
	r.generic.SetMode(m)
	return nil
}

// detect tells Berth (it serves /api/v1), ACR (by its host name) and other
// registries apart, in one request at most.
func detect(ctx context.Context, c *remote.Client, host string) (string, error) {
	if strings.HasSuffix(strings.ToLower(strings.Split(host, ":")[0]), ".azurecr.io") {
		return KindACR, nil
	}
	ok, err := c.IsBerth(ctx)
	if err != nil {
		return "", err
	}
	if ok {
		return KindBerth, nil
	}
	return KindOCI, nil
}
