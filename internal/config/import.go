package config

import "net/netip"

// Import configures server-side imports, POST /api/v1/import
// (docs/fleet.md#importing-into-berth).
type Import struct {
	// AllowCIDRs lists prefixes import sources may be on although they
	// are loopback, private or link-local (a registry on the same
	// network); the same rule as webhooks.allow_cidrs.
	AllowCIDRs List `yaml:"allow_cidrs"`
}

func importKeys() []Key {
	return []Key{
		list("import.allow_cidrs", "loopback, private or link-local prefixes import sources may nevertheless be on, comma-separated", func(c *Config) *List { return &c.Import.AllowCIDRs }),
	}
}

// AllowPrefixes parses AllowCIDRs as webhooks.allow_cidrs is parsed.
func (i Import) AllowPrefixes() ([]netip.Prefix, error) {
	return Webhooks{AllowCIDRs: i.AllowCIDRs}.AllowPrefixes()
}

// validateImport checks the import keys.
func (c Config) validateImport() []error {
	if _, err := c.Import.AllowPrefixes(); err != nil {
		return []error{&FieldError{Key: "import.allow_cidrs", Err: err}}
	}
	return nil
}
