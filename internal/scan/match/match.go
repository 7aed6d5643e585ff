package match

import (
	"fmt"
	"cmp"
	"slices"
	"sync/atomic"

	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// FixStatus says whether a fixed version exists.
type FixStatus string

// The fix statuses.
const (
	Fixed    FixStatus = "fixed"
	NotFixed FixStatus = "not-fixed"
)

// Finding is one advisory affecting one installed package.
type Finding struct {
	ID         string          `json:"id"`
	Aliases    []string        `json:"aliases,omitempty"`
	Summary    string          `json:"summary,omitempty"`
	Details    string          `json:"details,omitempty"`
	Severity   vulndb.Severity `json:"severity"`
	CVSSScore  float64         `json:"cvssScore,omitempty"`
	CVSSVector string          `json:"cvssVector,omitempty"`
	References []string        `json:"references,omitempty"`
	// Package is the installed package's name (the binary package for a
	// distribution; Source names the source package advisories use).
	Package          string              `json:"package"`
	Source           string              `json:"source,omitempty"`
	Ecosystem        inventory.Ecosystem `json:"ecosystem"`
	PURL             string              `json:"purl"`
	InstalledVersion string              `json:"installedVersion"`
	// FixedVersions are the fixed versions above the installed one, in
	// the advisory's range order, lowest first within a range.
	FixedVersions []string  `json:"fixedVersions,omitempty"`
	FixStatus     FixStatus `json:"fixStatus"`
	Layer         string    `json:"layer,omitempty"`
	Path          string    `json:"path,omitempty"`
	DBVersion     string    `json:"dbVersion"`
}

// Result is a match with the notes on what could not be matched.
type Result struct {
	Findings []Finding
	// Notes name packages or advisory ranges that were skipped because a
	// version did not parse or the ecosystem is not supported (capped).
	Notes []string
}

const maxNotes = 100

// Match returns the findings of inv against db, most severe first.
func Match(inv *inventory.Inventory, db *vulndb.DB) []Finding {
	return Run(inv, db).Findings
}

// Run is Match with notes. It never fails: what cannot be compared is
// skipped and noted, never reported as affected or as clean.
func Run(inv *inventory.Inventory, db *vulndb.DB) Result {
	return New(db).Run(inv)
}

// Matcher matches inventories against one snapshot, remembering the ranges
// it has parsed: re-matching thousands of stored inventories after a
// database update parses each advisory range once, not once per image. It is
// safe for concurrent use.
type Matcher struct {
	db *vulndb.DB
	// ranges holds each range parsed, by Range.Seq; filled on first use.
	ranges []atomic.Pointer[parsedRange]
}

// New returns a Matcher for db (which may be nil: nothing matches).
func New(db *vulndb.DB) *Matcher {
	m := &Matcher{db: db}
	if db != nil {
		m.ranges = make([]atomic.Pointer[parsedRange], db.Ranges())
	}
	return m
}

// Run matches inv. See the package Run.
func (mt *Matcher) Run(inv *inventory.Inventory) Result {
	var r Result
	if inv == nil || mt == nil || mt.db == nil {
		return r
	}
	m := matcher{Matcher: mt, db: mt.db, res: &r, seen: map[dedupKey]bool{}}
	for i := range inv.Packages {
		m.pkg(&inv.Packages[i], inv.OS)
	}
	r.Findings = sorted(r.Findings)
	return r
}

// dedupKey is one advisory for one installed package (name and version,
// so the same module in two binaries is reported once).
type dedupKey struct {
	adv           *vulndb.Advisory
	name, version string
}

// matcher is the state of one Run.
type matcher struct {
	*Matcher
	db   *vulndb.DB
	res  *Result
	seen map[dedupKey]bool
}

func (m *matcher) note(format string, args ...any) {
	if len(m.res.Notes) < maxNotes {
		m.res.Notes = append(m.res.Notes, fmt.Sprintf(format, args...))
	}
}

func (m *matcher) pkg(p *inventory.Package, o inventory.OS) {
	t, why := targetOf(p, o)
	if why != "" {
		m.note("%s: %s", p.PURL, why)
		return
	}
	cands := m.db.Lookup(t.ecosystem, t.name)
	if len(cands) == 0 {
		return
	}
	parse := orders[t.ecosystem]
	if parse == nil {
		m.note("%s: no version order for ecosystem %s", p.PURL, t.ecosystem)
		return
	}
	installed, err := parse(t.version)
	if err != nil {
		m.note("%s: installed version not comparable: %v", p.PURL, err)
		return
	}
	for _, c := range cands {
		if t.release != nil && !t.release(c.Affected.Release) {
			continue
		}
		k := dedupKey{c.Advisory, p.Name, p.Version}
		if m.seen[k] {
			continue
		}
		hit, fixed := m.affected(installed, t.version, c, parse)
		if !hit {
			continue
		}
		m.seen[k] = true
		m.res.Findings = append(m.res.Findings, finding(p, t, c.Advisory, fixed, m.db.Version()))
	}
}

// sorted orders findings most severe first, then by id and package. It
// sorts small keys and permutes once: Finding is large and full of
// pointers, and swapping it in place was a tenth of a re-match.
func sorted(fs []Finding) []Finding {
	if len(fs) < 2 {
		return fs
	}
	idx := make([]int32, len(fs))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(i, j int32) int {
		a, b := &fs[i], &fs[j]
		if c := cmp.Compare(b.Severity.Rank(), a.Severity.Rank()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return cmp.Compare(a.Package, b.Package)
	})
	out := make([]Finding, len(fs))
	for i, j := range idx {
		out[i] = fs[j]
	}
	return out
}

func finding(p *inventory.Package, t target, a *vulndb.Advisory, fixed []string, dbv string) Finding {
	f := Finding{
		ID: a.ID, Aliases: a.Aliases, Summary: a.Summary, Details: a.Details,
		Severity: a.Severity, CVSSScore: a.CVSSScore, CVSSVector: a.CVSSVector,
		References: a.References,
		Package:    p.Name, Ecosystem: p.Ecosystem, PURL: p.PURL,
		InstalledVersion: p.Version, FixedVersions: fixed, FixStatus: NotFixed,
		Layer: string(p.Layer), Path: p.Path, DBVersion: dbv,
	}
	if f.Severity == "" {
		f.Severity = vulndb.SeverityUnknown
	}
	if t.name != p.Name {
		f.Source = t.name
	}
	if len(fixed) > 0 {
		f.FixStatus = Fixed
	}
	return f
}
