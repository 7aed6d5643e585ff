package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/internal/access/authz"
	"github.com/berth-registry/berth/internal/access/netrule"
)

// Auth configures authentication and authorization (docs/access.md).
type Auth struct {
	// Enabled requires credentials: accounts from `berth user`, Basic or
	// registry tokens.
	Enabled bool `yaml:"enabled"`
	// AllowAnonymous lets the server listen on a non-loopback address
	// with authentication disabled. Without it, serve refuses to.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// AnonymousRead lists repository patterns anyone may pull.
	AnonymousRead List `yaml:"anonymous_read"`
	// TokenTTL is the lifetime of registry tokens from /token.
	TokenTTL time.Duration `yaml:"token_ttl"`
	// RefreshTokenTTL is the lifetime of refresh tokens (docker's
	// identity tokens); 0 means 30 days.
	RefreshTokenTTL time.Duration `yaml:"refresh_token_ttl"`
	// Realm is the token endpoint URL put in challenges; empty means
	// <scheme>://<Host of the request>/token.
	Realm string `yaml:"realm"`
	// Service is the service name in challenges and the token audience.
	Service string `yaml:"service"`
	// OIDC configures login through an OpenID Connect issuer.
	OIDC OIDC `yaml:"oidc"`
}

// OIDC names an OpenID Connect issuer whose users log in to Berth
// (docs/access.md#oidc-login). An empty Issuer turns it off.
type OIDC struct {
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// ClientSecretFile holds the client secret of a confidential client.
	ClientSecretFile string `yaml:"client_secret_file"`
	// UsernameClaim picks the account: email, preferred_username or sub.
	UsernameClaim string `yaml:"username_claim"`
	// RedirectURL is the browser callback (<external URL>/auth/oidc/callback).
	RedirectURL string `yaml:"redirect_url"`
}

// Network holds the client-address rules applied before authentication.
type Network struct {
	DefaultAction  string `yaml:"default_action"`
	Allow          List   `yaml:"allow"`
	Deny           List   `yaml:"deny"`
	TrustedProxies List   `yaml:"trusted_proxies"`
}

// Spec is the rules in the form package netrule parses.
func (n Network) Spec() netrule.Spec {
	return netrule.Spec{DefaultAction: n.DefaultAction, Allow: n.Allow.Items(),
		Deny: n.Deny.Items(), TrustedProxies: n.TrustedProxies.Items()}
}

// List is a list of strings kept as one comma-separated string, so that
// a Config stays a comparable, immutable value. YAML takes a sequence or
// a comma-separated scalar; environment variables and flags the latter.
type List string

// Items returns the entries, trimmed, without empty ones.
func (l List) Items() []string {
	var out []string
	for s := range strings.SplitSeq(string(l), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// UnmarshalYAML accepts a sequence of scalars or one scalar.
func (l *List) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = List(n.Value)
		return nil
	case yaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || strings.Contains(c.Value, ",") {
				return fmt.Errorf("line %d: want a list of plain values", c.Line)
			}
			items = append(items, c.Value)
		}
		*l = List(strings.Join(items, ","))
		return nil
	}
	return fmt.Errorf("line %d: want a list", n.Line)
}

func list(name, usage string, field func(*Config) *List) Key {
	return Key{Name: name, Usage: usage, Type: "list",
		set: func(c *Config, v string) error { *field(c) = List(v); return nil },
		get: func(c Config) string { return string(*field(&c)) },
	}
}

