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
	// OnPush scans every pushed manifest; off, images are scanned only on
	// demand (a rescan), and the stored ones re-matched on a new database.
	OnPush bool `yaml:"on_push"`
	// AttachSBOM, when set (cyclonedx or spdx), stores each complete
	// scan's inventory as an SBOM artifact whose subject is the image.
	AttachSBOM string `yaml:"attach_sbom"`
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
		boolean("scan.on_push", "scan every pushed manifest; false: only on demand (rescan)", func(c *Config) *bool { return &c.Scan.OnPush }),
		str("scan.attach_sbom", "attach each complete scan's SBOM to the image as a referrer: cyclonedx, spdx, or empty for none", func(c *Config) *string { return &c.Scan.AttachSBOM }),
	}
}

// validateScan checks the scan keys. Database paths are checked when the
// server loads them, with the import's own error.
func (c Config) validateScan() []error {
	var errs []error
	if c.Scan.Workers < 1 || c.Scan.Workers > maxScanWorkers {
		errs = append(errs, &FieldError{Key: "scan.workers", Err: fmt.Errorf("must be between 1 and %d", maxScanWorkers)})
	}
	switch c.Scan.AttachSBOM {
	case "", "cyclonedx", "spdx":
	default:
		errs = append(errs, &FieldError{Key: "scan.attach_sbom", Err: fmt.Errorf("%q: want cyclonedx, spdx or empty", c.Scan.AttachSBOM)})
	}
	return append(errs, c.validateGates()...)
}
