package vulndb

import (
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// Advisory is one vulnerability, ready for matching.
type Advisory struct {
	ID         string
	Aliases    []string
	Summary    string
	Details    string
	Modified   time.Time
	Published  time.Time
	References []string
	Affected   []Affected
	// Severity is computed once at import (see severityOf); CVSSScore and
	// CVSSVector are zero when it came from a severity word or an alias.
	Severity   Severity
	CVSSScore  float64
	CVSSVector string
	// SeverityFrom names the alias whose severity was borrowed (a Go entry
	// rated through its GHSA alias), empty when the advisory rated itself.
	SeverityFrom string
	// WontFix says the source marks the advisory as one no fix is
	// planned for (Debian urgency unimportant, no-dsa, end-of-life, …).
	WontFix bool
}

// Affected is one package an advisory names.
type Affected struct {
	// Ecosystem is the OSV ecosystem without the release ("Debian").
	Ecosystem string
	// Release is what followed the first ':' ("12", "v3.19", "22.04:LTS").
	Release  string
	Name     string
	PURL     string
	Ranges   []Range
	Versions []string
}

// RangeType is an OSV range type.
type RangeType string

// The OSV range types. GIT ranges name commits, which an image inventory
// does not have, so the matcher ignores them.
const (
	RangeEcosystem RangeType = "ECOSYSTEM"
	RangeSemver    RangeType = "SEMVER"
	RangeGit       RangeType = "GIT"
)

// Range is an OSV range: events in the order the advisory gives them.
type Range struct {
	Type   RangeType
	Events []Event
}

// Event is one OSV range event; exactly one field is set.
type Event struct {
	Introduced   string
	Fixed        string
	LastAffected string
	Limit        string
}

// Candidate is an advisory that names a package, with the entry naming it.
type Candidate struct {
	Advisory *Advisory
	Affected *Affected
}

type pkgKey struct{ ecosystem, name string }

// DB is an immutable snapshot of the database. Its methods are safe for
// concurrent use.
type DB struct {
	version    string
	newest     time.Time
	sources    []SourceStatus
	ecosystems map[string]int
	advisories int
	problems   []string
	index      map[pkgKey]int // → position in pkgs
	pkgs       [][]Candidate
}

// Version identifies the snapshot's content: the newest modified time and a
// hash of every entry (see Builder.Build). Two imports of the same data have
// the same version.
func (db *DB) Version() string { return db.version }

// Len is the number of advisories.
func (db *DB) Len() int { return db.advisories }

// Lookup returns the advisories naming package name in ecosystem, an OSV
// ecosystem base ("Debian", "Go", "PyPI"). The slice is shared: do not
// modify it.
func (db *DB) Lookup(ecosystem, name string) []Candidate {
	_, c := db.LookupPackage(ecosystem, name)
	return c
}

// LookupPackage is Lookup that also returns the package's number in the
// snapshot, from 0 to Packages()-1 (-1 when absent), so a matcher can keep
// per-package state in a slice.
func (db *DB) LookupPackage(ecosystem, name string) (int, []Candidate) {
	i, ok := db.index[pkgKey{ecosystem, NormalizeName(ecosystem, name)}]
	if !ok {
		return -1, nil
	}
	return i, db.pkgs[i]
}

// Packages is the number of distinct (ecosystem, name) in the snapshot.
func (db *DB) Packages() int { return len(db.pkgs) }

// SourceStatus describes what one import source contributed.
type SourceStatus struct {
	// Name is the path given to the importer (or the name given to Add).
	Name string `json:"name"`
	// Entries is the number of advisories kept from this source.
	Entries int `json:"entries"`
	// Withdrawn, Invalid and Duplicates count entries skipped: withdrawn by
	// their database, not parsable or over a cap, or superseded by a newer
	// entry with the same id.
	Withdrawn  int       `json:"withdrawn"`
	Invalid    int       `json:"invalid"`
	Duplicates int       `json:"duplicates"`
	Newest     time.Time `json:"newest"`
}

// Status summarises a snapshot.
type Status struct {
	Version    string         `json:"version"`
	Advisories int            `json:"advisories"`
	Newest     time.Time      `json:"newest"`
	Sources    []SourceStatus `json:"sources"`
	// Ecosystems counts advisories per OSV ecosystem base (an advisory
	// naming two ecosystems counts in both).
	Ecosystems map[string]int `json:"ecosystems"`
	// Problems lists the first skipped entries and why (capped).
	Problems []string `json:"problems,omitempty"`
}

// Status reports what the snapshot holds.
func (db *DB) Status() Status {
	eco := make(map[string]int, len(db.ecosystems))
	for k, v := range db.ecosystems {
		eco[k] = v
	}
	return Status{
		Version:    db.version,
		Advisories: db.advisories,
		Newest:     db.newest,
		Sources:    append([]SourceStatus(nil), db.sources...),
		Ecosystems: eco,
		Problems:   append([]string(nil), db.problems...),
	}
}

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// NormalizeName gives the form a package name is indexed under: PEP 503 for
// PyPI (names are case- and separator-insensitive there), unchanged
// elsewhere (npm, Go, Maven and distribution names are exact).
func NormalizeName(ecosystem, name string) string {
	if ecosystem == "PyPI" {
		return strings.ToLower(pypiSeparators.ReplaceAllString(name, "-"))
	}
	return name
}

// Holder holds the current snapshot; Store swaps it atomically, so a scan
// that loaded a snapshot finishes on it while the next one is imported.
type Holder struct {
	p atomic.Pointer[DB]
}

// Load returns the current snapshot, nil before the first Store.
func (h *Holder) Load() *DB { return h.p.Load() }

// Store makes db the current snapshot and returns the previous one.
func (h *Holder) Store(db *DB) *DB { return h.p.Swap(db) }