func accessKeys() []Key {
	return []Key{
		boolean("auth.enabled", "require credentials (users from berth user, registry tokens)", func(c *Config) *bool { return &c.Auth.Enabled }),
		boolean("auth.allow_anonymous", "allow listening on a non-loopback address without authentication", func(c *Config) *bool { return &c.Auth.AllowAnonymous }),
		list("auth.anonymous_read", "repository patterns anyone may pull, comma-separated, e.g. public/*", func(c *Config) *List { return &c.Auth.AnonymousRead }),
		duration("auth.token_ttl", "lifetime of registry tokens issued by /token", func(c *Config) *time.Duration { return &c.Auth.TokenTTL }),
		duration("auth.refresh_token_ttl", "lifetime of refresh tokens (docker identity tokens) issued by /token; 0s means 720h", func(c *Config) *time.Duration { return &c.Auth.RefreshTokenTTL }),
		str("auth.realm", "token endpoint URL in challenges (default <scheme>://<request host>/token)", func(c *Config) *string { return &c.Auth.Realm }),
		str("auth.service", "service name in challenges and the token audience", func(c *Config) *string { return &c.Auth.Service }),
		str("auth.oidc.issuer", "OpenID Connect issuer URL whose users may log in (empty: off)", func(c *Config) *string { return &c.Auth.OIDC.Issuer }),
		str("auth.oidc.client_id", "client ID registered with the OIDC issuer", func(c *Config) *string { return &c.Auth.OIDC.ClientID }),
		str("auth.oidc.client_secret_file", "file holding the OIDC client secret (empty: a public client with PKCE)", func(c *Config) *string { return &c.Auth.OIDC.ClientSecretFile }),
		str("auth.oidc.username_claim", "ID token claim naming the Berth account: email, preferred_username or sub", func(c *Config) *string { return &c.Auth.OIDC.UsernameClaim }),
		str("auth.oidc.redirect_url", "browser login callback URL registered with the issuer, <external URL>/auth/oidc/callback", func(c *Config) *string { return &c.Auth.OIDC.RedirectURL }),
		str("network.default_action", "allow or deny clients matched by neither network.allow nor network.deny", func(c *Config) *string { return &c.Network.DefaultAction }),
		list("network.allow", "client CIDR prefixes or addresses admitted, comma-separated", func(c *Config) *List { return &c.Network.Allow }),
		list("network.deny", "client CIDR prefixes or addresses refused, comma-separated", func(c *Config) *List { return &c.Network.Deny }),
		list("network.trusted_proxies", "proxies whose X-Forwarded-For/Forwarded headers are believed", func(c *Config) *List { return &c.Network.TrustedProxies }),
	}
}

// validateAccess checks the auth and network keys, and refuses to serve
// a non-loopback address to anonymous clients unless told to.
func (c Config) validateAccess() []error {
	var errs []error
	bad := func(key string, err error) { errs = append(errs, &FieldError{Key: key, Err: err}) }
	for _, p := range c.Auth.AnonymousRead.Items() {
		if err := authz.ValidPattern(p); err != nil {
			bad("auth.anonymous_read", err)
		}
	}
	if c.Auth.TokenTTL < time.Minute || c.Auth.TokenTTL > time.Hour {
		bad("auth.token_ttl", errors.New("must be between 1m and 1h"))
	}
	if d := c.Auth.RefreshTokenTTL; d != 0 && (d < time.Hour || d > 90*24*time.Hour) {
		bad("auth.refresh_token_ttl", errors.New("must be 0s (720h) or between 1h and 2160h"))
	}
	if c.Auth.Service == "" || strings.ContainsAny(c.Auth.Service, "\"\\ ") {
		bad("auth.service", errors.New("must be a non-empty name without spaces or quotes"))
	}
	if r := c.Auth.Realm; r != "" && !strings.HasPrefix(r, "http://") && !strings.HasPrefix(r, "https://") {
		bad("auth.realm", fmt.Errorf("want an http:// or https:// URL, got %q", r))
	}
	errs = append(errs, c.Auth.OIDC.validate()...)
	if _, err := c.Network.Spec().Rules(); err != nil {
		bad("network", err)
	}
	if !c.Auth.Enabled && !c.Auth.AllowAnonymous && !loopbackListen(c.Listen) {
		bad("listen", fmt.Errorf("%s is not a loopback address and authentication is off, so anyone who reaches it "+
			"could push and delete; enable authentication (--auth-enabled, BERTH_AUTH_ENABLED=true or auth.enabled: true) "+
			"or accept anonymous access explicitly (--allow-anonymous)", c.Listen))
	}
	return errs
}

// loopbackListen reports whether addr binds only loopback interfaces. An
// empty host or a name other than localhost binds more, or might.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true // validListen reports it
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// validate checks the OIDC keys when an issuer is set: HTTPS, or HTTP on
// a loopback host (a test issuer); a client ID; a known claim.
func (o OIDC) validate() []error {
	var errs []error
	bad := func(key string, err error) { errs = append(errs, &FieldError{Key: key, Err: err}) }
	switch o.UsernameClaim {
	case "", "email", "preferred_username", "sub":
	default:
		bad("auth.oidc.username_claim", fmt.Errorf("%q: want email, preferred_username or sub", o.UsernameClaim))
	}
	if o.Issuer == "" {
		return errs
	}
	u, err := url.Parse(o.Issuer)
	switch {
	case err != nil || u.Host == "":
		bad("auth.oidc.issuer", fmt.Errorf("%q is not a URL", o.Issuer))
	case u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname())):
		bad("auth.oidc.issuer", fmt.Errorf("%q: want https:// (http:// only on a loopback address)", o.Issuer))
	}
	if o.ClientID == "" {
		bad("auth.oidc.client_id", errors.New("required with auth.oidc.issuer"))
	}
	return errs
}

func loopbackHost(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "localhost" || (err == nil && ip.IsLoopback())
}
