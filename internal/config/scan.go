package config

import (
	"fmt"
)

// Scan configures vulnerability scanning in the server (docs/scanning.md).
type Scan struct {
	// DB lists OSV sources, directories of JSON or osv.dev zips, as
	// berth scan --db takes them; empty disables scanning.
	DB List `yaml:"db"`
	// Workers is how many images are scanned at once.
	Workers int `yaml:"workers"`
	// Gates are stored at start, replacing stored gates of the same
	// patterns (gates.go). YAML only.
	Gates Gates `yaml:"gates"`
}

// maxScanWorkers bounds scan.workers: each worker holds an image's
// inventory and a decompression stream.
const maxScanWorkers = 64

func scanKeys() []Key {
	return []Key{
		list("scan.db", "OSV advisories to scan pushed images against: directories, osv.dev zips or oci://REF artifacts, comma-separated; with no imported zips either, empty disables scanning", func(c *Config) *List { return &c.Scan.DB }),
		integer("scan.workers", "images scanned at once", func(c *Config) *int { return &c.Scan.Workers }),
	}
}

// validateScan checks the scan keys. Database paths are checked when the
// server loads them, with the import's own error.
func (c Config) validateScan() []error {
	var errs []error
	if c.Scan.Workers < 1 || c.Scan.Workers > maxScanWorkers {
		errs = append(errs, &FieldError{Key: "scan.workers", Err: fmt.Errorf("must be between 1 and %d", maxScanWorkers)})
	}
	return append(errs, c.validateGates()...)
}
